"""The sd_notify(3) protocol: one datagram of ``KEY=value`` lines to ``$NOTIFY_SOCKET``.

Not under systemd (no ``$NOTIFY_SOCKET``) every call is a no-op, so the gateway runs the same
from a shell, in tests and as a unit. Sends never block: the socket is non-blocking and a full
queue drops the message (systemd reads promptly; a lost ping is retried on the next tick).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


def _socket_address(value: str) -> str | bytes:
    # '@' marks Linux's abstract namespace, which the kernel spells with a leading NUL.
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


class Notifier:
    """Sends state changes to the service manager. Safe to call from the event loop."""

    def __init__(self, address: str | None) -> None:
        self.address = address or None
        self._sock: socket.socket | None = None
        self._failing = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        return cls(env.get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *assignments: str) -> bool:
        """Send ``KEY=value`` lines as one datagram; True when the manager got it."""
        if self.address is None:
            return False
        for line in assignments:
            if "=" not in line or "\n" in line:
                raise ValueError(f"not a single KEY=value line: {line!r}")
        payload = "\n".join(assignments).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)
            self._sock.sendto(payload, _socket_address(self.address))
        except OSError as exc:
            if not self._failing:
                log.warning("cannot notify the service manager at %s: %s", self.address, exc)
                self._failing = True
            self.close()
            return False
        if self._failing:
            log.info("service manager notifications work again")
            self._failing = False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Tell systemd start-up is complete (Type=notify units become 'active')."""
        lines = ["READY=1"]
        if status is not None:
            lines.append(f"STATUS={_one_line(status)}")
        return self.send(*lines)

    def status(self, text: str) -> bool:
        """Free-form status shown by ``systemctl status``."""
        return self.send(f"STATUS={_one_line(text)}")

    def watchdog(self) -> bool:
        """Keep-alive ping; without one every WatchdogSec systemd kills and restarts us."""
        return self.send("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        lines = ["STOPPING=1"]
        if status is not None:
            lines.append(f"STATUS={_one_line(status)}")
        return self.send(*lines)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())


def watchdog_interval(
    environ: Mapping[str, str] | None = None, pid: int | None = None
) -> float | None:
    """The watchdog timeout in seconds from ``$WATCHDOG_USEC``, or None when not enabled.

    ``$WATCHDOG_PID``, when set, names the process the watchdog is meant for; any other process
    (e.g. a child that inherited the environment) must not ping.
    """
    env = os.environ if environ is None else environ
    raw = env.get("WATCHDOG_USEC")
    if not raw:
        return None
    try:
        usec = int(raw)
    except ValueError:
        log.warning("ignoring malformed WATCHDOG_USEC=%r", raw)
        return None
    if usec <= 0:
        return None
    owner = env.get("WATCHDOG_PID")
    if owner:
        me = os.getpid() if pid is None else pid
        try:
            if int(owner) != me:
                return None
        except ValueError:
            log.warning("ignoring malformed WATCHDOG_PID=%r", owner)
            return None
    return usec / 1_000_000
