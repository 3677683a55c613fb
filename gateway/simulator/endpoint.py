"""Virtual meters on a wire: a serial port or pty, a TCP serial server, or a DTU dialling out.

All meters of a ``SimulatedBus`` share one RS485 line: every request reaches every meter, each
decides whether it is addressed, and at most one reply at a time goes back. The line itself is
modelled here:

- **Wire timing.** A pty or a socket delivers bytes instantly; a real line does not. A reply
  leaves ``reply_delay_ms`` after the request has fully arrived *on a real wire*, and takes its
  own transmission time, at 11 bits per byte (start + 8 data + parity + stop) at the baud rate.
  So the reply is written ``reply_delay_ms + (request bytes + reply bytes) × 11 / baud`` after
  the last byte of the request arrived here (the request counted with the 4 FE a master sends).
- **Collisions.** Two meters answering the same wildcard request (13H read-address with several
  meters on the line) talk over each other. The bus sends the bytes ANDed together (a driven 0
  wins on RS485) and never lets that garbage form a valid frame: on a real line the UART's
  parity and framing errors corrupt it just as surely.
- **Faults** of each meter (``Faults``): dropped replies, extra delay, garbled bytes, bad
  checksum, no preamble. A silent meter is handled by the meter itself.

``answer`` is the sans-IO core (frame in, bytes and delay out); the ``serve_*``/``dial_dtu``
coroutines only move bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from gateway.dlt645 import Deframer, Frame, FrameError, Function
from gateway.dlt645.dataids import di_to_wire
from gateway.dlt645.frame import DIRECTION
from gateway.simulator.meter import VirtualMeter

log = logging.getLogger(__name__)

BITS_PER_BYTE = 11
DTU_REGISTRATION_DI = 0x80808080
Registration = Literal["frame", "ascii"]
_READ_CHUNK = 4096
_MAX_DTU_ID = 200  # fits one frame's DATA after the DI


def local_now() -> dt.datetime:
    """The host's local time, naive: meters keep local time and know no time zones."""
    return dt.datetime.now()


@dataclass
class BusStats:
    requests: int = 0  # request frames received (broadcasts included)
    replies: int = 0  # replies put on the wire (a collision counts once)
    dropped: int = 0  # replies lost to the drop-rate fault
    collisions: int = 0
    bad_frames: int = 0  # undecodable bytes from the master (bad checksum, ...)


@dataclass(frozen=True, slots=True)
class Answer:
    """What goes back on the wire, and when: ``delay_us`` after the request's last byte."""

    raw: bytes
    delay_us: int


