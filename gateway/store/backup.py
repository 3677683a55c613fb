"""Backup files and restore validation (F6.1/F6.2), as blocking helpers run off the event loop.

A backup is written with SQLite's online backup API in a single step: the source connection
holds one read snapshot for the whole copy, so writers (WAL) carry on and the copy is consistent.
A file offered for restore is copied aside first and checked there: SQLite header, integrity,
our application id, schema version not newer than this release; only then is it copied into
the live database, again through the backup API (one atomic write transaction).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from gateway.store.errors import BackupError, CorruptDatabaseError, NotOurDatabaseError
from gateway.store.migrations import SchemaState, ensure_ours, inspect

SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size_bytes: int
    schema_version: int


@dataclass(frozen=True)
class RestoreResult:
    restored_from: Path
    previous_copy: Path
    schema_version_in_file: int
    schema_version_now: int


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_backup(source: sqlite3.Connection, dest: Path, *, overwrite: bool = False) -> int:
    """Copy ``source`` into a new file ``dest`` (via a temp file + rename); returns its size."""
    dest = dest.resolve()
    if dest.exists() and not overwrite:
        raise BackupError(f"{dest} already exists; choose another name")
    if not dest.parent.is_dir():
        raise BackupError(f"folder {dest.parent} does not exist")
    partial = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    try:
        target = sqlite3.connect(partial)
        try:
            source.backup(target)  # pages=-1: one step, one snapshot
        finally:
            target.close()
        fsync_path(partial)
        os.replace(partial, dest)
        fsync_path(dest.parent)
    except OSError as exc:
        raise BackupError(f"cannot write {dest}: {exc}") from exc
    except sqlite3.Error as exc:
        raise BackupError(f"backup of the database failed: {exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return dest.stat().st_size


def check_header(path: Path) -> None:
    try:
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise NotOurDatabaseError(f"cannot read {path}: {exc}") from exc
    if head != SQLITE_HEADER:
        raise NotOurDatabaseError(f"{path.name} is not an SQLite database file")


def validate_copy(path: Path) -> SchemaState:
    """Check a candidate database file (a private copy: checking may touch it)."""
    check_header(path)
    try:
        conn = sqlite3.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise CorruptDatabaseError(f"{path.name}: {exc}") from exc
    try:
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        except sqlite3.DatabaseError as exc:
            raise CorruptDatabaseError(f"{path.name}: {exc}") from exc
        problems = [str(r[0]) for r in rows if r[0] != "ok"]
        if problems:
            raise CorruptDatabaseError(f"{path.name}: " + "; ".join(problems[:5]))
        state = inspect(conn)
        if state.empty or state.version == 0:
            raise NotOurDatabaseError(f"{path.name} is an empty database, not a backup")
        ensure_ours(state, path.name)
        if conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
            raise CorruptDatabaseError(f"{path.name}: broken references between tables")
        return state
    finally:
        conn.close()


def stage_candidate(source: Path, directory: Path) -> tuple[Path, SchemaState]:
    """Copy ``source`` into ``directory`` and validate the copy; returns (copy, its state)."""
    source = source.resolve()
    if not source.is_file():
        raise NotOurDatabaseError(f"{source} is not a file")
    check_header(source)
    staged = directory / f".restore-candidate-{os.getpid()}.sqlite"
    try:
        shutil.copyfile(source, staged)
    except OSError as exc:
        raise BackupError(f"cannot copy {source}: {exc}") from exc
    try:
        return staged, validate_copy(staged)
    except BaseException:
        discard(staged)
        raise


def discard(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()
