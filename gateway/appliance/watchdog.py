"""Feed systemd's watchdog only while the gateway really works.

A process that is alive but stuck (event loop blocked by a hung driver, a bus never served, a
database that stopped answering) must stop pinging so systemd restarts it. The task wakes every
``probe`` seconds, measures how late it woke (event-loop lag) and, every ``ping_every`` seconds,
pings only if the worst lag of that window stayed under ``lag_limit`` and every health check
passed. A loop blocked outright sends nothing at all, which is the point.

Health checks are cheap synchronous predicates over state the subsystems already keep (e.g. "a
bus completed a request in the last 2 minutes"); they must not do I/O.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from gateway.appliance.sdnotify import Notifier, watchdog_interval

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
HealthCheck = Callable[[], bool]


@dataclass(frozen=True)
class WatchdogState:
    """What the health page and the MQTT status report show."""

    last_lag: float  # seconds the most recent probe woke late
    window_max_lag: float  # worst lag since the last ping decision
    max_lag: float  # worst lag since start
    healthy: bool
    reason: str  # empty when healthy
    pings: int
    decisions: int


class LoopWatchdog:
    def __init__(
        self,
        notifier: Notifier,
        *,
        ping_every: float,
        lag_limit: float,
        probe: float = 0.5,
        checks: Mapping[str, HealthCheck] | None = None,
        running_status: str = "running",
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if ping_every <= 0 or probe <= 0 or lag_limit <= 0:
            raise ValueError("ping_every, probe and lag_limit must be positive")
        self._notifier = notifier
        self._ping_every = ping_every
        self._probe = min(probe, ping_every)
        self._lag_limit = lag_limit
        self._checks = dict(checks or {})
        self._running_status = running_status
        self._clock = clock
        self._sleep = sleep
        self._last_lag = 0.0
        self._window_max = 0.0
        self._max_lag = 0.0
        self._healthy = True
        self._reason = ""
        self._pings = 0
        self._decisions = 0

    @classmethod
    def for_service(
        cls,
        notifier: Notifier,
        *,
        checks: Mapping[str, HealthCheck] | None = None,
        lag_limit: float = 2.0,
        environ: Mapping[str, str] | None = None,
    ) -> LoopWatchdog | None:
        """A watchdog sized from ``$WATCHDOG_USEC``; None when systemd set no watchdog."""
        timeout = watchdog_interval(environ)
        if timeout is None:
            return None
        # Four chances per timeout: one skipped ping (a transient stall) does not kill us.
        ping_every = timeout / 4
        return cls(
            notifier,
            ping_every=ping_every,
            lag_limit=min(lag_limit, ping_every),
            probe=min(0.5, ping_every),
            checks=checks,
        )

    def add_check(self, name: str, check: HealthCheck) -> None:
        self._checks[name] = check

    def snapshot(self) -> WatchdogState:
        return WatchdogState(
            last_lag=self._last_lag,
            window_max_lag=self._window_max,
            max_lag=self._max_lag,
            healthy=self._healthy,
            reason=self._reason,
            pings=self._pings,
            decisions=self._decisions,
        )

    async def run(self) -> None:
        """Probe and ping until cancelled."""
        next_decision = self._clock() + self._ping_every
        while True:
            expected = self._clock() + self._probe
            await self._sleep(self._probe)
            now = self._clock()
            lag = max(0.0, now - expected)
            self._last_lag = lag
            self._window_max = max(self._window_max, lag)
            self._max_lag = max(self._max_lag, lag)
            if now >= next_decision:
                self.decide()
                next_decision = now + self._ping_every

    def decide(self) -> bool:
        """Evaluate the window that just ended; ping when healthy. Returns whether it pinged."""
        self._decisions += 1
        reason = self._failing_reason()
        self._window_max = 0.0
        self._set_health(reason)
        if reason:
            return False
        if self._notifier.watchdog():
            self._pings += 1
        return True

    def _failing_reason(self) -> str:
        if self._window_max > self._lag_limit:
            return f"event loop lag {self._window_max:.2f} s > {self._lag_limit:.2f} s"
        for name, check in self._checks.items():
            try:
                ok = check()
            except Exception as exc:  # a broken check must not kill the watchdog task
                return f"health check {name!r} raised {exc!r}"
            if not ok:
                return f"health check {name!r} failed"
        return ""

    def _set_health(self, reason: str) -> None:
        healthy = not reason
        if healthy == self._healthy and reason == self._reason:
            return
        was_healthy = self._healthy
        self._healthy, self._reason = healthy, reason
        if not healthy and was_healthy:
            log.warning("unhealthy, withholding watchdog pings: %s", reason)
            self._notifier.status(f"degraded: {reason}")
        elif healthy and not was_healthy:
            log.info("healthy again, watchdog pings resume")
            self._notifier.status(self._running_status)
        else:
            self._notifier.status(f"degraded: {reason}")
