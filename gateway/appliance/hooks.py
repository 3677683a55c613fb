"""The updater's contact with the system: commands, health probing, read-only remounts.

Each is a plain callable so tests substitute scratch-directory commands; nothing here knows
about bundles or releases.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

Runner = Callable[[Sequence[str], float], int]


def run_command(argv: Sequence[str], timeout: float) -> int:
    """Run ``argv``; its output goes to our log. Returns the exit code (124 on timeout)."""
    try:
        proc = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        log.warning("%s timed out after %.0f s", argv[0], timeout)
        return 124
    except OSError as exc:
        log.warning("cannot run %s: %s", argv[0], exc)
        return 127
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        log.warning("%s exited %d: %s", " ".join(argv), proc.returncode, output[-2000:])
    elif output:
        log.debug("%s: %s", argv[0], output[-2000:])
    return proc.returncode


@dataclass(frozen=True)
class HealthProbe:
    """Healthy = ``command`` exits 0 on every probe for ``settle`` seconds before ``deadline``.

    Requiring a streak, not one success, catches a release that starts and then crashes: under
    Restart=always it flips between active and activating, and each failure restarts the streak.
    """

    command: Sequence[str]
    deadline: float
    settle: float
    interval: float
    runner: Runner = run_command
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def wait(self) -> bool:
        start = self.clock()
        streak_start: float | None = None
        while True:
            now = self.clock()
            ok = self.runner(self.command, max(self.interval, 10.0)) == 0
            now = self.clock()
            if ok:
                if streak_start is None:
                    streak_start = now
                if now - streak_start >= self.settle:
                    return True
            else:
                streak_start = None
            if now - start >= self.deadline:
                return False
            self.sleep(self.interval)


@dataclass(frozen=True)
class CommandBackup:
    """Back the database up with a command template (``{file}``, ``{venv}`` substituted)."""

    template: Sequence[str]
    venv: Path
    timeout: float = 1800.0
    runner: Runner = run_command

    def __call__(self, target: Path) -> None:
        argv = [
            a.replace("{file}", str(target)).replace("{venv}", str(self.venv))
            for a in self.template
        ]
        code = self.runner(argv, self.timeout)
        if code != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {code}")
        if not target.is_file() or target.stat().st_size == 0:
            raise RuntimeError(f"{' '.join(argv)} wrote no backup at {target}")


def mount_point(path: Path) -> Path:
    path = path.resolve()
    while not os.path.ismount(path):
        path = path.parent
    return path


@contextmanager
def remount_writable(path: Path, runner: Runner = run_command) -> Iterator[None]:
    """Make the filesystem holding ``path`` writable for the duration, if it is read-only."""
    probe = path if path.exists() else path.parent
    if not os.statvfs(probe).f_flag & os.ST_RDONLY:
        yield
        return
    where = mount_point(probe)
    if runner(["mount", "-o", "remount,rw", str(where)], 60) != 0:
        raise OSError(f"cannot remount {where} read-write")
    log.info("remounted %s read-write for the update", where)
    try:
        yield
    finally:
        os.sync()
        if runner(["mount", "-o", "remount,ro", str(where)], 60) != 0:
            # Busy (a file open for writing): it goes back to read-only at the next boot.
            log.warning("could not remount %s read-only; it will be after a reboot", where)


@contextmanager
def _already_writable(path: Path) -> Iterator[None]:
    yield


def no_remount(path: Path) -> AbstractContextManager[None]:
    """For installs whose prefix is always writable (and for tests)."""
    return _already_writable(path)
