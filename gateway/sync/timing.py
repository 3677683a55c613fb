"""Waiting: reconnect backoff with jitter, and event waits with a timeout that stay cancellable."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable


class Backoff:
    """Delay n is uniform in [b/2, b] with b = min(maximum, initial * 2**n) ("equal jitter").

    Half of the delay is kept fixed so a gateway never hammers the broker, the other half is
    random so thousands of gateways coming back after a broker restart spread out.
    """

    def __init__(
        self,
        initial: float,
        maximum: float,
        *,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if not 0 < initial <= maximum:
            raise ValueError("need 0 < initial <= maximum")
        self._initial = initial
        self._maximum = maximum
        self._rng = rng
        self._attempt = 0

    @property
    def attempt(self) -> int:
        return self._attempt

    def next_delay(self) -> float:
        base = min(self._maximum, self._initial * (2.0 ** min(self._attempt, 60)))
        self._attempt += 1
        return base / 2 + self._rng() * base / 2

    def reset(self) -> None:
        self._attempt = 0


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """True if ``event`` was set within ``seconds``.

    Not ``asyncio.wait_for``: on Python 3.11 it can swallow a cancellation that arrives just as
    the event is set, leaving a task that can never be stopped.
    """
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
