"""sd_notify messages as systemd receives them: datagrams on a unix socket."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.appliance.sdnotify import Notifier, watchdog_interval


class ManagerSocket:
    """Plays systemd's side: a bound datagram socket collecting what the service sends."""

    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(5)

    def receive(self) -> list[str]:
        return self.sock.recv(4096).decode().split("\n")

    def pending(self) -> list[list[str]]:
        out = []
        self.sock.setblocking(False)
        try:
            while True:
                out.append(self.sock.recv(4096).decode().split("\n"))
        except BlockingIOError:
            pass
        finally:
            self.sock.settimeout(5)
        return out


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[ManagerSocket, str]]:
    path = tmp_path / "notify.sock"
    ms = ManagerSocket(str(path))
    yield ms, str(path)
    ms.sock.close()


def test_ready_status_watchdog_and_stopping_arrive_as_systemd_expects(
    manager: tuple[ManagerSocket, str],
) -> None:
    ms, address = manager
    notifier = Notifier.from_env({"NOTIFY_SOCKET": address})
    assert notifier.enabled
    assert notifier.ready("database open, 2 buses served")
    assert ms.receive() == ["READY=1", "STATUS=database open, 2 buses served"]
    assert notifier.status("reading meters\n(line two)")
    assert ms.receive() == ["STATUS=reading meters (line two)"]
    assert notifier.watchdog()
    assert ms.receive() == ["WATCHDOG=1"]
    assert notifier.stopping()
    assert ms.receive() == ["STOPPING=1"]


def test_abstract_namespace_socket(tmp_path: Path) -> None:
    name = f"prepaid-gateway-test-{os.getpid()}-{tmp_path.name}"
    ms = ManagerSocket(b"\0" + name.encode())
    try:
        notifier = Notifier.from_env({"NOTIFY_SOCKET": "@" + name})
        assert notifier.ready()
        assert ms.receive() == ["READY=1"]
    finally:
        ms.sock.close()


def test_without_systemd_every_call_is_a_no_op() -> None:
    notifier = Notifier.from_env({})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog() is False


def test_a_vanished_manager_is_reported_not_raised(tmp_path: Path) -> None:
    notifier = Notifier(str(tmp_path / "gone.sock"))
    assert notifier.watchdog() is False  # logged once; the service keeps running


def test_malformed_assignment_is_refused(manager: tuple[ManagerSocket, str]) -> None:
    _, address = manager
    with pytest.raises(ValueError, match="KEY=value"):
        Notifier(address).send("READY=1\nSTATUS=x")


def test_watchdog_usec_is_honoured_only_for_our_pid() -> None:
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, pid=42) == 30.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, pid=43) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}) is None
