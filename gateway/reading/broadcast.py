"""The daily broadcast time sync (08H), one per bus and site-local day, through the lanes.

The rules are in ``clock_keeping``; this sends the frame between two polls of the bus's lane
(so it never jumps into the middle of another conversation) and records the day in the
database, so a restart does not broadcast twice.
"""

from __future__ import annotations

import datetime as dt
import logging

from gateway.dlt645 import commands as cmd
from gateway.link.errors import LinkError
from gateway.link.priority import Priority
from gateway.reading.clock_keeping import broadcast_due, day_number
from gateway.reading.config import ClockConfig
from gateway.reading.errors import ReadingError
from gateway.reading.poller import Poller
from gateway.siteclock import SiteClock
from gateway.store import readings
from gateway.store.database import Database

log = logging.getLogger(__name__)


class Broadcaster:
    def __init__(self, db: Database, clock: SiteClock, config: ClockConfig, poller: Poller) -> None:
        self.db = db
        self.clock = clock
        self.config = config
        self.poller = poller
        self._failing: set[str] = set()
        self.sent = 0

    async def check(self) -> list[str]:
        """Broadcast on every bus whose broadcast is due now; returns the buses done."""
        done: list[str] = []
        for name in self.poller.bus_names():
            last = await self.db.read(readings.last_broadcast_day, name)
            if broadcast_due(self.clock.local_now(), last, self.config) and await self._send(name):
                done.append(name)
        return done

    async def _send(self, name: str) -> bool:
        bus = self.poller.bus(name)

        async def send() -> dt.datetime | None:
            local = self.clock.local_now()
            if self.config.quiet(local.time()):
                return None  # the lane was busy until the quiet window began
            await bus.send(cmd.broadcast_time(local), priority=Priority.POLL)
            return local

        try:
            sent = await self.poller.submit(name, send, what="broadcast time")
        except (LinkError, ReadingError) as exc:
            if name not in self._failing:
                self._failing.add(name)
                log.warning("broadcast time sync on bus %s failed: %s (retried later)", name, exc)
            return False
        if sent is None:
            return False
        if name in self._failing:
            self._failing.discard(name)
            log.info("broadcast time sync on bus %s works again", name)
        self.sent += 1
        await self.db.write(
            readings.record_broadcast, name, day_number(sent.date()), self.clock.now()
        )
        log.info("broadcast the time %s on bus %s", sent.isoformat(timespec="seconds"), name)
        return True
