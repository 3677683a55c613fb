"""Alarm records: start, occurrences, end when the condition clears, acknowledgement with the
alarms.ack permission (operation log), queries and export rows, outbox events."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from gateway.permissions import KEYS
from gateway.reading import alarm_book
from gateway.reading.acknowledge import acknowledge
from gateway.reading.alarm_book import ActiveAlarms, Subject
from gateway.reading.errors import AlarmAckError
from gateway.reading.monitor import Condition
from gateway.services.actor import Actor
from gateway.services.errors import ServiceError
from gateway.siteclock import ManualClock
from gateway.store import alarms, auth, oplog
from gateway.store.alarms import AlarmFilter, Category
from gateway.store.conn import Conn
from gateway.store.database import Database
from gateway.store.paging import PageRequest

T0 = dt.datetime(2025, 3, 4, 2, 0, tzinfo=dt.UTC)
METER = Subject(None, "000000000007", None)
CLERK = Actor(1, "operator", KEYS)


def outbox(c: Conn) -> list[dict[str, object]]:
    return [
        json.loads(r[0])
        for r in c.all("SELECT payload FROM outbox WHERE stream = 'alarms' ORDER BY seq")
    ]


async def test_an_alarm_starts_counts_and_ends_with_its_condition(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    db = await Database.open(tmp_path / "a.sqlite", clock=clock)
    view = ActiveAlarms()

    low = Condition("alarm1", True, 1_900, "balance 19.00 yuan")
    changes = await db.write(alarm_book.apply, METER, [low], clock())
    view.update(changes)
    assert [(c.record.kind, c.started) for c in changes] == [("alarm1", True)]
    clock.advance(dt.timedelta(minutes=15))
    # Seen again: no new record, one more occurrence, the latest value.
    again = Condition("alarm1", True, 1_400, "balance 14.00 yuan")
    assert await db.write(alarm_book.apply, METER, [again], clock()) == []
    [record] = (await db.read(alarms.active_for, METER.address)).values()
    assert (record.occurrences, record.value, record.detail) == (2, 1_400, "balance 14.00 yuan")
    # Another source has no evidence about alarm1: nothing ends.
    assert await db.write(alarm_book.apply, METER, [Condition("tamper", False)], clock()) == []
    clock.advance(dt.timedelta(minutes=15))
    ended = await db.write(alarm_book.apply, METER, [Condition("alarm1", False)], clock())
    view.update(ended)
    assert [(c.record.kind, c.started) for c in ended] == [("alarm1", False)]
    assert ended[0].record.ended_at == "2025-03-04T02:30:00.000000Z"
    assert len(view) == 0
    events = await db.read(outbox)
    assert [(e["kind"], e["state"], e.get("balance_fen")) for e in events] == [
        ("alarm1", "raised", 1_900),
        ("alarm1", "cleared", 1_400),
    ]
    assert all(e["code"] == "E180" and e["meter"] == METER.address for e in events)
    # A condition that comes back is a new record with its own start.
    await db.write(alarm_book.apply, METER, [low], clock())
    history = await db.read(alarms.search, AlarmFilter(kinds=("alarm1",)), PageRequest())
    assert len(history.items) == 2
    await db.close()


def test_sources_are_merged_active_wins() -> None:
    merged = alarm_book.merge(
        [Condition("relay_mismatch", False), Condition("relay_mismatch", True, 5, "stuck")]
    )
    assert merged["relay_mismatch"].active and merged["relay_mismatch"].detail == "stuck"


async def test_acknowledge_needs_the_permission_and_is_logged(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    db = await Database.open(tmp_path / "a.sqlite", clock=clock)
    await auth.initialise(db)
    changes = await db.write(
        alarm_book.apply,
        METER,
        [Condition("comm_failure", True, None, "E120 no reply"), Condition("alarm2", True, 900)],
        clock(),
    )
    ids = [c.record.id for c in changes]
    viewer = Actor(1, "viewer", frozenset({"monitoring.view"}))
    with pytest.raises(ServiceError) as denied:
        await acknowledge(db, viewer, ids)
    assert denied.value.code == "E501"
    with pytest.raises(AlarmAckError):
        await acknowledge(db, Actor(None, "cloud", KEYS), ids)
    assert all(
        r.acked_at is None for r in (await db.read(alarms.active_for, METER.address)).values()
    )

    clock.advance(dt.timedelta(minutes=5))
    acked = await acknowledge(db, CLERK, ids, "技术员已派出 technician sent")
    assert all(r.acked_by == 1 and r.acked_at == "2025-03-04T02:05:00.000000Z" for r in acked)
    assert all(r.active for r in acked)  # seen, not ended: the condition decides that
    # A second acknowledgement keeps the first.
    clock.advance(dt.timedelta(minutes=5))
    again = await acknowledge(db, CLERK, ids[:1])
    assert again[0].acked_at == "2025-03-04T02:05:00.000000Z"
    entries = await db.read(
        oplog.query, oplog.OpLogFilter(action_prefix="alarms.ack"), PageRequest()
    )
    assert len(entries.items) == 1
    assert entries.items[0].detail["note"] == "技术员已派出 technician sent"

    rows = await db.read(lambda c: list(alarms.iterate(c, AlarmFilter(acknowledged=True))))
    assert {(r.alarm.kind, r.acked_by_name) for r in rows} == {
        ("comm_failure", "operator"),
        ("alarm2", "operator"),
    }
    exceptions = await db.read(
        alarms.search, AlarmFilter(category=Category.EXCEPTION), PageRequest(with_total=True)
    )
    assert exceptions.total == 1 and exceptions.items[0].alarm.code == "E170"
    await db.close()
