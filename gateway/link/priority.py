"""The bus scheduler: one holder at a time, waiters served by priority, FIFO within a priority."""

from __future__ import annotations

import asyncio
import enum
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Priority(enum.IntEnum):
    """Lower value goes first."""

    OPERATOR = 0  # vend, relay, "read now" from a person waiting at the screen
    ALARM = 1  # alarm handling, trips at zero balance
    POLL = 2  # scheduled reads


class PriorityGate:
    """A lock whose waiters are woken best-priority first.

    Not a worker task with a queue: each caller runs its own exchange while holding the gate, so
    cancelling a caller cancels exactly its own request and nothing has to be handed across tasks.
    """

    __slots__ = ("_busy", "_closed", "_heap", "_seq")

    def __init__(self) -> None:
        self._busy = False
        self._closed = False
        self._heap: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    @property
    def busy(self) -> bool:
        return self._busy

    def waiting(self) -> dict[Priority, int]:
        counts = dict.fromkeys(Priority, 0)
        for prio, _, fut in self._heap:
            if not fut.done():
                counts[Priority(prio)] += 1
        return counts

    @asynccontextmanager
    async def turn(self, priority: Priority) -> AsyncIterator[None]:
        await self._acquire(priority)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, priority: Priority) -> None:
        if self._closed:
            raise GateClosedError
        if not self._busy and not self._heap:
            self._busy = True
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (int(priority), next(self._seq), fut))
        try:
            await fut
        except asyncio.CancelledError:
            # Granted the turn in the same instant we were cancelled: pass it on.
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self._release()
            raise

    def _release(self) -> None:
        while self._heap:
            _, _, fut = heapq.heappop(self._heap)
            if not fut.done():
                fut.set_result(None)  # the gate stays busy: ownership moves to that waiter
                return
        self._busy = False

    def close(self) -> None:
        """Fail every waiter with GateClosedError; later acquires fail at once."""
        self._closed = True
        while self._heap:
            _, _, fut = heapq.heappop(self._heap)
            if not fut.done():
                fut.set_exception(GateClosedError())


class GateClosedError(Exception):
    """The gate was closed while waiting."""
