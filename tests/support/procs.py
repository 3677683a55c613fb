"""Start and stop the real programs tests use (socat, pcscd, mosquitto and the like).

A missing program is a failure, never a skip: the test command installs them
(scripts/install-deps.sh).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def require(program: str) -> str:
    path = shutil.which(program) or next(
        (p for p in (f"/usr/sbin/{program}", f"/sbin/{program}") if os.access(p, os.X_OK)), None
    )
    if path is None:
        raise RuntimeError(
            f"{program} is not installed; run `make test` (it installs the Debian packages) "
            f"or scripts/install-deps.sh test"
        )
    return path


def wait_for(predicate: object, timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.005)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def pty_pair(directory: Path) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    """A socat pty pair: (gateway side, meter side, socat process). Kill socat = cable pulled."""
    socat = require("socat")
    a, b = directory / "gw-tty", directory / "meter-tty"
    proc = subprocess.Popen(
        [socat, f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: a.exists() and b.exists(), what="socat ptys")
        yield str(a), str(b), proc
    finally:
        stop(proc)
