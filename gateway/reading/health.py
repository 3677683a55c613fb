"""Per-meter communication health: online/offline, exponential backoff, log-once transitions.

Pure and time-injected. A meter goes offline after ``offline_after`` consecutive failed polls
and comes back online at the first success; each transition is reported once (the poller logs
it once), never every poll (Home Assistant's coordinator does the same). A failing meter is
retried after ``initial``, then twice as long each time up to ``maximum``: it costs the bus one
timeout per attempt, and the backoff keeps that from slowing the meters next to it.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass


class Transition(enum.Enum):
    WENT_OFFLINE = "went_offline"
    RECOVERED = "recovered"


@dataclass(frozen=True, slots=True)
class Backoff:
    initial: dt.timedelta
    maximum: dt.timedelta

    def delay(self, failures: int) -> dt.timedelta:
        """Wait after the ``failures``-th consecutive failure (1-based)."""
        if failures < 1:
            return dt.timedelta(0)
        factor: int = 2 ** min(failures - 1, 30)
        return min(self.initial * factor, self.maximum)


@dataclass(slots=True)
class MeterHealth:
    offline_after: int
    online: bool | None = None  # None: not polled yet
    failures_in_row: int = 0
    retry_at: dt.datetime | None = None  # no scheduled poll before this (backoff)
    last_error: str = ""
    polls: int = 0
    successes: int = 0

    def succeeded(self) -> Transition | None:
        self.polls += 1
        self.successes += 1
        self.failures_in_row = 0
        self.retry_at = None
        self.last_error = ""
        was = self.online
        self.online = True
        return Transition.RECOVERED if was is False else None

    def failed(self, now: dt.datetime, error: str, backoff: Backoff) -> Transition | None:
        self.polls += 1
        self.failures_in_row += 1
        self.last_error = error
        self.retry_at = now + backoff.delay(self.failures_in_row)
        if self.failures_in_row >= self.offline_after and self.online is not False:
            self.online = False
            return Transition.WENT_OFFLINE
        return None

    def may_poll(self, now: dt.datetime) -> bool:
        return self.retry_at is None or now >= self.retry_at
