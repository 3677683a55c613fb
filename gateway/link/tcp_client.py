"""TCP client transport for transparent serial servers (RS485 ↔ Ethernet converters)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from gateway.link.config import BusConfig, split_host_port
from gateway.link.connection import Connection
from gateway.link.errors import PortUnavailableError


@dataclass(frozen=True, slots=True)
class TcpConnector:
    host: str
    port: int
    open_timeout_s: float = 5.0

    @classmethod
    def from_config(cls, config: BusConfig) -> TcpConnector:
        parsed = split_host_port(config.port)
        if parsed is None:
            raise ValueError(f"not host:port: {config.port!r}")
        return cls(parsed[0], parsed[1], config.connect_timeout_ms / 1000)

    @classmethod
    def from_url(cls, url: str, open_timeout_s: float = 5.0) -> TcpConnector:
        parsed = split_host_port(url)
        if parsed is None:
            raise ValueError(f"not host:port: {url!r}")
        return cls(parsed[0], parsed[1], open_timeout_s)

    @property
    def description(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    async def open(self) -> Connection:
        try:
            async with asyncio.timeout(self.open_timeout_s):
                reader, writer = await asyncio.open_connection(self.host, self.port)
        except TimeoutError:
            raise PortUnavailableError(f"cannot connect to {self.description}: timed out") from None
        except OSError as exc:
            raise PortUnavailableError(f"cannot connect to {self.description}: {exc}") from exc
        return Connection(reader, writer, self.description)
