"""The watchdog pings only while the event loop is responsive and the health checks pass."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.appliance.sdnotify import Notifier
from gateway.appliance.watchdog import LoopWatchdog


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[socket.socket, Notifier]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify.sock"
    sock.bind(str(path))
    sock.setblocking(False)
    yield sock, Notifier(str(path))
    sock.close()


def drain(sock: socket.socket) -> list[str]:
    messages = []
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except BlockingIOError:
            return messages


async def wait_decisions(wd: LoopWatchdog, count: int) -> None:
    target = wd.snapshot().decisions + count
    async with asyncio.timeout(20):  # generous: a loaded 2-core machine
        while True:  # polls the public snapshot: the watchdog offers no event to wait on
            if wd.snapshot().decisions >= target:
                return
            await asyncio.sleep(0.01)


async def test_pings_while_healthy_and_stops_while_the_loop_is_blocked(
    manager: tuple[socket.socket, Notifier],
) -> None:
    sock, notifier = manager
    wd = LoopWatchdog(notifier, ping_every=0.1, probe=0.05, lag_limit=0.5)
    task = asyncio.create_task(wd.run())
    try:
        await wait_decisions(wd, 2)
        assert "WATCHDOG=1" in drain(sock)

        # A blocking call on the event loop: the bug the watchdog exists for.
        time.sleep(1.5)  # noqa: ASYNC251
        await wait_decisions(wd, 1)
        state = wd.snapshot()
        assert state.max_lag >= 1.0
        assert not state.healthy
        assert "event loop lag" in state.reason
        sent = drain(sock)
        assert "WATCHDOG=1" not in sent  # nothing while blocked, nothing for the stalled window
        assert any(m.startswith("STATUS=degraded: event loop lag") for m in sent)

        await wait_decisions(wd, 2)  # responsive again: pings resume
        assert wd.snapshot().healthy
        sent = drain(sock)
        assert "WATCHDOG=1" in sent
        assert "STATUS=running" in sent
    finally:
        task.cancel()


async def test_failing_health_check_withholds_pings_until_it_passes(
    manager: tuple[socket.socket, Notifier],
) -> None:
    sock, notifier = manager
    buses_served = True
    wd = LoopWatchdog(
        notifier,
        ping_every=0.1,
        probe=0.05,
        lag_limit=5.0,
        checks={"buses": lambda: buses_served},
    )
    task = asyncio.create_task(wd.run())
    try:
        await wait_decisions(wd, 2)
        assert "WATCHDOG=1" in drain(sock)

        buses_served = False
        await wait_decisions(wd, 1)
        drain(sock)
        await wait_decisions(wd, 3)
        assert drain(sock) == []  # status was sent once, at the change; no pings since
        assert wd.snapshot().reason == "health check 'buses' failed"

        buses_served = True
        await wait_decisions(wd, 2)
        assert "WATCHDOG=1" in drain(sock)
    finally:
        task.cancel()


def test_a_check_that_raises_counts_as_unhealthy(manager: tuple[socket.socket, Notifier]) -> None:
    sock, notifier = manager

    def database() -> bool:
        raise RuntimeError("database is locked")

    wd = LoopWatchdog(notifier, ping_every=1, lag_limit=1, checks={"database": database})
    assert wd.decide() is False
    assert "database is locked" in wd.snapshot().reason
    assert drain(sock) == [
        "STATUS=degraded: health check 'database' raised RuntimeError('database is locked')"
    ]


async def test_lag_is_measured_with_an_injected_clock(
    manager: tuple[socket.socket, Notifier],
) -> None:
    """Time moved explicitly: a probe that wakes 3 s late is a 3 s lag, and no ping."""
    sock, notifier = manager
    now = [0.0]
    stalls = [0.0, 0.0, 3.0, 0.0, 0.0, 0.0]

    class DoneError(Exception):
        pass

    async def sleep(seconds: float) -> None:
        if not stalls:
            raise DoneError
        now[0] += seconds + stalls.pop(0)

    wd = LoopWatchdog(
        notifier, ping_every=1.0, probe=0.5, lag_limit=1.0, clock=lambda: now[0], sleep=sleep
    )
    with pytest.raises(DoneError):
        await wd.run()
    state = wd.snapshot()
    assert state.max_lag == 3.0
    assert state.last_lag == 0.0
    assert state.decisions == 3
    assert state.pings == 2  # the decision covering the stall withheld its ping
    assert drain(sock).count("WATCHDOG=1") == 2


def test_for_service_follows_watchdog_usec(manager: tuple[socket.socket, Notifier]) -> None:
    _, notifier = manager
    assert LoopWatchdog.for_service(notifier, environ={}) is None
    wd = LoopWatchdog.for_service(notifier, environ={"WATCHDOG_USEC": "30000000"})
    assert wd is not None
    assert wd.decide() is True
