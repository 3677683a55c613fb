"""`prepaid-gateway simulate` as a user runs it: a real process, stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import json
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import serial_asyncio_fast

from gateway.dlt645 import Quantity
from gateway.dlt645 import commands as cmd
from tests.integration.simulator.wire import TIMEOUT, ask

ROOT = Path(__file__).resolve().parents[3]


def start(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Start the simulator and wait for its 'serving ...' line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "simulate", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:  # a thread: readline on a pipe blocks, and select misses buffered lines
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        if line.startswith("serving "):
            return proc, line.strip()
    proc.kill()
    _, err = proc.communicate()
    raise AssertionError(f"simulator did not start: {seen} {err}")


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    """SIGTERM, as systemd or Ctrl-C would; the exit code and what went to stderr."""
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=20)
    assert proc.stderr is not None  # stdout is drained by the pump thread
    return code, proc.stderr.read()


def test_help_documents_endpoints_faults_and_examples() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "gateway", "simulate", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for text in (
        "--serial",
        "--tcp",
        "--dtu",
        "--state",
        "bad-checksum",
        "one-byte-03h",
        "examples:",
    ):
        assert text in out


def test_bad_option_is_a_coded_error_and_starts_nothing(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "simulate",
            "--tcp",
            "127.0.0.1:0",
            "--remaining",
            "1.234",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "E140" in result.stderr and "处理" in result.stderr and "Remedy" in result.stderr
    assert "serving" not in result.stdout


async def _read_remaining(port: int) -> tuple[Quantity, int]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        money = cmd.read_data("000000000002", 0x00900200)
        count = cmd.read_data("000000000002", 0x03330201)
        remaining = cmd.parse_read(money, await ask(reader, writer, money)).value()
        purchases = cmd.parse_read(count, await ask(reader, writer, count)).value()
    finally:
        writer.close()
    assert isinstance(remaining, Quantity) and isinstance(purchases, int)
    return remaining, purchases


async def _recharge(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        payload = cmd.RechargePayload(2_500, 1, "000000000777")
        request = cmd.recharge("000000000002", "0", payload)
        cmd.check_reply(request, await ask(reader, writer, request))
    finally:
        writer.close()


def test_tcp_serving_with_state_saved_on_sigterm_and_loaded_again(tmp_path: Path) -> None:
    state = tmp_path / "sim.json"
    proc, line = start(
        "--tcp", "127.0.0.1:0", "--meters", "2", "--remaining", "10", "--state", str(state),
        "--no-wire-timing", "--reply-delay-ms", "0", "--save-every", "0.2",
    )  # fmt: skip
    assert line.startswith("serving 2 meters 000000000001..000000000002 on tcp://127.0.0.1:")
    assert line.endswith("at 2400 8E1")
    port = int(line.split("tcp://127.0.0.1:")[1].split()[0])
    asyncio.run(_recharge(port))

    def saved_count() -> int:
        try:
            return int(json.loads(state.read_text())["meters"][1]["purchase_count"])
        except (OSError, ValueError):
            return -1

    deadline = time.monotonic() + 20
    while saved_count() != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert saved_count() == 1  # saved periodically, while still running
    assert proc.poll() is None
    code, err = finish(proc)
    assert code == 0, err
    assert "state saved" in err
    saved = json.loads(state.read_text())
    meter = saved["meters"][1]
    assert (meter["purchase_count"], meter["customer_number"]) == (1, "000000000777")

    proc, line = start("--tcp", "127.0.0.1:0", "--state", str(state), "--reply-delay-ms", "0")
    try:
        port = int(line.split("tcp://127.0.0.1:")[1].split()[0])
        remaining, purchases = asyncio.run(_read_remaining(port))
    finally:
        code, _ = finish(proc)
    assert purchases == 1
    # 10.00 + 25.00 less what the default 1 kW load consumed while running (0.5 yuan/kWh).
    assert 3_400 <= remaining.scaled <= 3_500
    assert code == 0


@pytest.mark.pty
def test_serial_on_a_pty(ptys: tuple[str, str, subprocess.Popen[bytes]]) -> None:
    gateway_side, meter_side, _ = ptys
    proc, line = start("--serial", meter_side, "--meters", "1", "--first-address", "42")
    try:
        assert line.startswith("serving 1 meter 000000000042 on /dev/pts/")
        assert line.endswith("at 2400 8N1")

        async def read_address() -> str:
            reader, writer = await serial_asyncio_fast.open_serial_connection(
                url=gateway_side, baudrate=2400, parity="N"
            )
            try:
                return cmd.parse_read_address(await ask(reader, writer, cmd.read_address()))
            finally:
                writer.close()

        assert asyncio.run(read_address()) == "000000000042"
    finally:
        code, err = finish(proc)
    assert code == 0, err
    assert "1 requests, 1 replies" in err


def test_dtu_dials_and_redials(free_port: int) -> None:
    async def scenario() -> list[bytes]:
        seen: list[bytes] = []
        twice = asyncio.Event()

        async def on_dtu(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(await asyncio.wait_for(reader.readexactly(9), TIMEOUT))
            writer.close()  # hang up: a DTU dials again
            if len(seen) >= 2:
                twice.set()

        server = await asyncio.start_server(on_dtu, "127.0.0.1", free_port)
        proc, line = await asyncio.to_thread(
            start, "--dtu", f"127.0.0.1:{free_port}", "--dtu-id", "DTU0042", "--redial-s", "0.2"
        )
        try:
            assert "as DTU DTU0042 dialling" in line
            await asyncio.wait_for(twice.wait(), TIMEOUT)
        finally:
            code, err = await asyncio.to_thread(finish, proc)
            server.close()
        assert code == 0, err
        assert "DTU DTU0042 connected" in err
        return seen

    assert asyncio.run(scenario())[:2] == [b"DTU0042\r\n", b"DTU0042\r\n"]
