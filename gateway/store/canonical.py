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

from gateway.exact import find_inexact
from gateway.store.errors import InvalidValueError

GENESIS = "0" * 64


def _refuse_inexact(value: Any) -> None:
    # Non-text keys too: json.dumps would turn an int key into text, 1 and "1" one key.
    found = find_inexact(value, text_keys=True)
    if found is None:
        return
    where = found.path or "value"
    if found.key:
        raise InvalidValueError(f"{where} has a non-text key {found.value!r}")
    raise InvalidValueError(f"{where} is a float ({found.value!r}); use integer units")


def dumps(value: Any) -> str:
    """Canonical JSON text of ``value`` (mappings, lists, str, int, bool, None)."""
    _refuse_inexact(value)
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
