"""Meter reading as one object for the gateway's run loop: poller, recorder, daily broadcast,
retention, and what the dashboard and the panel show.

    runtime = ReadingRuntime(db, clock, config, driver_for=access_driver, steps=[enforcer])
    await runtime.start()
    ...
    snapshot = runtime.snapshot()          # meters online/total, per-bus stats
    summary = await runtime.read_all(progress=show)
    await runtime.stop()

``driver_for`` maps a ``MeterInfo`` to a driver on the right bus, e.g.
``lambda m: BusMeterAccess(buses).driver(m.meter, m.meter_type)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass

from gateway.reading.broadcast import Broadcaster
from gateway.reading.config import ReadingConfig
from gateway.reading.poller import (
    DriverFactory,
    Poller,
    PollerSnapshot,
    Progress,
    ReadAllSummary,
)
from gateway.reading.recorder import BatchStep, Recorder
from gateway.reading.results import PollResult
from gateway.reading.targets import MeterInfo, load_targets
from gateway.siteclock import SiteClock
from gateway.store.alarms import AlarmRecord
from gateway.store.database import Database

log = logging.getLogger(__name__)

HOUSEKEEPING_S = 60.0  # how often the broadcast and the retention are checked
PRUNE_EVERY = dt.timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class ReadingSnapshot:
    poller: PollerSnapshot
    active_alarms: int
    active_exceptions: int
    broadcasts: int
    batches: int


class ReadingRuntime:
    def __init__(
        self,
        db: Database,
        clock: SiteClock,
        config: ReadingConfig,
        *,
        driver_for: DriverFactory,
        steps: Sequence[BatchStep] = (),
    ) -> None:
        self.db = db
        self.clock = clock
        self.config = config
        self.recorder = Recorder(db, clock, config, steps)
        self.poller = Poller(
            targets=self._targets,
            driver_for=driver_for,
            sink=self.recorder,
            clock=clock,
            config=config,
        )
        self.broadcaster = Broadcaster(db, clock, config.clock, self.poller)
        self._housekeeping: asyncio.Task[None] | None = None
        self._last_prune: dt.datetime | None = None

    async def _targets(self) -> list[MeterInfo]:
        return await self.db.read(load_targets, self.config)

    async def start(self) -> None:
        await self.recorder.load()
        await self.poller.start()
        self._housekeeping = asyncio.create_task(self._housekeep(), name="reading-housekeeping")

    async def stop(self) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
            self._housekeeping = None
        await self.poller.stop()

    async def housekeep(self) -> None:
        """Broadcast where due and prune once a day (the loop calls this every minute)."""
        await self.broadcaster.check()
        now = self.clock.now()
        if self._last_prune is None or now - self._last_prune >= PRUNE_EVERY:
            self._last_prune = now
            removed = await self.recorder.prune()
            if removed:
                log.info("pruned %d old readings", removed)

    async def _housekeep(self) -> None:
        while True:
            try:
                await self.housekeep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading housekeeping failed")
            await asyncio.sleep(HOUSEKEEPING_S)

    # ---- on demand ---------------------------------------------------------------------------

    async def read_one(self, meter_id: int, *, sets: Collection[str] | None = None) -> PollResult:
        result = await self.poller.read_one(meter_id, sets=sets)
        await self.poller.flush()
        return result

    async def read_all(
        self,
        *,
        meter_ids: Collection[int] | None = None,
        sets: Collection[str] | None = None,
        progress: Callable[[Progress], None] | None = None,
    ) -> ReadAllSummary:
        return await self.poller.read_all(meter_ids=meter_ids, sets=sets, progress=progress)

    def iter_read_all(
        self, *, meter_ids: Collection[int] | None = None, sets: Collection[str] | None = None
    ) -> AsyncIterator[Progress]:
        return self.poller.iter_read_all(meter_ids=meter_ids, sets=sets)

    # ---- what the dashboard and the panel show (no I/O) --------------------------------------

    def snapshot(self) -> ReadingSnapshot:
        counts = self.recorder.active.count()
        return ReadingSnapshot(
            self.poller.snapshot(),
            counts.get("alarm", 0),
            counts.get("exception", 0),
            self.broadcaster.sent,
            self.recorder.batches,
        )

    def active_alarms(self, limit: int = 10) -> list[AlarmRecord]:
        return self.recorder.active.newest(limit)
