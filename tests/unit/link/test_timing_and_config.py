"""Reply timeouts from the baud rate, and bus configuration errors that name the key."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from gateway.dlt645 import commands as cmd
from gateway.link.config import BusConfig, check_buses, split_host_port
from gateway.link.timing import FixedTiming, LineTiming, longest_reply_bytes, wire_seconds
from gateway.typedconfig import ConfigError, from_dict

A1 = "000000000001"


def test_a_byte_takes_11_bits() -> None:
    assert wire_seconds(1, 2400) == pytest.approx(0.004583, abs=1e-6)
    assert wire_seconds(240, 2400) == 1.1


def test_line_timeout_is_window_plus_request_and_longest_reply_on_the_wire() -> None:
    request = cmd.read_data(A1, 0x00010000)  # 4 FE + 16 bytes
    raw = request.to_bytes()
    assert len(raw) == 20
    # reply: up to 4 FE + 12 framing + DI(4) + value(4)
    assert longest_reply_bytes(request) == 24
    timing = LineTiming(2400, 500)
    assert timing.reply_timeout(request, len(raw)) == pytest.approx(0.5 + 44 * 11 / 2400)
    assert LineTiming(9600, 500).reply_timeout(request, len(raw)) == pytest.approx(
        0.5 + 44 * 11 / 9600
    )
    assert LineTiming(2400, 500, extra_latency_ms=300).reply_timeout(
        request, len(raw)
    ) == pytest.approx(0.8 + 44 * 11 / 2400)


def test_longest_reply_per_function() -> None:
    assert longest_reply_bytes(cmd.read_data(A1, 0x0001FF00)) == 16 + 4 + 20
    assert longest_reply_bytes(cmd.read_data(A1, 0x03330201)) == 16 + 4 + 4  # 4-byte variant
    assert longest_reply_bytes(cmd.read_data(A1, 0x12345678)) == 16 + 255  # unknown DI
    assert longest_reply_bytes(cmd.read_address()) == 16 + 6
    assert longest_reply_bytes(cmd.status_query(A1, "0")) == 16 + 34
    relay = cmd.relay(A1, cmd.RelayAction.TRIP, dt.datetime(2099, 1, 1),
                      cmd.Password())  # fmt: skip
    assert longest_reply_bytes(relay) == 17


def test_dtu_timing_is_fixed_seconds() -> None:
    assert FixedTiming(12).reply_timeout(cmd.read_address(), 16) == 12


SERIAL: dict[str, Any] = {"name": "cab-1", "kind": "serial", "port": "/dev/ttyUSB0"}
DTU: dict[str, Any] = {
    "name": "gprs",
    "kind": "dtu",
    "listen_port": 9000,
    "dtus": [{"id": "DTU0001", "meters": ["1", "000000000002"]}],
}


def test_defaults_are_8e1_at_2400() -> None:
    config = from_dict(BusConfig, SERIAL, "buses[0]")
    assert (config.baud, config.parity, config.stop_bits, config.reply_window_ms) == (
        2400, "E", 1, 500,
    )  # fmt: skip


def test_dtu_meters_are_normalised() -> None:
    config = from_dict(BusConfig, DTU, "buses[1]")
    assert config.dtus[0].meters == ("000000000001", "000000000002")


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        ({"baud": 2500}, "buses[0].baud", "must be one of"),
        ({"parity": "X"}, "buses[0].parity", "must be one of"),
        ({"port": ""}, "buses[0].port", "required"),
        ({"reply_window_ms": 5}, "buses[0].reply_window_ms", "between 20"),
        ({"retries": 9}, "buses[0].retries", "between 0 and 5"),
        ({"kind": "tcp", "port": "nohost"}, "buses[0].port", "host:port"),
        ({"speed": 9600}, "buses[0].speed", "unknown key"),
        ({"rs485": {"enabled": True, "delay_before_tx_ms": -1}}, "buses[0].rs485.delay", "between"),
    ],
)
def test_bad_serial_config_names_the_key(change: dict[str, Any], key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        from_dict(BusConfig, {**SERIAL, **change}, "buses[0]")
    assert caught.value.key.startswith(key)
    assert problem in caught.value.problem


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        ({"listen_port": 0}, "buses[1].listen_port", "required"),
        ({"dtus": []}, "buses[1].dtus", "at least one"),
        ({"dtus": [{"id": "has space"}]}, "buses[1].dtus[0].id", "printable"),
        ({"dtus": [{"id": "D1", "meters": ["12x"]}]}, "buses[1].dtus[0].meters", "12 digits"),
        ({"dtus": [{"id": "D1", "meters": ["1"]}, {"id": "D2", "meters": ["1"]}]}, "buses[1].dtus",
         "behind both"),
        ({"recognisers": ["morse"]}, "buses[1].recognisers", "non-empty list"),
    ],
)  # fmt: skip
def test_bad_dtu_config_names_the_key(change: dict[str, Any], key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        from_dict(BusConfig, {**DTU, **change}, "buses[1]")
    assert caught.value.key.startswith(key)
    assert problem in caught.value.problem


def test_checks_across_buses() -> None:
    a = from_dict(BusConfig, SERIAL)
    with pytest.raises(ConfigError, match="used twice"):
        check_buses([a, a])
    d1 = from_dict(BusConfig, DTU)
    d2 = from_dict(BusConfig, {**DTU, "name": "gprs2", "listen_port": 9001})
    with pytest.raises(ConfigError, match="also behind gprs/DTU0001"):
        check_buses([d1, d2])


def test_host_port_forms() -> None:
    assert split_host_port("socket://10.0.0.5:4001") == ("10.0.0.5", 4001)
    assert split_host_port("tcp://meterbox:4001") == ("meterbox", 4001)
    assert split_host_port("127.0.0.1:80") == ("127.0.0.1", 80)
    assert split_host_port("[::1]:80") == ("::1", 80)
    assert split_host_port("host") is None
    assert split_host_port("host:99999") is None


def test_the_documented_example_is_valid() -> None:
    import tomllib
    from pathlib import Path

    from gateway.link import Buses

    doc = (Path(__file__).parents[3] / "docs" / "commissioning.md").read_text()
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    tables = tomllib.loads(example)["buses"]
    configs = [from_dict(BusConfig, t, f"buses[{i}]") for i, t in enumerate(tables)]
    buses = Buses(configs)
    assert buses.for_meter("240101000018").name == "gprs/DTU0001"
    assert [c.kind for c in configs] == ["serial", "tcp", "dtu"]
