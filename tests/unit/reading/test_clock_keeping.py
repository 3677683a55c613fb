"""Clock keeping: the broadcast rules (once a day, not near midnight, small corrections only),
the per-meter correction with the password, and drift tracked as an exception."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from gateway.reading.broadcast import Broadcaster
from gateway.reading.clock_keeping import broadcast_due, drift_seconds, needs_password_set
from gateway.reading.config import ClockConfig, ReadingConfig
from gateway.reading.recorder import Recorder
from gateway.store import alarms, readings
from gateway.typedconfig import ConfigError, from_dict
from tests.unit.reading.support import address, rig

CFG = ClockConfig()
DAY = dt.date(2025, 3, 4)


def at(hh: int, mm: int, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hh, mm))


@pytest.mark.parametrize(
    ("now", "last", "due"),
    [
        (at(3, 29), None, False),  # before the configured time
        (at(3, 30), None, True),
        (at(14, 0), None, True),  # missed at 03:30 (gateway was off): later that day
        (at(14, 0), 20250304, False),  # once per day
        (at(3, 30), 20250303, True),  # yesterday's does not count
        (at(23, 55), 20250303, False),  # quiet window before midnight
        (at(0, 5, dt.date(2025, 3, 5)), 20250304, False),  # ... and after it
        (at(0, 10, dt.date(2025, 3, 5)), 20250304, False),  # not yet 03:30
    ],
)
def test_broadcast_rules(now: dt.datetime, last: int | None, due: bool) -> None:
    assert broadcast_due(now, last, CFG) is due


def test_large_drift_is_set_with_the_password_but_not_near_midnight() -> None:
    assert not needs_password_set(300, CFG, at(12, 0))  # a broadcast may still fix 5 minutes
    assert needs_password_set(301, CFG, at(12, 0))
    assert needs_password_set(-3600, CFG, at(12, 0))
    assert not needs_password_set(3600, CFG, at(23, 51))
    assert not needs_password_set(3600, ClockConfig(set_with_password=False), at(12, 0))
    assert drift_seconds(at(12, 0) + dt.timedelta(seconds=75), at(12, 0).replace(
        microsecond=900_000)) == 75  # fmt: skip


def test_a_broadcast_time_inside_the_quiet_window_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        from_dict(ClockConfig, {"broadcast_at": "23:55"}, "reading.clock")
    assert info.value.key == "reading.clock.broadcast_at"


async def test_drift_is_alarmed_and_a_large_one_set_with_the_password(tmp_path: Path) -> None:
    async with rig(tmp_path, 3) as r:
        r.meters[1].clock_offset = dt.timedelta(minutes=10)  # beyond a broadcast's reach
        r.meters[2].clock_offset = dt.timedelta(seconds=90)  # beyond the alarm, broadcastable
        recorder = Recorder(r.db, r.clock, ReadingConfig())
        poller = r.poller()
        poller._sink = recorder  # the real recorder instead of the rig's list
        await poller.start()
        for _ in range(400):
            await asyncio.sleep(0.01)
            if r.meters[1].clock_offset < dt.timedelta(seconds=2):
                break
        await asyncio.sleep(0.1)
        await poller.flush()
        # Meter 2 was 10 minutes fast: set with 14H date + time, then read back.
        meter2 = next(m.meter_id for m in poller.meters() if m.address == address(2))
        status = await r.db.read(readings.get_status, meter2)
        assert status is not None and status.clock_set_at is not None and status.drift_s == 0
        assert abs(r.meters[1].clock_offset) < dt.timedelta(seconds=2)
        # Meter 3: 90 s off: an exception, no password write (the broadcast will fix it).
        active3 = await r.db.read(alarms.active_for, address(3))
        assert active3["clock_drift"].value == 90
        assert "clock_drift" not in await r.db.read(alarms.active_for, address(2))

        # The daily broadcast, once, at 03:30 the next day; it brings meter 3 back.
        broadcaster = Broadcaster(r.db, r.clock, ReadingConfig().clock, poller)
        r.manual.moment = r.clock.from_local(at(3, 29, dt.date(2025, 3, 5)))
        assert await broadcaster.check() == []
        r.manual.moment = r.clock.from_local(at(3, 30, dt.date(2025, 3, 5)))
        assert await broadcaster.check() == ["b1"]
        assert abs(r.meters[2].clock_offset) < dt.timedelta(seconds=1)
        assert r.sim.stats.requests > 0
        assert await broadcaster.check() == []  # once per day, also after a restart:
        again = Broadcaster(r.db, r.clock, ReadingConfig().clock, poller)
        assert await again.check() == []
        assert await r.db.read(readings.last_broadcast_day, "b1") == 20250305
        meter3 = next(m.meter_id for m in poller.meters() if m.address == address(3))
        r.manual.advance(dt.timedelta(minutes=1))
        result = await poller.read_one(meter3, sets=["clock"])
        assert result.drift_s == 0
        await poller.flush()
        assert "clock_drift" not in await r.db.read(alarms.active_for, address(3))
        await poller.stop()
