"""What a transport hands the bus: an open byte stream, and how to open one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

# Removes packets that are not frames (a DTU's ASCII heartbeat) from received bytes;
# returns the remaining bytes and how many packets were removed.
StreamFilter = Callable[[bytes], tuple[bytes, int]]


@dataclass(eq=False)
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    description: str
    stream_filter: StreamFilter | None = None
    idle_timeout_s: float | None = None  # close when nothing arrives for this long (DTUs)
    closed: bool = field(default=False, init=False)

    def close(self) -> None:
        self.closed = True
        # Closing a broken transport may raise; it is gone either way.
        with contextlib.suppress(Exception):
            self.writer.close()

    async def wait_closed(self, within_s: float = 2.0) -> None:
        """Until the port is really released (a serial port closes in a worker thread, and an
        exclusive lock held a moment longer would make reopening it fail)."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(within_s):
                await self.writer.wait_closed()


class Connector(Protocol):
    """Opens a connection on demand (serial port, serial server); raises PortUnavailableError."""

    @property
    def description(self) -> str: ...

    async def open(self) -> Connection: ...
