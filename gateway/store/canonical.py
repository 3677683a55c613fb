"""Canonical JSON and the sha256 links of the hash chains (ledger and operation log).

Canonical means: sorted keys, no spaces, UTF-8 kept as is. Floats are refused everywhere: money,
energy and prices are integers (fen, 0.01 kWh, 0.0001 yuan/kWh), and a float that slipped into a
stored document would make two equal amounts hash differently.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from gateway.store.errors import InvalidValueError

GENESIS = "0" * 64


_SCALARS = frozenset({str, int, bool, type(None)})


def _refuse_floats(value: Any, path: str) -> None:
    # The exact-type checks first: stored documents are mostly flat dicts of str/int, and the
    # abstract Mapping check costs more than the whole scan of such a dict.
    kind = type(value)
    if kind in _SCALARS:
        return
    if kind is dict:
        items = value.items()
    elif isinstance(value, float):
        raise InvalidValueError(f"{path or 'value'} is a float ({value!r}); use integer units")
    elif isinstance(value, Mapping):
        items = value.items()
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if type(item) not in _SCALARS:
                _refuse_floats(item, f"{path}[{index}]")
        return
    else:
        return
    for key, item in items:
        if type(key) is not str:
            raise InvalidValueError(f"{path or 'value'} has a non-text key {key!r}")
        if type(item) not in _SCALARS:
            _refuse_floats(item, f"{path}.{key}" if path else key)


def dumps(value: Any) -> str:
    """Canonical JSON text of ``value`` (mappings, lists, str, int, bool, None)."""
    _refuse_floats(value, "")
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except TypeError as exc:
        raise InvalidValueError(str(exc)) from None


def loads(text: str) -> Any:
    return json.loads(text)


def link(prev_hash: str, payload: Mapping[str, Any]) -> str:
    """The hash of one chained row: sha256(prev_hash + '\\n' + canonical payload)."""
    data = (
        prev_hash
        + "\n"
        + json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    )
    return hashlib.sha256(data.encode("utf-8")).hexdigest()
