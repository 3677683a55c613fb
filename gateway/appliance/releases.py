"""Side-by-side releases under one prefix, switched by replacing a symlink.

::

    /opt/prepaid-gateway/
      releases/0.3.0/venv/        a complete virtual environment, built in place
      releases/0.3.0/RELEASE.json written last: a release without it is unfinished
      current  -> releases/0.3.0  what the service runs
      previous -> releases/0.2.1  where a rollback goes
      venv     -> current/venv    the stable path in ExecStart=

Switching ``current`` is one rename(2) of a fresh symlink over the old one, so at every instant
the service sees either the old release or the new one. Virtual environments hard-code their own
path, so a release is built in its final directory, never moved.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

MARKER = "RELEASE.json"


@dataclass(frozen=True)
class Layout:
    prefix: Path

    @property
    def releases(self) -> Path:
        return self.prefix / "releases"

    @property
    def current(self) -> Path:
        return self.prefix / "current"

    @property
    def previous(self) -> Path:
        return self.prefix / "previous"

    @property
    def venv(self) -> Path:
        return self.prefix / "venv"

    def release(self, version: str) -> Path:
        return self.releases / version

    def _version_of(self, link: Path) -> str | None:
        name = _target_name(link)
        return name if name is not None and self.is_complete(name) else None

    def current_version(self) -> str | None:
        return self._version_of(self.current)

    def previous_version(self) -> str | None:
        return self._version_of(self.previous)

    def is_complete(self, version: str) -> bool:
        return (self.release(version) / MARKER).is_file()

    def installed(self) -> list[str]:
        if not self.releases.is_dir():
            return []
        return sorted(p.name for p in self.releases.iterdir() if self.is_complete(p.name))

    def mark_complete(self, version: str, info: dict[str, str]) -> None:
        marker = self.release(version) / MARKER
        tmp = marker.with_name(MARKER + ".tmp")
        tmp.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        _fsync_file(tmp)
        tmp.replace(marker)
        _fsync_dir(marker.parent)

    def release_info(self, version: str) -> dict[str, str]:
        data = json.loads((self.release(version) / MARKER).read_text())
        return {str(k): str(v) for k, v in data.items()}

    def ensure_venv_link(self) -> None:
        """``venv -> current/venv``; created once, it follows every switch of ``current``."""
        if os.path.islink(self.venv) and os.readlink(self.venv) == "current/venv":
            return
        replace_symlink(self.venv, "current/venv")

    def switch(self, version: str) -> str | None:
        """Point ``current`` at ``version`` and ``previous`` at what ran before; returns that."""
        if not self.is_complete(version):
            raise ValueError(f"release {version} is not completely installed")
        before = self.current_version()
        if before is not None and before != version:
            replace_symlink(self.previous, f"releases/{before}")
        replace_symlink(self.current, f"releases/{version}")
        self.ensure_venv_link()
        return before

    def discard(self, version: str) -> None:
        """Remove a release that is neither current nor previous."""
        if version in (_target_name(self.current), _target_name(self.previous)):
            raise ValueError(f"release {version} is in use")
        path = self.release(version)
        if path.exists():
            # Unmark first: a half-deleted release must never look complete.
            (path / MARKER).unlink(missing_ok=True)
            shutil.rmtree(path)

    def prune(self) -> list[str]:
        """Delete every release except current and previous; returns what was removed."""
        keep = {_target_name(self.current), _target_name(self.previous)}
        removed = []
        if self.releases.is_dir():
            for path in sorted(self.releases.iterdir()):
                if path.name not in keep:
                    (path / MARKER).unlink(missing_ok=True)
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(path.name)
        return removed


def _target_name(link: Path) -> str | None:
    try:
        return Path(os.readlink(link)).name
    except OSError:
        return None


def replace_symlink(link: Path, target: str) -> None:
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)
    _fsync_dir(link.parent)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    # The rename is only durable once the directory entry is on disk (power cuts are common).
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
