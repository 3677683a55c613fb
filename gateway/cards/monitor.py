"""Card insert / remove events from pcscd, delivered to asyncio.

A thread waits in SCardGetStatusChange (blocking, with a short timeout so it can stop) and hands
each change to the event loop with ``call_soon_threadsafe``. When pcscd goes away the monitor
reports it once, keeps retrying quietly, and reports the recovery once. Cards already present
when the monitor starts are reported as inserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from dataclasses import dataclass
from typing import Any, Literal

from smartcard import scard

from gateway.cards.pcsc import CANCELLED, S_OK, TIMEOUT, describe_hresult, hresult

_LOG = logging.getLogger(__name__)
PNP = "\\\\?PnP?\\Notification"

EventKind = Literal["inserted", "removed", "service_down", "service_up"]


@dataclass(frozen=True)
class CardEvent:
    kind: EventKind
    reader: str = ""
    atr: bytes = b""


class CardMonitor:
    """``async with CardMonitor("00 01") as mon: event = await mon.get(timeout=5)``.

    ``reader``: part of a reader name to watch ("" = every reader).
    """

    def __init__(self, reader: str = "", *, poll_s: float = 0.5) -> None:
        self.reader_filter = reader.casefold()
        self.poll_ms = int(poll_s * 1000)
        self._queue: asyncio.Queue[CardEvent] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ctx: Any = None
        self.present: dict[str, bytes] = {}  # reader -> ATR of the card in it

    async def __aenter__(self) -> CardMonitor:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="card-monitor", daemon=True)
        self._thread.start()

    async def aclose(self) -> None:
        self._stop.set()
        ctx = self._ctx
        if ctx is not None:
            scard.SCardCancel(ctx)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5)
            self._thread = None

    async def get(self) -> CardEvent:
        """The next event (wrap in ``asyncio.timeout`` to bound the wait)."""
        return await self._queue.get()

    async def wait_for(self, kind: EventKind, reader: str = "") -> CardEvent:
        """The next event of ``kind`` (for a reader containing ``reader``); others are dropped."""
        while True:
            event = await self._queue.get()
            if event.kind == kind and reader.casefold() in event.reader.casefold():
                return event

    def __aiter__(self) -> CardMonitor:
        return self

    async def __anext__(self) -> CardEvent:
        return await self._queue.get()

    # ---- thread side -------------------------------------------------------------------------
    def _emit(self, event: CardEvent) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # loop closed between the check and the call
            loop.call_soon_threadsafe(self._queue.put_nowait, event)

    def _run(self) -> None:
        down = False
        while not self._stop.is_set():
            hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            if hresult(hr) != S_OK:
                if not down:
                    _LOG.warning("card reader service unavailable: %s", describe_hresult(hr))
                    self._emit(CardEvent("service_down"))
                    down = True
                self._stop.wait(self.poll_ms / 1000)
                continue
            if down:
                _LOG.info("card reader service is back")
                self._emit(CardEvent("service_up"))
                down = False
            self._ctx = ctx
            try:
                failure = self._watch(ctx)
            finally:
                self._ctx = None
                scard.SCardReleaseContext(ctx)
            if failure is not None and not self._stop.is_set():
                _LOG.warning("card monitor lost pcscd: %s", describe_hresult(failure))
                self._emit(CardEvent("service_down"))
                down = True
                for reader in list(self.present):
                    self._removed(reader)
                self._stop.wait(self.poll_ms / 1000)

    def _readers(self, ctx: Any) -> list[str] | int:
        hr, readers = scard.SCardListReaders(ctx, [])
        code = hresult(hr)
        if code == S_OK:
            return [r for r in readers if self.reader_filter in r.casefold()]
        if code == 0x8010002E:  # no readers at all
            return []
        return code

    def _watch(self, ctx: Any) -> int | None:
        """Follow the readers until stopped (None) or pcscd fails (its status code)."""
        readers = self._readers(ctx)
        if isinstance(readers, int):
            return readers
        states: dict[str, int] = dict.fromkeys(readers, scard.SCARD_STATE_UNAWARE)
        pnp_state = scard.SCARD_STATE_UNAWARE
        while not self._stop.is_set():
            query = [*states.items(), (PNP, pnp_state)]
            hr, result = scard.SCardGetStatusChange(ctx, self.poll_ms, query)
            code = hresult(hr)
            if code == TIMEOUT:
                continue
            if code == CANCELLED:
                return None
            if code != S_OK:
                return code
            for name, event_state, atr in result:
                if name == PNP:
                    pnp_state = event_state & ~scard.SCARD_STATE_CHANGED
                    continue
                states[name] = event_state & ~scard.SCARD_STATE_CHANGED
                self._update(name, event_state, bytes(atr))
            if pnp_state & scard.SCARD_STATE_CHANGED or _reader_gone(result):
                fresh = self._readers(ctx)
                if isinstance(fresh, int):
                    return fresh
                for gone in set(states) - set(fresh):
                    states.pop(gone)
                    if gone in self.present:
                        self._removed(gone)
                for new in set(fresh) - set(states):
                    states[new] = scard.SCARD_STATE_UNAWARE
        return None

    def _update(self, reader: str, event_state: int, atr: bytes) -> None:
        present = bool(event_state & scard.SCARD_STATE_PRESENT) and not (
            event_state & scard.SCARD_STATE_UNAVAILABLE
        )
        if present and reader not in self.present:
            self.present[reader] = atr
            self._emit(CardEvent("inserted", reader, atr))
        elif not present and reader in self.present:
            self._removed(reader)

    def _removed(self, reader: str) -> None:
        self.present.pop(reader, None)
        self._emit(CardEvent("removed", reader))


def _reader_gone(result: list[tuple[str, int, list[int]]]) -> bool:
    return any(
        state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_IGNORE) for _, state, _ in result
    )
