"""Save and load a set of virtual meters as one JSON file.

Written to a temporary file, flushed and renamed over the old one, so a kill at any moment
leaves either the previous state or the new one, never half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway.simulator.errors import BadStateFileError
from gateway.simulator.meter import STATE_VERSION, VirtualMeter


def dump(meters: Sequence[VirtualMeter]) -> dict[str, Any]:
    return {"version": STATE_VERSION, "meters": [m.to_dict() for m in meters]}


def restore(data: object, source: str = "state") -> list[VirtualMeter]:
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        raise BadStateFileError(f"{source}: not a simulator state file of version {STATE_VERSION}")
    items = data.get("meters")
    if not isinstance(items, list) or not items:
        raise BadStateFileError(f"{source}: holds no meters")
    meters: list[VirtualMeter] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadStateFileError(f"{source}: meters[{i}] is not an object")
        try:
            meters.append(VirtualMeter.from_dict(item))
        except ValueError as exc:
            raise BadStateFileError(f"{source}: meters[{i}]: {exc}") from None
    addresses = [m.address for m in meters]
    if len(set(addresses)) != len(addresses):
        raise BadStateFileError(f"{source}: two meters share an address")
    return meters


def save(path: Path, meters: Sequence[VirtualMeter]) -> None:
    write(path, dump(meters))


def write(path: Path, data: dict[str, Any]) -> None:
    """Write a ``dump`` atomically (blocking: call it from a thread in async code).

    Each write has its own temporary file, so a periodic save still finishing in its thread
    cannot mix bytes with the final save on exit: whichever is renamed last wins, whole.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def load(path: Path) -> list[VirtualMeter]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadStateFileError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadStateFileError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    return restore(data, str(path))
