"""When each read set of a meter is due: pure, time-injected.

Every set has its own interval. When a meter is polled, every set due now, or due within the
alignment window, is read in the same poll, so the sets of one meter drift into step and one
poll writes one row. A new meter is due at once for everything (its first poll learns its
registers and clock); after that each set is due ``every_s`` after it was last read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from gateway.reading.plan import ReadPlan, ReadSet

ALIGN_FRACTION = 10  # sets due within 1/10 of the shortest interval join the poll


@dataclass(slots=True)
class MeterSchedule:
    plan: ReadPlan
    next_due: dict[str, dt.datetime] = field(default_factory=dict)

    @classmethod
    def starting(cls, plan: ReadPlan, now: dt.datetime) -> MeterSchedule:
        return cls(plan, {s.name: now for s in plan.sets})

    def replan(self, plan: ReadPlan, now: dt.datetime) -> None:
        """A changed plan keeps the due times of sets it still has; new sets are due now."""
        self.plan = plan
        self.next_due = {s.name: self.next_due.get(s.name, now) for s in plan.sets}

    @property
    def align(self) -> dt.timedelta:
        shortest = min((s.every_s for s in self.plan.sets), default=0)
        return dt.timedelta(seconds=shortest / ALIGN_FRACTION)

    def earliest(self) -> dt.datetime | None:
        return min(self.next_due.values(), default=None)

    def due(self, now: dt.datetime) -> tuple[ReadSet, ...]:
        """Sets to read in a poll at ``now`` (empty: nothing due yet)."""
        first = self.earliest()
        if first is None or first > now:
            return ()
        horizon = now + self.align
        return tuple(s for s in self.plan.sets if self.next_due[s.name] <= horizon)

    def done(self, sets: tuple[ReadSet, ...] | list[ReadSet], now: dt.datetime) -> None:
        """These sets were read at ``now``."""
        for s in sets:
            if s.name in self.next_due:
                self.next_due[s.name] = now + dt.timedelta(seconds=s.every_s)

    def clamp(self, now: dt.datetime) -> None:
        """After the clock stepped backwards, nothing may be due later than one interval."""
        for s in self.plan.sets:
            latest = now + dt.timedelta(seconds=s.every_s)
            if self.next_due.get(s.name, now) > latest:
                self.next_due[s.name] = latest
