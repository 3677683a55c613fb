"""What the dashboard shows about the running gateway, from whoever knows it.

The poller, the sync client and the alarm engine belong to other parts of the gateway; they
hand the web a :class:`StatusProvider` (app key ``STATUS``). Until they do, :class:`NoStatus`
answers "unknown", and the dashboard says so instead of inventing numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class MeterCounts:
    online: int
    offline: int
    unknown: int


@dataclass(frozen=True)
class AlarmItem:
    at: datetime
    meter_address: str
    customer_name: str
    kind: str  # a translation key suffix: dashboard.alarm.<kind>
    detail: str = ""


@dataclass(frozen=True)
class SyncState:
    connected: bool
    last_sync: datetime | None
    backlog: int  # events not yet acknowledged by the cloud


class StatusProvider(Protocol):
    """Live state for the dashboard; every method must answer fast (no I/O to meters)."""

    def meter_counts(self) -> MeterCounts | None: ...

    def active_alarms(self, limit: int) -> list[AlarmItem]: ...

    def sync_state(self) -> SyncState | None: ...


class NoStatus:
    """Nothing is reporting yet (poller and sync not wired)."""

    def meter_counts(self) -> MeterCounts | None:
        return None

    def active_alarms(self, limit: int) -> list[AlarmItem]:
        return []

    def sync_state(self) -> SyncState | None:
        return None
