"""Monitoring over the three buses: a pulled cable and a dead meter go offline and come back,
the scheduled polling reads every meter on its own, and each meter's communication quality is
kept (F7.5 monitoring information)."""

from __future__ import annotations

import asyncio
import datetime as dt

from gateway.store import alarms, readings
from gateway.store.alarms import AlarmFilter
from gateway.store.conn import Conn
from gateway.store.paging import PageRequest
from gateway.store.readings import MonitorFilter
from tests.integration.reading.conftest import Field, address

PTY_METERS = range(1, 9)


def online(site: Field, n: int) -> bool:
    health = site.runtime.poller.health(site.meter_ids[address(n)])
    return health is not None and health.online is True


def kinds(site: Field, n: int) -> set[str]:
    return {r.kind for r in site.runtime.recorder.active.of_meter(address(n))}


async def test_an_unplugged_bus_goes_offline_and_recovers(site: Field) -> None:
    await site.runtime.read_all()
    await site.unplug_pty()  # socat killed: the cable is pulled
    for _ in range(2):  # two failed polls in a row make a meter offline
        await site.step(0.25)
    snap = site.runtime.snapshot().poller
    pty = next(b for b in snap.buses if b.name == "pty")
    assert (pty.offline, pty.online, pty.down) == (8, 0, True)
    others = [b for b in snap.buses if b.name != "pty"]
    assert all(b.online == b.meters for b in others)  # neighbours untouched
    for n in PTY_METERS:
        [record] = [r for r in site.runtime.recorder.active.of_meter(address(n))
                    if r.kind == "comm_failure"]  # fmt: skip
        assert record.code == "E170" and record.detail.startswith("E12"), record.detail
    status = await site.db.read(readings.get_status, site.meter_ids[address(1)])
    assert status is not None and not status.online and status.failures_in_row == 2

    await site.plug_pty()
    for _ in range(100):  # the bus reopens the port after its own short backoff
        await site.step(0.25)
        if all(online(site, n) for n in PTY_METERS):
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("the pty meters never came back")
    for n in PTY_METERS:
        assert "comm_failure" not in kinds(site, n)
    history = await site.db.read(
        alarms.search, AlarmFilter(kinds=("comm_failure",)), PageRequest(limit=100)
    )
    ended = [row.alarm for row in history.items if row.alarm.meter_address == address(1)]
    assert len(ended) == 1 and ended[0].ended_at is not None
    # The energy used while the cable was out is billed at the first reading back.
    assert (await site.position(4)).balance_fen < 100_000 - 500


async def test_a_silent_meter_backs_off_without_slowing_its_neighbours(site: Field) -> None:
    await site.runtime.read_all()
    site.meter(11).faults.silent = True
    await site.step(0.25)
    await site.step(0.25)
    health = site.runtime.poller.health(site.meter_ids[address(11)])
    assert health is not None and health.online is False
    assert health.retry_at is not None and health.retry_at > site.clock.now()
    assert "comm_failure" in kinds(site, 11)
    neighbour = site.runtime.poller.health(site.meter_ids[address(12)])
    assert neighbour is not None and neighbour.online
    rows = await site.db.read(readings.monitoring, MonitorFilter(bus="tcp"), PageRequest(limit=100))
    row = next(r for r in rows.items if r.address == address(11))
    assert row.online is False and row.last_error.startswith("E120")
    assert row.success_pct is not None and row.success_pct < 100
    assert row.customer_name == "用户11"

    site.meter(11).faults.silent = False
    await site.step(0.25)
    assert health.online is True
    assert "comm_failure" not in kinds(site, 11)


async def test_scheduled_polling_reads_every_meter_by_itself(site: Field) -> None:
    await site.runtime.read_all()  # 10:00: every meter's baseline
    later = site.clock.now() + dt.timedelta(minutes=15)
    site.manual.advance(dt.timedelta(minutes=15))
    site.runtime.poller.wake()
    stamp = readings.epoch(later)
    for _ in range(500):
        await asyncio.sleep(0.02)
        await site.runtime.poller.flush()
        read = await site.db.read(_read_at, stamp)
        if read == set(site.meter_ids.values()):
            break
    else:
        raise AssertionError("not every meter was polled 15 minutes later")
    # Energy was read at 10:15 and billed: 10 kW for a quarter of an hour.
    assert (await site.position(4)).balance_fen == 100_000 - 125


def _read_at(c: Conn, stamp: int) -> set[int]:
    return {int(r[0]) for r in c.all("SELECT meter_id FROM readings WHERE at = ?", (stamp,))}
