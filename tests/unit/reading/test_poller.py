"""The poller over a real bus to the simulator: schedule, backoff, log-once, preemption,
on-demand reads with progress. Time is moved explicitly."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from pathlib import Path

import pytest

from gateway.dlt645 import Function
from gateway.dlt645.dataids import di_from_wire
from gateway.link.priority import Priority
from gateway.link.trace import Direction, TraceEvent
from gateway.meters.driver import MeterDriver
from gateway.reading.errors import ReadAllBusyError, UnknownMeterError
from gateway.reading.poller import Poller, Progress
from tests.unit.reading.support import Rig, address, rig


async def settle(r: Rig, until: object, what: str) -> None:
    for _ in range(400):
        if callable(until) and until():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def polled(r: Rig, poller: Poller, where: str) -> int:
    return sum(1 for x in [*r.results, *poller._pending] if x.address == where)


async def test_every_meter_is_polled_at_start_and_again_when_due(tmp_path: Path) -> None:
    async with rig(tmp_path, 3) as r:
        poller = r.poller()
        await poller.start()
        await settle(r, lambda: len(r.results) == 0 and len(poller._pending) == 3, "first round")
        await poller.flush()
        assert {x.address for x in r.results} == {address(n) for n in (1, 2, 3)}
        assert all(x.ok and x.values.energy_cwh == 0 for x in r.results)
        assert all(x.drift_s == 0 for x in r.results)  # the first poll reads the clock too
        r.manual.advance(dt.timedelta(minutes=14))
        poller.wake()
        await asyncio.sleep(0.05)
        assert not poller._pending  # nothing due yet
        r.manual.advance(dt.timedelta(minutes=1))
        poller.wake()
        await settle(r, lambda: len(poller._pending) == 3, "second round")
        await poller.flush()
        second = r.results[3:]
        assert all(x.sets == frozenset({"energy", "status"}) for x in second)
        assert all(x.values.energy_cwh == 25 for x in second)  # 1 kW for 15 minutes
        await poller.stop()


async def test_a_silent_meter_is_logged_once_and_backs_off_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with rig(tmp_path, 3) as r:
        poller = r.poller()
        await poller.start()
        await settle(r, lambda: len(poller._pending) == 3, "first round")
        r.meters[1].faults.silent = True
        caplog.set_level(logging.INFO, logger="gateway.reading.poller")
        silent_id = next(m.meter_id for m in poller.meters() if m.address == address(2))
        for step in range(1, 7):  # 15-minute steps: the silent meter fails, then backs off
            r.manual.advance(dt.timedelta(minutes=15))
            poller.wake()
            await settle(
                r,
                lambda n=step: all(polled(r, poller, address(a)) == n + 1 for a in (1, 3)),
                "neighbours polled",
            )
            await asyncio.sleep(0.05)
        await poller.flush()
        tries = [x for x in r.results if x.address == address(2) and not x.ok]
        neighbours = [x for x in r.results if x.address == address(1)]
        assert len(neighbours) == 7  # start + 6 quarter hours: never slowed down
        assert 2 <= len(tries) < 6  # retries thin out (60 s, 120 s, ... capped at 1 h)
        offline = [m for m in caplog.messages if "is offline" in m]
        assert len(offline) == 1 and address(2) in offline[0]
        health = poller.health(silent_id)
        assert health is not None and health.online is False
        r.meters[1].faults.silent = False
        assert health.retry_at is not None
        r.manual.advance(health.retry_at - r.clock.now())
        poller.wake()
        await settle(r, lambda: health.online is True, "recovery")
        assert len([m for m in caplog.messages if "answers again" in m]) == 1
        await poller.stop()


async def test_operator_request_waits_at_most_for_the_frame_in_flight(tmp_path: Path) -> None:
    async with rig(tmp_path, 8, reply_delay_ms=30) as r:
        poller = r.poller()
        frames: list[TraceEvent] = []
        r.bus.trace.add(frames.append)
        waiting: list[int] = []
        r.bus.trace.add(lambda e: waiting.append(r.bus.waiting()[Priority.POLL]))
        await poller.start()
        task = asyncio.create_task(poller.read_all())
        await asyncio.sleep(0.3)  # polling is in full swing
        driver = MeterDriver(r.bus, address(5), clock=r.clock.local_now)
        asked = len([f for f in frames if f.direction is Direction.TX])
        started = time.monotonic()
        value = await driver.read("forward_active_total", priority=Priority.OPERATOR)
        took = time.monotonic() - started
        sent = [f for f in frames if f.direction is Direction.TX]
        mine = next(
            i
            for i, f in enumerate(sent)
            if i >= asked
            and f.frame is not None
            and f.frame.address == address(5)
            and di_from_wire(f.frame.data) == 0x00010000
            and f.frame.function == Function.READ
        )
        assert mine - asked <= 1  # at most the poll already on the wire went first
        assert value is not None and took < 2.0
        assert max(waiting) <= 1  # the poller never queues more than one request per bus
        await task
        await poller.stop()


async def test_read_all_reports_progress_and_read_one_overtakes(tmp_path: Path) -> None:
    async with rig(tmp_path, 5) as r:
        poller = r.poller()
        await poller.start()
        seen: list[Progress] = []
        summary = await poller.read_all(progress=seen.append)
        assert [p.done for p in seen] == [1, 2, 3, 4, 5]
        assert all(p.total == 5 for p in seen)
        assert (summary.total, summary.ok, summary.failed) == (5, 5, ())
        assert not poller._pending  # written before read_all returned
        with pytest.raises(UnknownMeterError) as info:
            await poller.read_one(999)
        assert info.value.code == "E161"
        first = asyncio.create_task(poller.read_all())
        await asyncio.sleep(0)
        with pytest.raises(ReadAllBusyError):
            await poller.read_all()
        meter_id = next(m.meter_id for m in poller.meters() if m.address == address(5))
        one = await poller.read_one(meter_id)
        assert one.ok and one.address == address(5)
        assert poller.snapshot().read_all is not None  # the read-all was still running
        await first
        progress = [p async for p in poller.iter_read_all(meter_ids=[meter_id])]
        assert [(p.done, p.total) for p in progress] == [(1, 1)]
        await poller.stop()
        snapshot = poller.snapshot()
        assert (snapshot.running, snapshot.meters, snapshot.online) == (False, 5, 5)
