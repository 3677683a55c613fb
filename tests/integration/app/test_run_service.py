"""`prepaid-gateway run` as systemd runs it: READY=1 once the database, buses and web UI answer,
WATCHDOG=1 pings while healthy, STOPPING=1 on SIGTERM; a bad configuration exits 78."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.support.procs import stop

PROGRAM = [sys.executable, "-m", "gateway"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _messages(sock: socket.socket, until: str, timeout: float) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            seen.append(sock.recv(4096).decode())
        except TimeoutError:
            break
        if any(until in m for m in seen):
            return seen
    raise AssertionError(f"no {until!r} within {timeout}s; got {seen}")


def test_ready_watchdog_and_stopping_on_a_notify_socket(tmp_path: Path) -> None:
    port = _free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[database]\npath = "{tmp_path / "gw.sqlite"}"\n'
        f'[web]\nhost = "127.0.0.1"\nport = {port}\ntls = false\nredirect_port = 0\n'
        "[panel]\nenabled = false\n",
        encoding="utf-8",
    )
    notify_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify_path))
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "2000000",
           "WATCHDOG_PID": ""}  # fmt: skip
    proc = subprocess.Popen(
        [*PROGRAM, "run", "--config", str(config)], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        ready = _messages(sock, "READY=1", 30)
        # READY means the UI answers: a first request right after it succeeds.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=10) as answer:
            assert answer.status == 200
        assert not any("READY=1" in m for m in ready[:-1])
        _messages(sock, "WATCHDOG=1", 10)
        proc.send_signal(signal.SIGTERM)
        _messages(sock, "STOPPING=1", 10)
        assert proc.wait(timeout=20) == 0
    finally:
        stop(proc)
        sock.close()


def test_bad_configuration_exits_78_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text("[[buses]]\nname = 'l1'\nkind = 'serial'\nbaud = 'fast'\n", encoding="utf-8")
    result = subprocess.run(
        [*PROGRAM, "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 78
    assert "buses[0].baud" in result.stderr
