"""Writing a poll batch: readings, rollups, monitoring state, alarms and the steps that act on
the readings (gateway-wallet enforcement), all in one transaction; then the steps' follow-up
work (relay commands), which needs the bus and therefore runs after the commit.

A crash between the commit and a relay command loses nothing: the decision is made again from
the persisted state at the next reading.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gateway.reading import alarm_book, monitor
from gateway.reading.alarm_book import ActiveAlarms, AlarmChange, Subject
from gateway.reading.config import ReadingConfig
from gateway.reading.monitor import Condition
from gateway.reading.results import PollResult
from gateway.siteclock import SiteClock
from gateway.store import alarms, readings
from gateway.store.conn import Conn
from gateway.store.database import Database
from gateway.store.readings import PollOutcome, ReadingRow, RollupDelta

log = logging.getLogger(__name__)

# Work after the commit (a relay command); returns the alarm changes it recorded.
FollowUp = Callable[[], Awaitable[Sequence[AlarmChange]]]
PRUNE_CHUNK = 50  # meters per prune transaction: the write lock is held for milliseconds


@dataclass(frozen=True)
class StepOutcome:
    """What a batch step found (conditions per meter id) and what it must do after commit."""

    conditions: Mapping[int, Sequence[Condition]] = field(default_factory=dict)
    follow_ups: Sequence[FollowUp] = ()


class BatchStep(Protocol):
    """Runs inside the batch transaction, after the readings are written."""

    def __call__(self, c: Conn, batch: Sequence[PollResult], now: dt.datetime) -> StepOutcome: ...


@dataclass(frozen=True)
class Recorded:
    rows: int
    changes: tuple[AlarmChange, ...]
    follow_ups: tuple[FollowUp, ...]


def local_day(clock: SiteClock, moment: dt.datetime) -> int:
    day = clock.to_local(moment).date()
    return day.year * 10000 + day.month * 100 + day.day


def reading_row(result: PollResult) -> ReadingRow:
    v = result.values
    tariffs = v.tariffs_cwh or (None, None, None, None)
    return ReadingRow(
        meter_id=result.meter_id,
        at=readings.epoch(result.at),
        energy_cwh=v.energy_cwh,
        t1_cwh=tariffs[0],
        t2_cwh=tariffs[1],
        t3_cwh=tariffs[2],
        t4_cwh=tariffs[3],
        reverse_cwh=v.reverse_cwh,
        remaining=v.remaining,
        overdraft=v.overdraft,
        status3=v.status3,
        tamper=None,
        voltage_dv=v.voltage_dv,
        current_ma=v.current_ma,
        power_dw=v.power_dw,
        drift_s=result.drift_s,
    )


class Recorder:
    """The poller's sink: ``await recorder(batch)`` writes it and runs the follow-ups."""

    def __init__(
        self,
        db: Database,
        clock: SiteClock,
        config: ReadingConfig,
        steps: Sequence[BatchStep] = (),
    ) -> None:
        self.db = db
        self.clock = clock
        self.config = config
        self.steps = list(steps)
        self.active = ActiveAlarms()
        self.batches = 0
        self.rows = 0

    async def load(self) -> None:
        """Fill the in-memory view of active alarms (call once at start)."""
        self.active = ActiveAlarms(await self.db.read(alarms.all_active))

    async def __call__(self, batch: Sequence[PollResult]) -> None:
        if not batch:
            return
        recorded = await self.db.write(self.record, batch, self.clock.now())
        self.batches += 1
        self.rows += recorded.rows
        self.active.update(recorded.changes)
        for follow_up in recorded.follow_ups:
            try:
                self.active.update(await follow_up())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("follow-up of a reading batch failed")

    def record(self, c: Conn, batch: Sequence[PollResult], now: dt.datetime) -> Recorded:
        """The batch transaction (runs on the store's writer thread)."""
        rows: list[ReadingRow] = []
        deltas: list[RollupDelta] = []
        # A later poll of the same meter in this batch supersedes an earlier one's findings.
        latest: dict[int, dict[str, Condition]] = defaultdict(dict)
        subjects: dict[int, Subject] = {}
        for result in batch:
            previous = readings.get_status(c, result.meter_id)
            findings = monitor.evaluate(
                result,
                previous,
                clock=self.config.clock,
                tamper_bits=self.config.tamper_bits,
                limits=result.meter.limits,
            )
            latest[result.meter_id].update((c.kind, c) for c in findings.conditions)
            subjects[result.meter_id] = Subject(
                result.meter_id, result.address, result.meter.account_id
            )
            v = result.values
            if result.clock_set:
                readings.record_clock_set(c, result.meter_id, result.at)
            readings.record_outcome(
                c,
                PollOutcome(
                    meter_id=result.meter_id,
                    at=result.at,
                    ok=result.ok,
                    online=result.online,
                    error=result.error,
                    retries=result.retries,
                    bad_frames=result.bad_frames,
                    energy_cwh=v.energy_cwh,
                    reverse_cwh=v.reverse_cwh,
                    remaining=v.remaining,
                    overdraft=v.overdraft,
                    status3=v.status3,
                    drift_s=result.drift_s,
                    clock_read=result.drift_s is not None,
                ),
            )
            rows.append(reading_row(result))
            deltas.append(
                RollupDelta(
                    meter_id=result.meter_id,
                    day=local_day(self.clock, result.at),
                    ok=result.ok,
                    energy_cwh=v.energy_cwh,
                    used_cwh=findings.used_cwh,
                    reverse_cwh=v.reverse_cwh,
                    voltage_dv=v.voltage_dv,
                    power_dw=v.power_dw,
                    remaining=v.remaining,
                )
            )
        written = readings.insert_readings(c, rows)
        readings.add_to_rollups(c, deltas)
        conditions: dict[int, list[Condition]] = {
            meter_id: list(found.values()) for meter_id, found in latest.items()
        }
        follow_ups: list[FollowUp] = []
        for step in self.steps:
            outcome = step(c, batch, now)
            for meter_id, found in outcome.conditions.items():
                conditions.setdefault(meter_id, []).extend(found)
            follow_ups.extend(outcome.follow_ups)
        changes: list[AlarmChange] = []
        for meter_id, found in conditions.items():
            subject = subjects.get(meter_id)
            if subject is not None:
                changes.extend(alarm_book.apply(c, subject, found, now))
        return Recorded(written, tuple(changes), tuple(follow_ups))

    # ---- retention ---------------------------------------------------------------------------

    async def prune(self) -> int:
        """Delete raw readings past the retention and rollups past theirs; returns rows removed.

        Runs in short transactions of ``PRUNE_CHUNK`` meters so a sale never waits long.
        """
        now = self.clock.now()
        cutoff = now - dt.timedelta(days=self.config.retention_days)
        meter_ids = await self.db.read(readings.meters_with_readings)
        removed = 0
        for i in range(0, len(meter_ids), PRUNE_CHUNK):
            chunk = meter_ids[i : i + PRUNE_CHUNK]
            removed += await self.db.write(readings.prune_readings, chunk, cutoff)
        years = self.config.rollup_retention_years
        if years:
            local = self.clock.to_local(now).date()
            first_day = (local.year - years) * 10000 + local.month * 100 + local.day
            removed += await self.db.write(_prune_rollups, first_day)
        return removed


def _prune_rollups(c: Conn, first_day: int) -> int:
    removed = c.execute("DELETE FROM reading_days WHERE day < ?", (first_day,))
    removed += c.execute("DELETE FROM reading_months WHERE month < ?", (first_day // 100,))
    return removed
