"""The site's clock: UTC for what is stored, the site's local time for tariffs and windows.

Tariff periods, friendly-credit hours and holidays are local facts ("weekdays 18:00-09:00");
the ledger stores UTC. Every component takes a SiteClock so tests can move time explicitly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class SiteClock:
    timezone: str = "Asia/Shanghai"
    source: Callable[[], dt.datetime] = field(default=_utc_now)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def now(self) -> dt.datetime:
        """Aware UTC now (what the store records)."""
        moment = self.source()
        if moment.tzinfo is None:
            raise ValueError("clock source must return an aware datetime")
        return moment.astimezone(dt.UTC)

    def local_now(self) -> dt.datetime:
        return self.to_local(self.now())

    def to_local(self, moment: dt.datetime) -> dt.datetime:
        """Aware → naive site-local (what billing rules take)."""
        return moment.astimezone(self.tz).replace(tzinfo=None)

    def from_local(self, naive: dt.datetime) -> dt.datetime:
        return naive.replace(tzinfo=self.tz).astimezone(dt.UTC)


class ManualClock:
    """A clock a test or the demo moves explicitly (``advance``), usable as a SiteClock source."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be aware")
        self.moment = start

    def __call__(self) -> dt.datetime:
        return self.moment

    def advance(self, delta: dt.timedelta) -> None:
        self.moment += delta
