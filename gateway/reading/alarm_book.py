"""Turning conditions into alarm records: start, count, end, and tell the cloud.

Runs inside the poll batch's transaction. Conditions about one meter from every source (the
monitor, the wallet enforcement) are merged first, a kind being active when any source says
so, so two sources never end and restart each other's record. Each start and end is one event
on the outbox stream "alarms", written in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gateway.reading import catalogue
from gateway.reading.monitor import Condition
from gateway.store import alarms
from gateway.store.alarms import AlarmRecord, NewAlarm
from gateway.store.conn import Conn
from gateway.sync.outbox import add_event

_MAX_DETAIL = 500


@dataclass(frozen=True, slots=True)
class Subject:
    """Whom the conditions are about."""

    meter_id: int | None
    address: str
    account_id: int | None = None


@dataclass(frozen=True, slots=True)
class AlarmChange:
    record: AlarmRecord
    started: bool  # True: raised now; False: ended now


def merge(conditions: Iterable[Condition]) -> dict[str, Condition]:
    """One condition per kind; active wins, and the active one's value and detail are kept."""
    merged: dict[str, Condition] = {}
    for cond in conditions:
        held = merged.get(cond.kind)
        if held is None or (cond.active and not held.active):
            merged[cond.kind] = cond
    return merged


def apply(
    c: Conn, subject: Subject, conditions: Sequence[Condition], now: dt.datetime
) -> list[AlarmChange]:
    merged = merge(conditions)
    if not merged:
        return []
    active = alarms.active_for(c, subject.address)
    changes: list[AlarmChange] = []
    for name, cond in merged.items():
        if cond.active:
            info = catalogue.kind(name)
            record, started = alarms.raise_or_touch(
                c,
                NewAlarm(
                    meter_address=subject.address,
                    kind=name,
                    category=info.category,
                    code=info.code,
                    severity=info.severity,
                    meter_id=subject.meter_id,
                    account_id=subject.account_id,
                    value=cond.value,
                    detail=cond.detail[:_MAX_DETAIL],
                ),
                now,
            )
            if started:
                changes.append(AlarmChange(record, True))
                _publish(c, record, "raised", now)
        elif name in active:
            record = alarms.end(c, active[name].id, now)
            changes.append(AlarmChange(record, False))
            _publish(c, record, "cleared", now)
    return changes


def _publish(c: Conn, record: AlarmRecord, state: str, now: dt.datetime) -> None:
    payload: dict[str, object] = {
        "alarm_id": str(record.id),
        "kind": record.kind,
        "state": state,
        "severity": str(record.severity),
        "meter": record.meter_address,
        "code": record.code,
        "detail": record.detail,
    }
    if record.account_id is not None:
        payload["account_id"] = str(record.account_id)
    if record.kind in catalogue.MONEY_KINDS and record.value is not None:
        payload["balance_fen"] = record.value
    add_event(c, "alarms", payload, now)


class ActiveAlarms:
    """The active records in memory, for the dashboard and the panel (no I/O to answer)."""

    def __init__(self, records: Iterable[AlarmRecord] = ()) -> None:
        self._by_key: dict[tuple[str, str], AlarmRecord] = {}
        for record in records:
            if record.active:
                self._by_key[(record.meter_address, record.kind)] = record

    def update(self, changes: Iterable[AlarmChange]) -> None:
        for change in changes:
            key = (change.record.meter_address, change.record.kind)
            if change.started:
                self._by_key[key] = change.record
            else:
                self._by_key.pop(key, None)

    def newest(self, limit: int) -> list[AlarmRecord]:
        ordered = sorted(self._by_key.values(), key=lambda r: (r.started_at, r.id), reverse=True)
        return ordered[:limit]

    def of_meter(self, address: str) -> list[AlarmRecord]:
        return [r for (a, _), r in self._by_key.items() if a == address]

    def count(self) -> dict[str, int]:
        counts = {str(cat): 0 for cat in alarms.Category}
        for record in self._by_key.values():
            counts[str(record.category)] += 1
        return counts

    def __len__(self) -> int:
        return len(self._by_key)
