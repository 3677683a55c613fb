"""All buses of a gateway, built from configuration, and the route from a meter to its bus."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

from gateway.dlt645 import address as addr
from gateway.link.bus import Bus
from gateway.link.config import BusConfig, check_buses
from gateway.link.dtu_server import DtuServer
from gateway.link.errors import NoRouteError
from gateway.link.serial_port import SerialConnector
from gateway.link.tcp_client import TcpConnector
from gateway.link.timing import FixedTiming, LineTiming
from gateway.link.trace import TraceHook


def build_line_bus(config: BusConfig, clock: Callable[[], float] = time.monotonic) -> Bus:
    """A serial or TCP (serial server) bus from its configuration."""
    if config.kind == "serial":
        connector: SerialConnector | TcpConnector = SerialConnector.from_config(config)
    elif config.kind == "tcp":
        connector = TcpConnector.from_config(config)
    else:
        raise ValueError(f"bus {config.name} is a {config.kind} bus, not a line")
    timing = LineTiming(config.baud, config.reply_window_ms, config.network_latency_ms)
    return Bus(
        config.name,
        timing=timing,
        connector=connector,
        retries=config.retries,
        preamble=config.preamble,
        inter_frame_gap_ms=config.inter_frame_gap_ms,
        clock=clock,
    )


def build_dtu_buses(
    config: BusConfig, clock: Callable[[], float] = time.monotonic
) -> tuple[DtuServer, dict[str, Bus]]:
    """The listener of a DTU bus and one bus per allowed DTU (named ``<bus>/<dtu id>``)."""
    buses = {
        dtu.id: Bus(
            f"{config.name}/{dtu.id}",
            timing=FixedTiming(float(config.request_timeout_s)),
            retries=config.retries,
            preamble=config.preamble,
            inter_frame_gap_ms=config.inter_frame_gap_ms,
            offline_message=(
                f"DTU {dtu.id} is offline: it has not dialled in to port {config.listen_port}"
            ),
            clock=clock,
        )
        for dtu in config.dtus
    }
    return DtuServer(config, buses), buses


class Buses:
    """Every bus of the gateway. ``start`` opens the DTU listeners; line buses open on demand."""

    def __init__(
        self, configs: Sequence[BusConfig], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        check_buses(configs)
        self._buses: dict[str, Bus] = {}
        self._routes: dict[str, Bus] = {}  # meter address → bus, for meters behind DTUs
        self.servers: dict[str, DtuServer] = {}
        for config in configs:
            if config.kind == "dtu":
                server, per_dtu = build_dtu_buses(config, clock)
                self.servers[config.name] = server
                for dtu in config.dtus:
                    bus = per_dtu[dtu.id]
                    self._buses[bus.name] = bus
                    for meter in dtu.meters:
                        self._routes[meter] = bus
            else:
                self._buses[config.name] = build_line_bus(config, clock)

    async def start(self) -> None:
        started: list[DtuServer] = []
        try:
            for server in self.servers.values():
                await server.start()
                started.append(server)
        except BaseException:
            for server in started:
                await server.close()
            raise

    async def close(self) -> None:
        for server in self.servers.values():
            await server.close()
        for bus in self._buses.values():
            await bus.close()

    def __iter__(self) -> Iterator[Bus]:
        return iter(self._buses.values())

    def all(self) -> list[Bus]:
        return list(self._buses.values())

    def bus(self, name: str) -> Bus:
        try:
            return self._buses[name]
        except KeyError:
            raise NoRouteError(f"no bus named {name!r} is configured") from None

    def for_meter(self, address: str, bus_name: str | None = None) -> Bus:
        """The bus of a meter: its DTU's bus, else the named line bus (from the meter's config)."""
        routed = self._routes.get(addr.normalise(address))
        if routed is not None:
            return routed
        if bus_name is not None:
            bus = self._buses.get(bus_name)
            if bus is not None:
                return bus
            # A DTU bus is named by its listener in the meter's config: any of its DTUs may do.
            raise NoRouteError(
                f"meter {address}: bus {bus_name!r} is not configured or lists no route"
            )
        raise NoRouteError(f"meter {address} is not behind any configured DTU and names no bus")

    def add_trace_hook(self, hook: TraceHook) -> Callable[[], None]:
        """Trace every bus; returns a callable that removes the hook everywhere."""
        removers = [bus.trace.add(hook) for bus in self._buses.values()]

        def remove() -> None:
            for remover in removers:
                remover()

        return remove
