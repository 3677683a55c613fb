"""Exact numbers: money, energy and prices are integers (fen, 0.01 kWh, 0.0001 yuan/kWh).

A float inside a stored document or an MQTT message is always a bug: two equal amounts could
hash or compare differently. The store (canonical JSON) and the MQTT contract both refuse
documents with one, through this one finder.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

# Exact-type checks first: documents are mostly flat dicts of these, and the abstract Mapping
# check costs more than the whole scan of such a dict (this runs inside write transactions).
_PLAIN = frozenset({str, int, bool, type(None)})


class Inexact(NamedTuple):
    """Where the first problem is, and what it is: a float value, or (``key``) a mapping key
    that is not text."""

    path: str
    value: object
    key: bool = False


def find_inexact(value: object, path: str = "", *, text_keys: bool = False) -> Inexact | None:
    """The first float inside ``value`` (or, with ``text_keys``, non-text mapping key), or None.

    Paths join keys with "." and indexes with "[i]" onto ``path`` ("a.b[1]" from "",
    "$.a.b[1]" from "$"). Mappings, lists and tuples are searched; anything else is a leaf.
    """
    if type(value) in _PLAIN:
        return None
    if isinstance(value, float):
        return Inexact(path, value)
    if isinstance(value, Mapping):
        for key, item in value.items():
            if text_keys and type(key) is not str:
                return Inexact(path, key, key=True)
            if type(item) not in _PLAIN:
                where = f"{path}.{key}" if path else str(key)
                found = find_inexact(item, where, text_keys=text_keys)
                if found is not None:
                    return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if type(item) not in _PLAIN:
                found = find_inexact(item, f"{path}[{index}]", text_keys=text_keys)
                if found is not None:
                    return found
    return None
