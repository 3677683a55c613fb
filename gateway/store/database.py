"""``Database``: the SQLite ledger file, opened with the pragmas money needs, used from asyncio.

One writer connection on its own thread, serialised by an asyncio lock, and a small pool of
read-only connections on their own threads (WAL lets them read while a vend commits). Work is
handed to those threads as whole synchronous functions, so a transaction costs one hop from the
event loop rather than one per statement::

    vend, created = await db.write(vends.create, new_vend)      # one transaction
    page = await db.read(customers.search, CustomerFilter(name="张"), PageRequest())

    async with db.transaction() as tx:                          # several steps, one transaction
        vend = await tx.run(vends.transition, vend_id, VendState.CONFIRMED)
        await tx.run(ledger.append, entry)

The event loop never blocks: SQLite calls, backups and integrity checks run on threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from gateway.store import backup as backup_files
from gateway.store.clock import Clock, compact, system_clock
from gateway.store.conn import Conn, Params
from gateway.store.errors import CorruptDatabaseError, NotOurDatabaseError, StoreError, translate
from gateway.store.migrations import LATEST_VERSION, apply, ensure_ours, inspect

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_BUSY_TIMEOUT_MS = 5000
# Page cache per connection (KiB). The Pi has little RAM; the UI's queries touch index pages.
DEFAULT_CACHE_KIB = 8192


def _configure(raw: sqlite3.Connection, busy_timeout_ms: int, *, reader: bool) -> None:
    raw.row_factory = sqlite3.Row
    raw.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    raw.execute("PRAGMA foreign_keys = ON")
    raw.execute("PRAGMA synchronous = FULL")
    raw.execute("PRAGMA temp_store = MEMORY")
    raw.execute(f"PRAGMA cache_size = -{DEFAULT_CACHE_KIB}")
    if reader:
        raw.execute("PRAGMA query_only = ON")


def connect(path: Path, busy_timeout_ms: int, *, reader: bool = False) -> sqlite3.Connection:
    """A configured connection in autocommit mode (transactions are begun explicitly)."""
    raw = sqlite3.connect(
        path,
        isolation_level=None,
        timeout=busy_timeout_ms / 1000,
        cached_statements=256,
    )
    try:
        _configure(raw, busy_timeout_ms, reader=reader)
    except sqlite3.DatabaseError as exc:
        raw.close()
        message = str(exc)
        if "not a database" in message:
            raise NotOurDatabaseError(f"{path} is not an SQLite database file") from exc
        raise CorruptDatabaseError(f"{path}: {message}") from exc
    return raw


class _Worker:
    """One thread owning one sqlite3 connection; callables run there in submission order."""

    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self.raw: sqlite3.Connection | None = None

    async def call(self, fn: Callable[[], R]) -> R:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn)

    async def start(self, factory: Callable[[], sqlite3.Connection]) -> None:
        def _open() -> None:
            self.raw = factory()

        await self.call(_open)

    async def stop(self) -> None:
        def _close() -> None:
            if self.raw is not None:
                self.raw.close()
                self.raw = None

        try:
            await self.call(_close)
        finally:
            self._executor.shutdown(wait=True)


def _in_transaction(
    raw: sqlite3.Connection, begin: str, body: Callable[[], R], *, commit: bool = True
) -> R:
    try:
        raw.execute(begin)
    except sqlite3.Error as exc:
        raise translate(exc, begin) from exc
    try:
        result = body()
    except BaseException:
        if raw.in_transaction:
            raw.execute("ROLLBACK")
        raise
    try:
        raw.execute("COMMIT" if commit else "ROLLBACK")
    except sqlite3.Error as exc:
        if raw.in_transaction:
            raw.execute("ROLLBACK")
        raise translate(exc, "COMMIT") from exc
    return result


class AsyncTx:
    """A write transaction held across awaits (``async with db.transaction() as tx``).

    Each call is one hop to the writer thread. Never await a meter or a card inside: the
    write lock is held until the block ends. Prefer ``db.write(fn)`` for hot paths.
    """

    def __init__(self, worker: _Worker, conn: Conn) -> None:
        self._worker = worker
        self._conn = conn

    async def run(
        self, fn: Callable[Concatenate[Conn, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        conn = self._conn
        return await self._worker.call(lambda: fn(conn, *args, **kwargs))

    async def execute(self, sql: str, params: Params = ()) -> int:
        return await self._worker.call(lambda: self._conn.execute(sql, params))

    async def insert(self, sql: str, params: Params = ()) -> int:
        return await self._worker.call(lambda: self._conn.insert(sql, params))

    async def one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        return await self._worker.call(lambda: self._conn.one(sql, params))

    async def all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return await self._worker.call(lambda: self._conn.all(sql, params))

    async def scalar(self, sql: str, params: Params = ()) -> Any:
        return await self._worker.call(lambda: self._conn.scalar(sql, params))


class Database:
    """The ledger database. Create with ``await Database.open(path, clock=...)``."""

    def __init__(
        self,
        *,
        path: Path,
        clock: Clock,
        busy_timeout_ms: int,
        writer: _Worker,
        readers: list[_Worker],
        schema_before: int,
    ) -> None:
        self.path = path
        self.clock = clock
        self.busy_timeout_ms = busy_timeout_ms
        self.schema_before_open = schema_before
        self._writer = writer
        self._readers = readers
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        for reader in readers:
            self._idle.put_nowait(reader)
        self._write_lock = asyncio.Lock()
        self._closed = False

    # ---- lifecycle -------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        clock: Clock = system_clock,
        readers: int = 2,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        backup_before_migrate: bool = True,
    ) -> Database:
        """Open (creating if needed) and migrate to the latest schema.

        Refuses a file that is not ours (E302), damaged (E303) or newer than this release
        (E301). Before upgrading a database that already holds data, a copy is kept next to it
        (``<name>.pre-migrate-v<N>-<time>``).
        """
        db_path = await asyncio.to_thread(_prepare_path, path)
        writer = _Worker("store-writer")
        started: list[_Worker] = []
        found: list[int] = []

        def _writer_factory() -> sqlite3.Connection:
            raw, version = _open_writer(db_path, busy_timeout_ms, clock, backup_before_migrate)
            found.append(version)
            return raw

        try:
            await writer.start(_writer_factory)
            started.append(writer)
            pool: list[_Worker] = []
            for index in range(max(1, readers)):
                reader = _Worker(f"store-reader-{index}")
                await reader.start(lambda: connect(db_path, busy_timeout_ms, reader=True))
                started.append(reader)
                pool.append(reader)
        except BaseException:
            for worker in started:
                await worker.stop()
            if not started:
                await writer.stop()
            raise
        db = cls(
            path=db_path,
            clock=clock,
            busy_timeout_ms=busy_timeout_ms,
            writer=writer,
            readers=pool,
            schema_before=found[0],
        )
        from gateway.store import permissions

        await db.write(permissions.sync_catalogue)
        return db

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._write_lock:
            await self._writer.stop()
        for reader in self._readers:
            await reader.stop()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- work ------------------------------------------------------------------------------

    async def write(
        self, fn: Callable[Concatenate[Conn, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Run ``fn(conn, ...)`` in one write transaction (BEGIN IMMEDIATE ... COMMIT).

        An exception rolls everything back and propagates. If the caller is cancelled the
        transaction still finishes on its thread, atomically (commit or rollback).
        """
        self._ensure_open()
        worker = self._writer
        raw = worker.raw
        assert raw is not None
        conn = Conn(raw, self.clock, writable=True)
        async with self._write_lock:
            return await worker.call(
                lambda: _in_transaction(raw, "BEGIN IMMEDIATE", lambda: fn(conn, *args, **kwargs))
            )

    async def read(
        self, fn: Callable[Concatenate[Conn, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Run ``fn(conn, ...)`` on a read-only connection inside one snapshot."""
        self._ensure_open()
        worker = await self._idle.get()
        try:
            raw = worker.raw
            assert raw is not None
            conn = Conn(raw, self.clock, writable=False)
            return await worker.call(
                lambda: _in_transaction(
                    raw, "BEGIN", lambda: fn(conn, *args, **kwargs), commit=False
                )
            )
        finally:
            self._idle.put_nowait(worker)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncTx]:
        """A write transaction spanning several awaits; commits on success, else rolls back."""
        self._ensure_open()
        worker = self._writer
        raw = worker.raw
        assert raw is not None
        async with self._write_lock:
            await worker.call(lambda: raw.execute("BEGIN IMMEDIATE"))
            try:
                yield AsyncTx(worker, Conn(raw, self.clock, writable=True))
            except BaseException:
                await worker.call(lambda: raw.in_transaction and raw.execute("ROLLBACK"))
                raise
            try:
                await worker.call(lambda: raw.execute("COMMIT"))
            except sqlite3.Error as exc:
                await worker.call(lambda: raw.in_transaction and raw.execute("ROLLBACK"))
                raise translate(exc, "COMMIT") from exc

    def _ensure_open(self) -> None:
        if self._closed:
            raise StoreError("database is closed")

    # ---- maintenance -----------------------------------------------------------------------

    async def checkpoint(self) -> None:
        """Fold the WAL into the main file and truncate it (after bulk loads, before copies)."""
        self._ensure_open()
        raw = self._writer.raw
        assert raw is not None
        async with self._write_lock:
            # fetchall: the PRAGMA returns a row; an unread cursor would keep a statement open
            # and make the next COMMIT on this connection fail.
            await self._writer.call(
                lambda: raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            )

    async def optimize(self, *, analyze_all: bool = False) -> None:
        """Refresh the query planner's statistics (``ANALYZE`` in full, or ``PRAGMA optimize``)."""
        self._ensure_open()
        raw = self._writer.raw
        assert raw is not None
        sql = "ANALYZE" if analyze_all else "PRAGMA optimize"
        async with self._write_lock:
            await self._writer.call(lambda: raw.execute(sql))

    async def schema_version(self) -> int:
        return int(await self.read(lambda c: c.scalar("PRAGMA user_version")))

    async def backup(
        self, dest: str | Path, *, overwrite: bool = False, operator_id: int | None = None
    ) -> backup_files.BackupResult:
        """F6.1: write a consistent copy to ``dest`` while sales continue; logged."""
        self._ensure_open()

        def _copy() -> tuple[Path, int]:
            target = Path(dest).expanduser().resolve()
            source = connect(self.path, self.busy_timeout_ms, reader=True)
            try:
                return target, backup_files.write_backup(source, target, overwrite=overwrite)
            finally:
                source.close()

        target, size = await asyncio.to_thread(_copy)
        from gateway.store import oplog

        await self.write(
            oplog.append,
            "system.backup",
            operator_id=operator_id,
            target=str(target),
            detail={"bytes": size},
        )
        return backup_files.BackupResult(target, size, LATEST_VERSION)

    async def restore(
        self, source: str | Path, *, operator_id: int | None = None
    ) -> backup_files.RestoreResult:
        """F6.2: validate ``source``, keep the current database aside, then restore it.

        A damaged (E303), foreign (E302) or newer (E301) file is refused before anything is
        written; the live database is untouched. The restored database is migrated to the
        current schema and the restore is logged in its operation log.
        """
        self._ensure_open()
        candidate = await asyncio.to_thread(lambda: Path(source).expanduser().resolve())
        staged, state = await asyncio.to_thread(
            backup_files.stage_candidate, candidate, self.path.parent
        )
        previous = self.path.with_name(f"{self.path.name}.pre-restore-{compact(self.clock())}")
        worker = self._writer
        raw = worker.raw
        assert raw is not None

        def _swap() -> int:
            backup_files.write_backup(raw, previous)
            incoming = sqlite3.connect(staged)
            try:
                incoming.backup(raw)
            except sqlite3.Error as exc:
                raise StoreError(f"restore failed, live database unchanged: {exc}") from exc
            finally:
                incoming.close()
            raw.execute("PRAGMA journal_mode = WAL")
            _, now = apply(raw)
            return now

        try:
            async with self._write_lock:
                version_now = await worker.call(_swap)
        finally:
            await asyncio.to_thread(backup_files.discard, staged)
        from gateway.store import oplog, permissions

        await self.write(permissions.sync_catalogue)
        await self.write(
            oplog.append,
            "system.restore",
            operator_id=operator_id,
            target=str(candidate),
            detail={
                "previous_copy": str(previous),
                "schema_in_file": state.version,
                "schema_now": version_now,
            },
        )
        return backup_files.RestoreResult(candidate, previous, state.version, version_now)


def _prepare_path(path: str | Path) -> Path:
    resolved = Path(path).expanduser().resolve()
    resolved.parent.mkdir(parents=True, exist_ok=True)
    return resolved


def _open_writer(
    path: Path, busy_timeout_ms: int, clock: Clock, backup_before_migrate: bool
) -> tuple[sqlite3.Connection, int]:
    """The writer connection, checked, in WAL mode and migrated; plus the version found."""
    existed = path.exists() and path.stat().st_size > 0
    if existed:
        backup_files.check_header(path)
    raw = connect(path, busy_timeout_ms)
    try:
        version = _check_and_migrate(raw, path, clock, backup_before_migrate=backup_before_migrate)
    except BaseException:
        raw.close()
        raise
    return raw, version


def _check_and_migrate(
    raw: sqlite3.Connection, path: Path, clock: Clock, *, backup_before_migrate: bool
) -> int:
    try:
        state = inspect(raw)
    except sqlite3.DatabaseError as exc:
        raise CorruptDatabaseError(f"{path}: {exc}") from exc
    ensure_ours(state, str(path))
    if not state.empty and state.version == 0:
        raise NotOurDatabaseError(f"{path} holds tables but no prepaid-gateway schema version")
    mode = raw.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise StoreError(f"{path}: cannot switch to WAL journal mode (got {mode})")
    if 0 < state.version < LATEST_VERSION and backup_before_migrate:
        keep = path.with_name(f"{path.name}.pre-migrate-v{state.version}-{compact(clock())}")
        backup_files.write_backup(raw, keep)
        log.warning(
            "upgrading %s from schema %d to %d; previous copy kept at %s",
            path,
            state.version,
            LATEST_VERSION,
            keep,
        )
    apply(raw)
    return state.version
