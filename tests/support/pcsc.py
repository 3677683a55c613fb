"""The machine's pcscd with the vpcd virtual readers, for tests of any folder.

Use in a conftest.py::

    from tests.support.pcsc import pcscd, card_slots  # noqa: F401  (fixtures)

``pcscd`` (session scope) reuses a running pcscd or starts the single instance (removing the
socket and pid file a killed one left behind), waits for both vpcd readers and stops what it
started at the end. ``card_slots`` inserts and removes virtual cards (tests.support.vcard) and
waits until pcscd has seen the change. A missing pcscd or vpcd driver is a failure, not a skip.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from smartcard import scard

from tests.support.procs import require, stop
from tests.support.vcard import VirtualCard

RUN_DIR = Path("/run/pcscd")
COMM = RUN_DIR / "pcscd.comm"
PID_FILE = RUN_DIR / "pcscd.pid"
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
READERS = ("Virtual PCD 00 00", "Virtual PCD 00 01")
VPCD_PORTS = (35963, 35964)
GATEWAY_READER, METER_READER = READERS


def vpcd_ports_taken() -> bool:
    """True when some process (a pcscd with the vpcd driver) listens on the vpcd ports.

    Tested by binding, never by connecting: a connection to vpcd is a card insertion.
    """
    for port in VPCD_PORTS:
        with socket.socket() as probe:
            # SO_REUSEADDR: connections of a stopped pcscd in TIME_WAIT must not count.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                return True
    return False


def list_readers() -> list[str] | None:
    """Reader names, or None when pcscd cannot be reached."""
    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hr != scard.SCARD_S_SUCCESS:
        return None
    try:
        hr, readers = scard.SCardListReaders(ctx, [])
        return list(readers) if hr == scard.SCARD_S_SUCCESS else []
    finally:
        scard.SCardReleaseContext(ctx)


class Pcscd:
    """Handle on the single pcscd. ``owned``: this test session started it (and may stop it)."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def owned(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ensure_running(self) -> None:
        """Reuse the pcscd that answers, else start one; then wait for the vpcd readers."""
        if list_readers() is None:
            if vpcd_ports_taken():
                raise RuntimeError(
                    "a pcscd holds the vpcd ports 35963/35964 but does not answer on "
                    f"{COMM}: stop that pcscd (kill its pid) and run the tests again"
                )
            self.start()
        try:
            self.wait_for_readers()
        except BaseException:
            if self.owned:
                self.stop()
            raise

    def start(self) -> None:
        program = require("pcscd")
        if not VPCD_DRIVER.exists():
            raise RuntimeError(
                f"{VPCD_DRIVER} missing: install vsmartcard-vpcd (scripts/install-deps.sh test)"
            )
        if list_readers() is None:
            # A pcscd killed with -9 leaves both files; a new one refuses to start over them.
            for stale in (COMM, PID_FILE):
                stale.unlink(missing_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [program, "--foreground"], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + 10
        while not COMM.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"pcscd exited with {self.proc.returncode}; see {self.log_path}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"pcscd did not create {COMM}; see {self.log_path}")
            time.sleep(0.01)

    def wait_for_readers(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while True:
            readers = list_readers() or []
            if all(r in readers for r in READERS):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"vpcd readers {READERS} not listed by pcscd (got {readers})")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the pcscd this session started (never someone else's)."""
        if self.proc is None:
            raise RuntimeError("this test session did not start pcscd; it will not stop it")
        stop(self.proc, signal.SIGTERM)
        self.proc = None
        deadline = time.monotonic() + 10
        while COMM.exists() and time.monotonic() < deadline:
            time.sleep(0.01)


def wait_card_state(reader: str, present: bool, timeout: float = 15) -> None:
    """Block until pcscd reports a card present (or absent) in ``reader``."""
    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    assert hr == scard.SCARD_S_SUCCESS, scard.SCardGetErrorMessage(hr)
    try:
        deadline = time.monotonic() + timeout
        state = scard.SCARD_STATE_UNAWARE
        while True:
            hr, result = scard.SCardGetStatusChange(ctx, 200, [(reader, state)])
            if hr == scard.SCARD_S_SUCCESS:
                state = result[0][1] & ~scard.SCARD_STATE_CHANGED
                if bool(state & scard.SCARD_STATE_PRESENT) == present:
                    return
            if time.monotonic() > deadline:
                what = "present" if present else "absent"
                raise TimeoutError(f"card not {what} in {reader} after {timeout}s")
    finally:
        scard.SCardReleaseContext(ctx)


class CardSlots:
    """Insert virtual cards into reader 0 (gateway) or 1 (meter) and take them out again."""

    def __init__(self, daemon: Pcscd) -> None:
        self.daemon = daemon
        self._inserted: list[VirtualCard] = []

    def insert(self, card: VirtualCard, reader: int = 0) -> None:
        self.daemon.ensure_running()
        card.insert(reader)
        self._inserted.append(card)
        wait_card_state(READERS[reader], present=True)

    def remove(self, card: VirtualCard, reader: int | None = None) -> None:
        card.remove()
        if card in self._inserted:
            self._inserted.remove(card)
        for name in READERS if reader is None else (READERS[reader],):
            wait_card_state(name, present=False)

    def carry(self, card: VirtualCard, to_reader: int) -> None:
        """Take the card out of wherever it is and put it into ``to_reader``."""
        if card.inserted:
            self.remove(card)
        self.insert(card, to_reader)

    @contextmanager
    def inserted(self, card: VirtualCard, reader: int = 0) -> Iterator[VirtualCard]:
        self.insert(card, reader)
        try:
            yield card
        finally:
            if card.inserted:
                self.remove(card, reader)

    def remove_all(self) -> None:
        for card in list(self._inserted):
            if card.inserted:
                card.remove()
        self._inserted.clear()
        for name in READERS:
            wait_card_state(name, present=False)


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pcscd]:
    daemon = Pcscd(tmp_path_factory.mktemp("pcscd") / "pcscd.log")
    daemon.ensure_running()
    yield daemon
    if daemon.owned:
        daemon.stop()


@pytest.fixture
def card_slots(pcscd: Pcscd) -> Iterator[CardSlots]:
    slots = CardSlots(pcscd)
    yield slots
    slots.remove_all()
