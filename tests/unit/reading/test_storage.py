"""Readings storage on a real SQLite file: bytes per row, rollups, retention."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from gateway.reading.config import ReadingConfig
from gateway.reading.recorder import Recorder
from gateway.siteclock import ManualClock, SiteClock
from gateway.store import readings
from gateway.store.conn import Conn
from gateway.store.database import Database
from gateway.store.readings import ReadingRow, RollupDelta

START = dt.datetime(2025, 3, 4, 2, 0, tzinfo=dt.UTC)
METERS = 100
CYCLES = 288  # three days of 15-minute cycles


def typical_row(meter: int, cycle: int, at: int) -> ReadingRow:
    """What the default plan stores: energy block and status word every cycle, the instant
    values once an hour, a meter wallet's remaining money on half of the meters."""
    energy = 1_234_567 + meter * 1_000 + cycle * 25
    hourly = cycle % 4 == 0
    wallet = meter % 2 == 0
    return ReadingRow(
        meter_id=meter,
        at=at,
        energy_cwh=energy,
        t1_cwh=energy // 7,
        t2_cwh=energy // 5,
        t3_cwh=energy // 3,
        t4_cwh=energy - energy // 7 - energy // 5 - energy // 3,
        status3=0x8000 | (0x0200 if wallet else 0),
        remaining=50_000 - cycle * 10 if wallet else None,
        overdraft=0 if wallet else None,
        reverse_cwh=0 if hourly else None,
        voltage_dv=2_205 if hourly else None,
        current_ma=4_545 if hourly else None,
        power_dw=10_000 if hourly else None,
    )


def _size(c: Conn) -> int:
    return int(c.scalar("PRAGMA page_count")) * int(c.scalar("PRAGMA page_size"))


async def file_bytes(db: Database) -> int:
    """The database's size as its pages (WAL content included): what the file grows to."""
    return await db.read(_size)


async def test_bytes_per_reading_keep_a_year_of_2000_meters_well_under_2_gb(
    tmp_path: Path,
) -> None:
    path = tmp_path / "size.sqlite"
    db = await Database.open(path, clock=ManualClock(START))
    before = await file_bytes(db)
    t0 = readings.epoch(START)
    for cycle in range(0, CYCLES, 2):
        # One transaction per poll batch of 200 readings, as the recorder writes them.
        rows = [
            typical_row(m, c, t0 + c * 900)
            for c in (cycle, cycle + 1)
            for m in range(1, METERS + 1)
        ]
        await db.write(readings.insert_readings, rows)
    raw_per_row = (await file_bytes(db) - before) / (METERS * CYCLES)

    before = await file_bytes(db)
    days = 365
    for first in range(0, days, 10):
        await db.write(
            readings.add_to_rollups,
            [
                RollupDelta(m, _day(d), True, 1_234_567 + d * 2_400, 2_400, 0, 2_205, 10_000, 99)
                for d in range(first, min(first + 10, days))
                for m in range(1, METERS + 1)
            ],
        )
    rollup_per_day = (await file_bytes(db) - before) / (
        METERS * days
    )  # a day row + its month share
    await db.close()

    retention = ReadingConfig().retention_days
    raw_rows = 2000 * 96 * retention
    year = raw_per_row * raw_rows + rollup_per_day * 2000 * 365
    print(f"raw {raw_per_row:.1f} B/row, rollups {rollup_per_day:.1f} B/meter-day, "
          f"a year for 2000 meters: {year / 1e6:.0f} MB")  # fmt: skip
    assert raw_per_row < 60  # header + integers + B-tree cell, index included (WITHOUT ROWID)
    assert year < 0.5e9  # "well under 2 GB"
    # Even keeping every raw reading for a whole year stays within the same order.
    assert raw_per_row * 2000 * 96 * 365 < 4.5e9


def _day(n: int) -> int:
    return int((dt.date(2024, 1, 1) + dt.timedelta(days=n)).strftime("%Y%m%d"))


async def test_rollups_sum_increments_and_retention_keeps_them(tmp_path: Path) -> None:
    manual = ManualClock(START)
    clock = SiteClock("Asia/Shanghai", manual)
    db = await Database.open(tmp_path / "r.sqlite", clock=clock.now)
    t0 = START - dt.timedelta(days=40)
    day_old = int(clock.to_local(t0).strftime("%Y%m%d"))
    rows = [ReadingRow(1, readings.epoch(t0) + i * 900, energy_cwh=100 + i) for i in range(4)]
    rows.append(ReadingRow(1, readings.epoch(START), energy_cwh=500))
    await db.write(readings.insert_readings, rows)
    await db.write(
        readings.add_to_rollups,
        [
            RollupDelta(1, day_old, True, 100, 0, voltage_dv=2_200),
            RollupDelta(1, day_old, True, 101, 1, voltage_dv=2_190),
            RollupDelta(1, day_old, False),
            RollupDelta(1, day_old, True, 103, 2, voltage_dv=2_230, power_dw=50),
        ],
    )
    recorder = Recorder(db, clock, ReadingConfig(retention_days=35))
    removed = await recorder.prune()
    assert removed == 4  # the raw rows from 40 days ago; today's stays
    left = await db.read(readings.history, 1)
    assert [r.energy_cwh for r in left.items] == [500]
    [day] = await db.read(readings.days, 1, day_old, day_old)
    assert (day.reads, day.failures, day.first_cwh, day.last_cwh, day.used_cwh) == (
        3, 1, 100, 103, 3,
    )  # fmt: skip
    assert (day.voltage_min_dv, day.voltage_max_dv, day.power_max_dw) == (2_190, 2_230, 50)
    [month] = await db.read(readings.months, 1, day_old // 100, day_old // 100)
    assert month.used_cwh == 3
    await db.close()
