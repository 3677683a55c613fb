"""Injected time and the one text format every timestamp column uses.

Timestamps are stored as fixed-width ISO 8601 UTC text (``2025-03-01T08:30:00.000000Z``) so that
text order is time order and range queries use the indexes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def system_clock() -> datetime:
    return datetime.now(UTC)


def to_text(moment: datetime) -> str:
    """Aware datetime -> stored text. A naive datetime is a bug (whose local time?)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"timestamp without time zone: {moment!r}")
    return moment.astimezone(UTC).strftime(_FORMAT)


def from_text(text: str) -> datetime:
    return datetime.strptime(text, _FORMAT).replace(tzinfo=UTC)


def compact(moment: datetime) -> str:
    """For file names: ``20250301T083000Z``."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
