"""Serial transport: a local UART/USB adapter or any pyserial URL, via pyserial-asyncio-fast.

8E1 at 2400 bps unless configured otherwise. Kernel RS485 mode is applied only when configured:
USB adapters switch direction themselves, and ptys refuse the ioctl (ENOTTY).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import serial
import serial.rs485
import serial_asyncio_fast

from gateway.link.config import BusConfig, Rs485Config
from gateway.link.connection import Connection
from gateway.link.errors import PortUnavailableError

_PARITY = {"N": serial.PARITY_NONE, "E": serial.PARITY_EVEN, "O": serial.PARITY_ODD}
_STOP = {1: serial.STOPBITS_ONE, 2: serial.STOPBITS_TWO}


@dataclass(frozen=True, slots=True)
class SerialConnector:
    url: str
    baud: int = 2400
    parity: str = "E"
    stop_bits: int = 1
    rs485: Rs485Config = field(default_factory=Rs485Config)
    open_timeout_s: float = 5.0

    @classmethod
    def from_config(cls, config: BusConfig) -> SerialConnector:
        return cls(
            config.port,
            config.baud,
            config.parity,
            config.stop_bits,
            config.rs485,
            config.connect_timeout_ms / 1000,
        )

    @property
    def description(self) -> str:
        return f"{self.url} {self.baud} 8{self.parity}{self.stop_bits}"

    async def open(self) -> Connection:
        is_url = "://" in self.url
        kwargs: dict[str, Any] = {
            "url": self.url,
            "baudrate": self.baud,
            "bytesize": serial.EIGHTBITS,
            "parity": _PARITY[self.parity],
            "stopbits": _STOP[self.stop_bits],
        }
        if not is_url:
            kwargs["exclusive"] = True  # two programs on one RS485 line corrupt each other
        try:
            async with asyncio.timeout(self.open_timeout_s):
                reader, writer = await serial_asyncio_fast.open_serial_connection(**kwargs)
        except TimeoutError:
            raise PortUnavailableError(f"cannot open {self.description}: timed out") from None
        except Exception as exc:  # SerialException, termios.error (not an OSError), ValueError
            hint = ""
            if "Invalid argument" in str(exc) and self.parity != "N":
                hint = " (pseudo-terminals accept parity N only)"
            raise PortUnavailableError(f"cannot open {self.description}: {exc}{hint}") from exc
        if self.rs485.enabled:
            self._enable_rs485(writer)
        return Connection(reader, writer, self.description)

    def _enable_rs485(self, writer: asyncio.StreamWriter) -> None:
        port = writer.transport.get_extra_info("serial")
        settings = serial.rs485.RS485Settings(
            rts_level_for_tx=self.rs485.rts_level_for_tx,
            rts_level_for_rx=self.rs485.rts_level_for_rx,
            delay_before_tx=self.rs485.delay_before_tx_ms / 1000 or None,
            delay_before_rx=self.rs485.delay_before_rx_ms / 1000 or None,
        )
        try:
            port.rs485_mode = settings
        except (OSError, ValueError, AttributeError) as exc:
            writer.close()
            raise PortUnavailableError(
                f"{self.url} does not support kernel RS485 mode ({exc}); "
                "set rs485.enabled = false for USB adapters"
            ) from exc
