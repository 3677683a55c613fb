"""Buses built from configuration, and the route from a meter address to its bus."""

from __future__ import annotations

import pytest

from gateway.link import BusConfig, Buses, NoRouteError, TraceEvent
from gateway.link.timing import FixedTiming, LineTiming
from gateway.typedconfig import ConfigError, from_dict


def configs() -> list[BusConfig]:
    tables = [
        {"name": "cab-1", "kind": "serial", "port": "/dev/ttyUSB0", "baud": 9600},
        {"name": "server", "kind": "tcp", "port": "10.0.0.5:4001", "network_latency_ms": 300},
        {"name": "gprs", "kind": "dtu", "listen_port": 9000, "request_timeout_s": 15,
         "dtus": [{"id": "D1", "meters": ["7"]}, {"id": "D2", "meters": ["8", "9"]}]},
    ]  # fmt: skip
    return [from_dict(BusConfig, t, f"buses[{i}]") for i, t in enumerate(tables)]


def test_buses_from_config() -> None:
    buses = Buses(configs())
    assert sorted(b.name for b in buses) == ["cab-1", "gprs/D1", "gprs/D2", "server"]
    line = buses.bus("cab-1")
    assert line.timing == LineTiming(9600, 500, 0)
    assert line.description == "/dev/ttyUSB0 9600 8E1"
    assert buses.bus("server").timing == LineTiming(2400, 500, 300)
    assert buses.bus("server").description == "tcp://10.0.0.5:4001"
    assert buses.for_meter("9").name == "gprs/D2"
    assert buses.for_meter("000000000007").timing == FixedTiming(15.0)
    assert buses.for_meter("000000000001", "cab-1") is line
    with pytest.raises(NoRouteError):
        buses.for_meter("000000000001")
    with pytest.raises(NoRouteError):
        buses.bus("nope")


def test_one_trace_hook_for_every_bus() -> None:
    buses = Buses(configs())
    seen: list[TraceEvent] = []
    remove = buses.add_trace_hook(seen.append)
    assert all(bool(b.trace) for b in buses)
    remove()
    assert not any(bool(b.trace) for b in buses)


def test_duplicate_bus_names_are_refused() -> None:
    with pytest.raises(ConfigError, match="used twice"):
        Buses([*configs(), configs()[0]])
