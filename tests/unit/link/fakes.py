"""A scriptable meter at the far end of a real socket pair: the bus's boundary, nothing mocked.

The meter side can split replies into pieces, delay them, drop them, add noise and answer for
other addresses: what an RS485 line does to a gateway.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from gateway.dlt645 import Deframer, Frame, Function
from gateway.dlt645 import commands as cmd
from gateway.dlt645.dataids import di_from_wire
from gateway.link.connection import Connection
from gateway.link.errors import PortUnavailableError

# What the meter sends back for a request: a list of (delay seconds, bytes) pieces.
Script = list[tuple[float, bytes]]
Handler = Callable[[Frame], Script | Awaitable[Script]]


def reply_bytes(frame: Frame, preamble: bool = True) -> Script:
    return [(0.0, frame.to_bytes(preamble))]


def read_reply(request: Frame, address: str, value: bytes, more: bool = False) -> Frame:
    return cmd.reply_to(request, address, request.data[:4] + value, more=more)


@dataclass
class FakeMeter:
    """Answers reads from ``registers`` (DI → value bytes) unless ``handler`` is given."""

    address: str = "000000000001"
    registers: dict[int, bytes] = field(default_factory=dict)
    handler: Handler | None = None
    received: list[Frame] = field(default_factory=list)
    outstanding: int = 0
    max_outstanding: int = 0
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    def default(self, request: Frame) -> Script:
        if request.address != self.address:
            return []
        if request.function == Function.READ:
            di = di_from_wire(request.data)
            if di in self.registers:
                return reply_bytes(read_reply(request, self.address, self.registers[di]))
            return reply_bytes(cmd.error_reply(request, self.address, cmd.ErrFlag.NO_SUCH_DATA))
        return reply_bytes(cmd.reply_to(request, self.address))

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        deframer = Deframer()
        try:
            while chunk := await reader.read(4096):
                for item in deframer.feed(chunk):
                    if not isinstance(item, Frame):
                        continue
                    self.received.append(item)
                    self.outstanding += 1
                    self.max_outstanding = max(self.max_outstanding, self.outstanding)
                    result = self.handler(item) if self.handler else self.default(item)
                    script = await result if asyncio.iscoroutine(result) else result
                    assert isinstance(script, list)
                    for delay, piece in script:
                        if delay:
                            await asyncio.sleep(delay)
                        writer.write(piece)
                    self.outstanding -= 1
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


class SocketPairConnector:
    """Opens a fresh socket pair per connection and runs ``meter`` on the far end."""

    def __init__(self, meter: FakeMeter, *, fail: bool = False) -> None:
        self.meter = meter
        self.fail = fail
        self.opens = 0
        self.tasks: list[asyncio.Task[None]] = []

    @property
    def description(self) -> str:
        return "socketpair"

    async def open(self) -> Connection:
        self.opens += 1
        if self.fail:
            raise PortUnavailableError("cannot open socketpair: switched off by the test")
        ours, theirs = socket.socketpair()
        reader, writer = await asyncio.open_connection(sock=ours)
        m_reader, m_writer = await asyncio.open_connection(sock=theirs)
        self.tasks.append(asyncio.create_task(self.meter.serve(m_reader, m_writer)))
        return Connection(reader, writer, self.description)

    def pull_cable(self) -> None:
        for writer in self.meter.writers:
            writer.close()


async def eventually(
    predicate: Callable[[], object], within_s: float = 5.0, what: str = ""
) -> None:
    """Poll ``predicate`` until true; fail after ``within_s`` seconds (generous for loaded CI)."""
    steps = int(within_s / 0.005)
    for _ in range(steps):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"timed out after {within_s} s waiting for {what or predicate}")
