"""A bus: one request in flight, priority order, reply matching, timeouts, retries, tracing.

The same class serves an RS485 line (serial port or serial server, opened on demand and reopened
with backoff) and one DTU connection (attached by the DTU server when the module dials in).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.dlt645 import Deframer, Frame, FrameError, Function
from gateway.dlt645.commands import matches
from gateway.link.connection import Connection, Connector, StreamFilter
from gateway.link.errors import (
    BadReplyError,
    BusClosedError,
    BusTimeoutError,
    LinkError,
    NoRouteError,
    PortUnavailableError,
    TransportClosedError,
)
from gateway.link.priority import GateClosedError, Priority, PriorityGate
from gateway.link.timing import Timing
from gateway.link.trace import Direction, TraceEvent, TraceHooks

log = logging.getLogger(__name__)

# DTUs that register with a DL/T 645 frame repeat it as heartbeat: a read reply of DI 80808080.
HEARTBEAT_DI_WIRE = b"\x80\x80\x80\x80"
_READ_CHUNK = 4096


def is_heartbeat_frame(frame: Frame) -> bool:
    return (
        frame.function == Function.READ and frame.from_meter and frame.data[:4] == HEARTBEAT_DI_WIRE
    )


@dataclass(slots=True)
class BusStats:
    requests: int = 0
    replies: int = 0
    timeouts: int = 0
    retries: int = 0
    bad_frames: int = 0
    strays: int = 0
    heartbeats: int = 0
    disconnects: int = 0


@dataclass(eq=False, slots=True)
class _Pending:
    request: Frame
    future: asyncio.Future[Frame]
    conn: Connection
    sent: bool = False
    corrupt: int = 0
    strays: int = 0
    last_error: str = ""


class Bus:
    """Exchanges frames with the meters on one line or behind one DTU.

    ``request`` returns the matching reply frame (normal or abnormal: the caller parses it);
    it raises a LinkError when no valid reply comes. ``retry`` must be False for requests that
    are not idempotent (a recharge): the caller decides after re-reading the meter.
    """

    def __init__(
        self,
        name: str,
        *,
        timing: Timing,
        connector: Connector | None = None,
        retries: int = 2,
        preamble: bool = True,
        inter_frame_gap_ms: int = 0,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 30.0,
        offline_message: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.timing = timing
        self.retries = retries
        self.preamble = preamble
        self.trace = TraceHooks()
        self.stats = BusStats()
        self._connector = connector
        self._gap_s = inter_frame_gap_ms / 1000
        self._backoff_initial = backoff_initial_s
        self._backoff_max = backoff_max_s
        self._backoff = backoff_initial_s
        self._retry_at = 0.0
        self._last_failure = ""
        self._offline_message = offline_message or f"bus {name} is not connected"
        self._clock = clock
        self._gate = PriorityGate()
        self._deframer = Deframer()
        self._conn: Connection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: _Pending | None = None
        self._healthy = True
        self._closed = False
        self._quiet_since = 0.0
        # A request whose caller gave up may still be answered: the line stays busy until that
        # reply or its deadline, or the next request would talk over it (RS485 is half duplex).
        self._orphan_until = 0.0
        self._orphan_done = asyncio.Event()

    # --- state ------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.closed

    @property
    def description(self) -> str:
        if self._conn is not None:
            return self._conn.description
        return self._connector.description if self._connector else self.name

    def waiting(self) -> dict[Priority, int]:
        return self._gate.waiting()

    # --- requests ---------------------------------------------------------------------------

    async def request(
        self, frame: Frame, *, priority: Priority = Priority.POLL, retry: bool = True
    ) -> Frame:
        """Send ``frame`` and return the meter's matching reply."""
        raw = frame.to_bytes(self.preamble)
        try:
            async with self._gate.turn(priority):
                attempts = 1 + (self.retries if retry else 0)
                failure: LinkError | None = None
                for attempt in range(attempts):
                    try:
                        return await self._exchange(
                            frame, raw, f"retry {attempt}" if attempt else ""
                        )
                    except (BusTimeoutError, BadReplyError) as exc:
                        failure = exc
                        if attempt + 1 < attempts:
                            self.stats.retries += 1
                assert failure is not None
                raise failure
        except GateClosedError:
            raise BusClosedError(f"bus {self.name} is closed", bus=self.name) from None

    async def send(self, frame: Frame, *, priority: Priority = Priority.OPERATOR) -> None:
        """Send a frame no meter answers (broadcast time set); returns once it left the line."""
        raw = frame.to_bytes(self.preamble)
        try:
            async with self._gate.turn(priority):
                conn = await self._ensure_connection()
                await self._wait_gap()
                self._write(conn, raw, frame, "no reply expected")
                await asyncio.sleep(self.timing.send_time(len(raw)))
                self._quiet_since = self._clock()
        except GateClosedError:
            raise BusClosedError(f"bus {self.name} is closed", bus=self.name) from None

    async def connect(self) -> None:
        """Open the transport now (instead of on the first request); raises PortUnavailableError."""
        async with self._gate.turn(Priority.OPERATOR):
            await self._ensure_connection()

    async def _exchange(self, request: Frame, raw: bytes, note: str) -> Frame:
        conn = await self._ensure_connection()
        await self._wait_gap()
        fut: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        pending = _Pending(request, fut, conn)
        # Whatever sits in the buffer now is noise or a late answer to an earlier request.
        self._deframer.reset()
        self._pending = pending
        self.stats.requests += 1
        timeout = self.timing.reply_timeout(request, len(raw))
        try:
            self._write(conn, raw, request, note)
            pending.sent = True
            async with asyncio.timeout(timeout):
                reply = await fut
            self.stats.replies += 1
            return reply
        except TimeoutError:
            self.stats.timeouts += 1
            target = f"meter {request.address}"
            if pending.corrupt:
                error: LinkError = BadReplyError(
                    f"{target}: {pending.corrupt} corrupted frame(s) and no valid reply "
                    f"within {timeout * 1000:.0f} ms ({pending.last_error})",
                    bus=self.name,
                    request_sent=True,
                )
            else:
                detail = ""
                if pending.strays:
                    detail = f", {pending.strays} frame(s) answering something else"
                error = BusTimeoutError(
                    f"{target}: no reply within {timeout * 1000:.0f} ms on {self.description}"
                    f"{detail}",
                    bus=self.name,
                    request_sent=True,
                )
            self._emit(Direction.ERROR, b"", error=f"{error.code} {error}")
            raise error from None
        except asyncio.CancelledError:
            answered = fut.done() and not fut.cancelled()  # cancelling us cancels fut too
            if pending.sent and not answered:
                self._orphan_until = self._clock() + timeout
                self._orphan_done.clear()
            raise
        finally:
            self._pending = None
            self._quiet_since = self._clock()

    def _write(self, conn: Connection, raw: bytes, frame: Frame, note: str) -> None:
        if conn.closed or conn.writer.is_closing():
            raise TransportClosedError(f"{conn.description} is closed", bus=self.name)
        if self.trace:
            self._emit(Direction.TX, raw, frame=frame, note=note)
        try:
            conn.writer.write(raw)
        except Exception as exc:
            raise TransportClosedError(
                f"cannot write to {conn.description}: {exc}", bus=self.name
            ) from exc

    async def _wait_gap(self) -> None:
        if self._orphan_until:
            remaining = self._orphan_until - self._clock()
            if remaining > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await self._orphan_done.wait()
            self._orphan_until = 0.0
        if self._gap_s:
            remaining = self._quiet_since + self._gap_s - self._clock()
            if remaining > 0:
                await asyncio.sleep(remaining)

    # --- connection management ----------------------------------------------------------------

    async def _ensure_connection(self) -> Connection:
        if self._closed:
            raise BusClosedError(f"bus {self.name} is closed", bus=self.name)
        conn = self._conn
        if conn is not None and not conn.closed:
            return conn
        if self._connector is None:
            raise NoRouteError(self._offline_message, bus=self.name)
        if conn is not None:
            await conn.wait_closed()  # the old port must be released before it is reopened
            self._conn = None
        now = self._clock()
        if now < self._retry_at:
            raise PortUnavailableError(
                f"{self._connector.description} unavailable ({self._last_failure}); "
                f"next attempt in {self._retry_at - now:.0f} s",
                bus=self.name,
            )
        try:
            opened = await self._connector.open()
        except LinkError as exc:
            self._retry_at = self._clock() + self._backoff
            self._backoff = min(self._backoff * 2, self._backoff_max)
            self._last_failure = str(exc)
            self._set_health(False, str(exc))
            raise
        self._backoff = self._backoff_initial
        self._retry_at = 0.0
        self._install(opened)
        self._set_health(True, "")
        return opened

    def attach(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        description: str,
        stream_filter: StreamFilter | None = None,
        idle_timeout_s: float | None = None,
        initial: bytes = b"",
    ) -> asyncio.Task[None]:
        """Use an already open stream (a DTU that dialled in). Replaces any previous one.

        Returns the task reading the stream: it ends when the connection ends.
        """
        if self._closed:
            writer.close()
            raise BusClosedError(f"bus {self.name} is closed", bus=self.name)
        if self._conn is not None:
            self._lost(self._conn, "replaced by a new connection")
        conn = Connection(reader, writer, description, stream_filter, idle_timeout_s)
        task = self._install(conn)
        self._emit(Direction.INFO, b"", note=f"connected: {description}")
        if initial:
            self._on_data(conn, initial)
        return task

    def detach(self, reason: str = "closed by the gateway") -> None:
        if self._conn is not None:
            self._lost(self._conn, reason)

    def _install(self, conn: Connection) -> asyncio.Task[None]:
        self._conn = conn
        self._deframer.reset()
        self._reader = asyncio.get_running_loop().create_task(
            self._read_loop(conn), name=f"bus-{self.name}-reader"
        )
        return self._reader

    async def _read_loop(self, conn: Connection) -> None:
        reason = "closed by the other side"
        try:
            while True:
                if conn.idle_timeout_s is not None:
                    try:
                        async with asyncio.timeout(conn.idle_timeout_s):
                            chunk = await conn.reader.read(_READ_CHUNK)
                    except TimeoutError:
                        reason = f"silent for {conn.idle_timeout_s:.0f} s"
                        break
                else:
                    chunk = await conn.reader.read(_READ_CHUNK)
                if not chunk:
                    break
                self._on_data(conn, chunk)
        except asyncio.CancelledError:
            reason = "closed by the gateway"
            raise
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        finally:
            self._lost(conn, reason)

    def _lost(self, conn: Connection, reason: str) -> None:
        if conn.closed:
            return  # already handled
        conn.close()
        if self._conn is conn:
            self._deframer.reset()
            self._orphan_done.set()  # nothing more can arrive on this connection
            if self._reader is not None and self._reader is not asyncio.current_task():
                self._reader.cancel()
            self._reader = None
            self.stats.disconnects += 1
            # Reconnect at the next request: the line may be back already.
            self._retry_at = 0.0
        pending = self._pending
        if pending is not None and pending.conn is conn and not pending.future.done():
            pending.future.set_exception(
                TransportClosedError(
                    f"{conn.description} lost during the request to meter "
                    f"{pending.request.address}: {reason}",
                    bus=self.name,
                    request_sent=pending.sent,
                )
            )
        if self._closed:
            self._emit(Direction.INFO, b"", note=f"closed: {conn.description}")
        else:
            error = f"{TransportClosedError.code} {conn.description}: {reason}"
            self._emit(Direction.ERROR, b"", error=error)
        if self._connector is not None and not self._closed:
            self._set_health(False, f"connection lost: {reason}")
        elif self._connector is None:
            log.info("bus %s: %s disconnected (%s)", self.name, conn.description, reason)

    def _set_health(self, ok: bool, detail: str) -> None:
        # A failing transport is logged once, and its recovery once: not every poll.
        if ok and not self._healthy:
            log.info("bus %s: %s is working again", self.name, self.description)
        elif not ok and self._healthy:
            log.warning("bus %s: %s failed: %s", self.name, self.description, detail)
        self._healthy = ok

    async def close(self) -> None:
        """Stop the bus: waiting and future requests fail with BusClosedError."""
        self._closed = True
        self._gate.close()
        reader = self._reader
        conn = self._conn
        if conn is not None:
            self._lost(conn, "bus closed")
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        if conn is not None:
            await conn.wait_closed()

    # --- receiving --------------------------------------------------------------------------

    def _on_data(self, conn: Connection, chunk: bytes) -> None:
        if conn.stream_filter is not None:
            chunk, beats = conn.stream_filter(chunk)
            if beats:
                self.stats.heartbeats += beats
                self._emit(Direction.INFO, b"", note=f"{beats} heartbeat(s)")
            if not chunk:
                return
        pending = self._pending
        for item in self._deframer.feed(chunk):
            if isinstance(item, FrameError):
                self.stats.bad_frames += 1
                if pending is not None:
                    pending.corrupt += 1
                    pending.last_error = f"{item.code} {item}"
                self._emit(Direction.ERROR, item.raw, error=f"{item.code} {item}")
                continue
            if is_heartbeat_frame(item):
                self.stats.heartbeats += 1
                self._emit(Direction.RX, item.to_bytes(False), frame=item, note="heartbeat")
                continue
            if pending is not None and not pending.future.done() and matches(pending.request, item):
                pending.future.set_result(item)
                if self.trace:
                    self._emit(Direction.RX, item.to_bytes(False), frame=item)
                continue
            if pending is None and self._orphan_until:
                self._orphan_done.set()  # the abandoned request got its answer: line free
            self.stats.strays += 1
            if pending is not None:
                pending.strays += 1
            note = "stray: not a reply" if not item.from_meter else "stray: not the awaited reply"
            self._emit(Direction.RX, item.to_bytes(False), frame=item, note=note)

    def _emit(
        self,
        direction: Direction,
        raw: bytes,
        *,
        frame: Frame | None = None,
        error: str | None = None,
        note: str = "",
    ) -> None:
        if self.trace:
            self.trace.emit(
                TraceEvent(self.name, direction, raw, self._clock(), frame, error, note)
            )