def wire_us(nbytes: int, baud: int) -> int:
    """Transmission time of ``nbytes`` at ``baud``, in microseconds (rounded up)."""
    return -(-nbytes * BITS_PER_BYTE * 1_000_000 // baud)


def default_parity(url: str) -> str:
    """8E1 is DL/T 645's framing, but a pty rejects parity E (termios EINVAL): use N there."""
    if "://" in url:
        return "E"  # socket://, rfc2217://: the far end takes any setting
    return "N" if os.path.realpath(url).startswith("/dev/pts/") else "E"


def registration_packet(dtu_id: str, kind: Registration, address: str) -> bytes:
    """The packet a DTU sends on connect and as its heartbeat.

    ``ascii``: the id itself then CR LF. ``frame``: a DL/T 645 read reply of DI 80808080 from
    ``address`` carrying the id as ASCII after the DI.
    """
    if not dtu_id or len(dtu_id) > _MAX_DTU_ID or not dtu_id.isascii() or not dtu_id.isprintable():
        raise ValueError(f"DTU id {dtu_id!r} must be 1..{_MAX_DTU_ID} printable ASCII characters")
    ident = dtu_id.encode("ascii")
    if kind == "ascii":
        return ident + b"\r\n"
    if kind == "frame":
        data = di_to_wire(DTU_REGISTRATION_DI) + ident
        return Frame(address, Function.READ | DIRECTION, data).to_bytes()
    raise ValueError(f"registration must be 'ascii' or 'frame', got {kind!r}")


def collide(replies: Sequence[bytes]) -> bytes:
    """What a master hears when several meters transmit at once."""
    width = max(len(r) for r in replies)
    out = bytearray(b"\xff" * width)  # an idle RS485 line reads as 1s
    for raw in replies:
        for i, byte in enumerate(raw):
            out[i] &= byte
    if any(isinstance(item, Frame) for item in Deframer().feed(bytes(out))):
        out[-2] ^= 0xFF  # parity/framing errors would have spoilt it: never a valid frame
    return bytes(out)


class SimulatedBus:
    """Meters sharing one line. ``stats`` counts what crossed it."""

    def __init__(
        self,
        meters: Sequence[VirtualMeter],
        *,
        baud: int = 2400,
        wire_timing: bool = True,
        reply_delay_ms: int = 20,
        clock: Callable[[], dt.datetime] = local_now,
    ) -> None:
        if baud <= 0:
            raise ValueError(f"baud {baud} must be positive")
        if reply_delay_ms < 0:
            raise ValueError(f"reply delay {reply_delay_ms} ms must not be negative")
        self.meters = list(meters)
        self.baud = baud
        self.wire_timing = wire_timing
        self.reply_delay_ms = reply_delay_ms
        self.clock = clock
        self.stats = BusStats()
        # Sees every frame crossing the line: ("rx", request bytes) and ("tx", reply bytes).
        self.trace: Callable[[str, bytes], None] | None = None
        self._last = clock()

    # --- the line, sans IO ------------------------------------------------------------------

    def advance(self) -> dt.datetime:
        """Bring every meter's consumption up to the clock's now; return that now."""
        now = self.clock()
        elapsed = now - self._last
        if elapsed > dt.timedelta(0):
            for meter in self.meters:
                meter.advance(elapsed, now)
        self._last = now  # a clock stepped backwards just restarts the count from there
        return now

    def answer(self, request: Frame) -> Answer | None:
        """Deliver ``request`` to every meter; the bytes that come back, if any."""
        if request.from_meter:
            return None
        now = self.advance()
        self.stats.requests += 1
        heard: list[tuple[bytes, int]] = []
        for meter in self.meters:
            baud = meter.baud or self.baud  # before handling: 17H replies at the old rate
            reply = meter.handle(request, now)
            if reply is None:
                continue
            raw = meter.faults.encode(reply)
            if raw is None:
                self.stats.dropped += 1
                continue
            heard.append((raw, self._delay_us(request, raw, baud, meter.faults.extra_delay_ms)))
        if not heard:
            return None
        self.stats.replies += 1
        if len(heard) == 1:
            return Answer(*heard[0])
        self.stats.collisions += 1
        return Answer(collide([raw for raw, _ in heard]), max(delay for _, delay in heard))

    def _delay_us(self, request: Frame, reply: bytes, baud: int, extra_ms: int) -> int:
        delay = (self.reply_delay_ms + extra_ms) * 1000
        if self.wire_timing:
            delay += wire_us(len(request.to_bytes()) + len(reply), baud)
        return delay

    # --- moving bytes -----------------------------------------------------------------------

    async def serve_stream(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        lock: asyncio.Lock | None = None,
    ) -> None:
        """Answer requests from one connection until it closes. One reply at a time."""
        loop = asyncio.get_running_loop()
        deframer = Deframer()
        lock = lock or asyncio.Lock()
        while True:
            chunk = await reader.read(_READ_CHUNK)
            if not chunk:
                return
            arrived = loop.time()
            for item in deframer.feed(chunk):
                if isinstance(item, FrameError):
                    self.stats.bad_frames += 1  # a real meter drops these silently
                    continue
                if self.trace is not None:
                    self.trace("rx", item.to_bytes(preamble=False))
                async with lock:
                    answer = self.answer(item)
                    if answer is None:
                        continue
                    await asyncio.sleep(max(0.0, arrived + answer.delay_us / 1e6 - loop.time()))
                    writer.write(answer.raw)
                    await writer.drain()
                    if self.trace is not None:
                        self.trace("tx", answer.raw)
                arrived = loop.time()  # a request queued behind this reply starts now

    async def serve_serial(
        self,
        url: str,
        *,
        parity: str | None = None,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        """Serve on a serial device, pty or pyserial URL until cancelled (8E1; N on ptys).

        ``on_ready`` is called once the port is open: opening flushes the input, so bytes sent
        before then are lost, as on a real port.
        """
        import serial_asyncio_fast

        reader, writer = await serial_asyncio_fast.open_serial_connection(
            url=url,
            baudrate=self.baud,
            bytesize=8,
            parity=parity or default_parity(url),
            stopbits=1,
        )
        if on_ready is not None:
            on_ready()
        try:
            await self.serve_stream(reader, writer)
        finally:
            writer.close()

    async def serve_tcp(self, host: str, port: int) -> asyncio.Server:
        """A serial-server-like TCP endpoint; each connection is a bus to the same meters."""
        return await asyncio.start_server(self._serve_connection, host, port)

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            await self.serve_stream(reader, writer)
        except ConnectionError:
            pass  # the master went away; nothing to answer any more
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def dial_dtu(
        self,
        host: str,
        port: int,
        *,
        dtu_id: str,
        registration: Registration = "ascii",
        heartbeat_s: float = 60,
        on_connected: Callable[[], None] | None = None,
    ) -> None:
        """Connect like a GPRS/4G DTU: register, then serve frames; return when disconnected.

        Heartbeats (the registration packet again, every ``heartbeat_s``) only go out between
        conversations, never between a request and its reply.
        """
        if not self.meters:
            raise ValueError("a DTU needs at least one meter behind it")
        if heartbeat_s <= 0:
            raise ValueError(f"heartbeat interval {heartbeat_s} s must be positive")
        packet = registration_packet(dtu_id, registration, self.meters[0].address)
        reader, writer = await asyncio.open_connection(host, port)
        if on_connected is not None:
            on_connected()
        lock = asyncio.Lock()

        async def heartbeat() -> None:
            while True:
                await asyncio.sleep(heartbeat_s)
                async with lock:
                    writer.write(packet)
                    await writer.drain()

        beat: asyncio.Task[None] | None = None
        try:
            writer.write(packet)
            await writer.drain()
            beat = asyncio.create_task(heartbeat())
            await self.serve_stream(reader, writer, lock=lock)
        except ConnectionError:
            pass  # the gateway hung up: a DTU just dials again later
        finally:
            if beat is not None:
                beat.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                    await beat
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def run_clock(self, interval_s: float = 1.0) -> None:
        """Keep consumption running between requests (balances fall, relays trip on time)."""
        while True:
            await asyncio.sleep(interval_s)
            self.advance()


def address_range(meters: Sequence[VirtualMeter]) -> str:
    """'000000000001..000000000003' for the start-up line."""
    if not meters:
        return "(none)"
    if len(meters) == 1:
        return meters[0].address
    return f"{meters[0].address}..{meters[-1].address}"
