"""`prepaid-gateway meter` against the simulator: real subprocesses over a real pty pair."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.integration.link.conftest import PtySim

Cli = Callable[..., Any]
A1, A2, A3 = "000000000001", "000000000002", "000000000003"


def common(sim: PtySim) -> list[str]:
    return ["--port", sim.port, "--baud", "9600", "--parity", "N"]


def rows(stdout: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in stdout.splitlines()]


async def test_read_energy_money_status_and_address_as_json(pty_sim: PtySim, cli: Cli) -> None:
    meter = pty_sim.meter(A2)
    meter.energy_cwh = 123456
    meter.remaining = 8765
    code, out, err = await cli(
        "meter", "read", *common(pty_sim), "--address", "2", "--json",
        "--di", "forward_active_total", "--di", "00900200", "--di", "status_word_3",
        "--di", "comm_address", "--di", "status_block",
    )  # fmt: skip
    assert code == 0, err
    got = {r["name"]: r for r in rows(out)}
    assert got["forward_active_total"] == {
        "address": A2, "di": "00010000", "name": "forward_active_total",
        "value": "1234.56", "unit": "kWh",
    }  # fmt: skip
    assert got["remaining_money"]["value"] == "87.65"
    assert got["remaining_money"]["unit"] == "yuan"
    assert got["comm_address"]["value"] == A2
    word = int(got["status_word_3"]["value"], 16)
    assert word & 0x0300 == 0x0200  # money prepaid
    assert got["status_block"]["value"].split()[2] == got["status_word_3"]["value"]
    assert err == ""


async def test_read_address_of_a_lone_meter_with_trace(lone_pty_sim: PtySim, cli: Cli) -> None:
    code, out, err = await cli("meter", "address", *common(lone_pty_sim), "--trace")
    assert code == 0, err
    assert out.split()[0] == A1 and "Communication address" in out
    assert "TX    FE FE FE FE 68 AA AA AA AA AA AA 68 13 00 DF 16" in err
    assert "RX    68 01 00 00 00 00 00 68 93 06 34 33 33 33 33 33 9D 16" in err


async def test_relay_trip_then_close_changes_the_meter(pty_sim: PtySim, cli: Cli) -> None:
    meter = pty_sim.meter(A3)
    code, out, err = await cli("meter", "relay", *common(pty_sim), "--address", A3,
                               "--action", "trip", "--json")  # fmt: skip
    assert code == 0, err
    assert meter.relay_open
    state = {r["name"]: r["value"] for r in rows(out)}
    assert state["relay_state"] == "open"
    assert int(state["status_word_3"], 16) & 0x10
    code, out, err = await cli("meter", "relay", *common(pty_sim), "--address", A3,
                               "--action", "close")  # fmt: skip
    assert code == 0, err
    assert not meter.relay_open
    assert "relay_state: closed" in out


async def test_scan_finds_every_meter_with_progress(pty_sim: PtySim, cli: Cli) -> None:
    code, out, err = await cli("meter", "scan", *common(pty_sim), "--from", "1", "--to", "6",
                               "--timeout-ms", "300", "--retries", "0", "--json")  # fmt: skip
    assert code == 0, err
    assert [r["address"] for r in rows(out)] == [A1, A2, A3]
    assert "scan [" in err and "6/6 addresses, 3 meter(s) found" in err


async def test_absent_meter_exits_1_with_code_and_remedy(pty_sim: PtySim, cli: Cli) -> None:
    code, out, err = await cli("meter", "read", *common(pty_sim), "--address", "9",
                               "--di", "remaining_money", "--timeout-ms", "100")  # fmt: skip
    assert code == 1 and out == ""
    assert err.startswith("E120 meter 000000000009: no reply")
    assert "Remedy:" in err and "处理:" in err


async def test_usage_errors_exit_2(pty_sim: PtySim, cli: Cli) -> None:
    code, _, err = await cli("meter", "read", *common(pty_sim), "--address", "1", "--di", "nope")
    assert code == 2 and "E106" in err and "meter dis" in err
    code, _, err = await cli("meter", "relay", *common(pty_sim), "--address", "1")
    assert code == 2 and "--action" in err


async def test_parity_e_on_a_pty_is_a_clear_port_error(pty_sim: PtySim, cli: Cli) -> None:
    code, out, err = await cli("meter", "address", "--port", pty_sim.port)  # 8E1 by default
    assert code == 1 and out == ""
    assert err.startswith("E124 cannot open") and "parity N only" in err
    assert "Traceback" not in err


async def test_missing_port_is_a_clear_port_error(cli: Cli, tmp_path: Any) -> None:
    code, _, err = await cli("meter", "address", "--port", str(tmp_path / "ttyUSB9"))
    assert code == 1 and err.startswith("E124 cannot open") and "Traceback" not in err
