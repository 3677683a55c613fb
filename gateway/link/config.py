"""Bus configuration: one ``[[buses]]`` table per RS485 line, serial server or DTU listener.

Built with ``gateway.typedconfig.from_dict(BusConfig, table, "buses[0]")``; every check names the
key it is about.

    [[buses]]
    name = "cabinet-1"
    kind = "serial"            # serial | tcp | dtu
    port = "/dev/ttyUSB0"      # or a pyserial URL such as socket://10.0.0.5:4001
    baud = 2400
    parity = "E"

    [[buses]]
    name = "gprs"
    kind = "dtu"
    listen_port = 9000
    [[buses.dtus]]
    id = "DTU0001"
    meters = ["000000000001", "000000000002"]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from gateway.dlt645 import address as addr
from gateway.dlt645.errors import ValueFormatError
from gateway.typedconfig import ConfigError

BAUD_RATES = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
RECOGNISERS = ("ascii", "frame")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
_DTU_ID = re.compile(r"^[\x21-\x7e]{1,64}$")

Kind = Literal["serial", "tcp", "dtu"]
Parity = Literal["N", "E", "O"]


@dataclass(frozen=True, slots=True)
class Rs485Config:
    """Kernel RS485 mode (RTS drives the transceiver). Only for UARTs whose driver supports it."""

    enabled: bool = False
    rts_level_for_tx: bool = True
    rts_level_for_rx: bool = False
    delay_before_tx_ms: int = 0
    delay_before_rx_ms: int = 0

    def __post_init__(self) -> None:
        for key in ("delay_before_tx_ms", "delay_before_rx_ms"):
            if not 0 <= getattr(self, key) <= 1000:
                raise ConfigError(key, "must be between 0 and 1000 ms")


@dataclass(frozen=True, slots=True)
class DtuConfig:
    """A DTU allowed to dial in, and the meters on its RS485 side."""

    id: str
    meters: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if not _DTU_ID.match(self.id):
            raise ConfigError("id", "must be 1..64 printable ASCII characters without spaces")
        try:
            normalised = tuple(addr.normalise(m) for m in self.meters)
        except ValueFormatError as exc:
            raise ConfigError("meters", str(exc)) from None
        if any("A" in m for m in normalised):
            raise ConfigError("meters", "meter addresses must be digits only")
        if len(set(normalised)) != len(normalised):
            raise ConfigError("meters", "lists a meter address twice")
        object.__setattr__(self, "meters", normalised)


@dataclass(frozen=True, slots=True)
class BusConfig:
    name: str
    kind: Kind
    # serial: a device path (/dev/ttyUSB0) or pyserial URL (socket://host:port, rfc2217://...);
    # tcp: host:port or socket://host:port of a transparent serial server.
    port: str = ""
    baud: int = 2400
    parity: Parity = "E"
    stop_bits: Literal[1, 2] = 1
    rs485: Rs485Config = field(default_factory=Rs485Config)
    reply_window_ms: int = 500
    network_latency_ms: int = 0  # a serial server's network hop, added to the reply window
    retries: int = 2
    preamble: bool = True
    inter_frame_gap_ms: int = 0
    connect_timeout_ms: int = 5000
    # dtu: the gateway listens; GPRS/4G modules dial in.
    listen_host: str = "0.0.0.0"  # DTUs dial in from the cellular network
    listen_port: int = 0
    dtus: tuple[DtuConfig, ...] = ()
    request_timeout_s: int = 10
    idle_timeout_s: int = 300
    registration_timeout_s: int = 20
    max_unidentified: int = 16
    recognisers: tuple[str, ...] = RECOGNISERS

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigError("name", "must be 1..40 letters, digits, '_', '.' or '-'")
        if self.kind in ("serial", "tcp") and not self.port:
            raise ConfigError("port", f"is required for a {self.kind} bus")
        if self.kind == "tcp" and split_host_port(self.port) is None:
            raise ConfigError("port", f"{self.port!r} is not host:port or socket://host:port")
        if self.baud not in BAUD_RATES:
            raise ConfigError("baud", f"must be one of {', '.join(map(str, BAUD_RATES))}")
        if not 20 <= self.reply_window_ms <= 10_000:
            raise ConfigError("reply_window_ms", "must be between 20 and 10000")
        if not 0 <= self.network_latency_ms <= 30_000:
            raise ConfigError("network_latency_ms", "must be between 0 and 30000")
        if not 0 <= self.retries <= 5:
            raise ConfigError("retries", "must be between 0 and 5")
        if not 0 <= self.inter_frame_gap_ms <= 5000:
            raise ConfigError("inter_frame_gap_ms", "must be between 0 and 5000")
        if not 100 <= self.connect_timeout_ms <= 60_000:
            raise ConfigError("connect_timeout_ms", "must be between 100 and 60000")
        if self.kind == "dtu":
            self._check_dtu()
        elif self.dtus:
            raise ConfigError("dtus", "only a bus of kind 'dtu' has DTUs")

    def _check_dtu(self) -> None:
        if not 1 <= self.listen_port <= 65535:
            raise ConfigError("listen_port", "is required for a dtu bus (1..65535)")
        if not self.dtus:
            raise ConfigError("dtus", "list at least one DTU allowed to dial in")
        ids = [d.id for d in self.dtus]
        if len(set(ids)) != len(ids):
            raise ConfigError("dtus", "a DTU id is listed twice")
        seen: dict[str, str] = {}
        for dtu in self.dtus:
            for meter in dtu.meters:
                if meter in seen:
                    raise ConfigError(
                        "dtus", f"meter {meter} is behind both {seen[meter]} and {dtu.id}"
                    )
                seen[meter] = dtu.id
        if not 1 <= self.request_timeout_s <= 120:
            raise ConfigError("request_timeout_s", "must be between 1 and 120")
        if not 1 <= self.idle_timeout_s <= 86_400:
            raise ConfigError("idle_timeout_s", "must be between 1 and 86400")
        if not 1 <= self.registration_timeout_s <= 300:
            raise ConfigError("registration_timeout_s", "must be between 1 and 300")
        if not 1 <= self.max_unidentified <= 1000:
            raise ConfigError("max_unidentified", "must be between 1 and 1000")
        unknown = [r for r in self.recognisers if r not in RECOGNISERS]
        if unknown or not self.recognisers:
            raise ConfigError(
                "recognisers", f"must be a non-empty list of {', '.join(RECOGNISERS)}"
            )


def split_host_port(text: str) -> tuple[str, int] | None:
    """'host:port', 'socket://host:port' or 'tcp://host:port' → (host, port); None if malformed."""
    rest = text
    for scheme in ("socket://", "tcp://"):
        if rest.startswith(scheme):
            rest = rest[len(scheme) :]
            break
    rest = rest.split("?", 1)[0].rstrip("/")
    host, sep, port = rest.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        return None
    return host, int(port)


def check_buses(buses: Sequence[BusConfig], key: str = "buses") -> None:
    """Checks across buses: unique names and listening ports, no meter behind two DTUs."""
    names: set[str] = set()
    ports: set[int] = set()
    meters: dict[str, str] = {}
    for i, bus in enumerate(buses):
        if bus.name in names:
            raise ConfigError(f"{key}[{i}].name", f"bus name {bus.name!r} is used twice")
        names.add(bus.name)
        if bus.kind == "dtu":
            if bus.listen_port in ports:
                raise ConfigError(
                    f"{key}[{i}].listen_port", f"port {bus.listen_port} is used twice"
                )
            ports.add(bus.listen_port)
            for dtu in bus.dtus:
                for meter in dtu.meters:
                    if meter in meters:
                        raise ConfigError(
                            f"{key}[{i}].dtus", f"meter {meter} is also behind {meters[meter]}"
                        )
                    meters[meter] = f"{bus.name}/{dtu.id}"
