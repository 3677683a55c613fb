"""Versioned schema migrations: ``NNNN_name.sql`` files in this package, applied in order.

``PRAGMA user_version`` holds the applied version; each migration runs in its own transaction
together with the version bump, so a crash leaves the database at a whole version. A file whose
version is newer than the newest migration here is refused (it was written by a newer release).
To change the schema, add the next ``NNNN_*.sql`` file; never edit one that has shipped.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib import resources

from gateway.store.errors import NotOurDatabaseError, SchemaTooNewError, StoreError

APPLICATION_ID = 0x50504757  # 'PPGW', set by migration 1

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


@dataclass(frozen=True)
class SchemaState:
    version: int
    application_id: int
    table_count: int

    @property
    def empty(self) -> bool:
        return self.version == 0 and self.table_count == 0


def _load() -> tuple[Migration, ...]:
    found: list[Migration] = []
    for entry in resources.files(__name__).iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise RuntimeError(f"migration {expected:04d} is missing (found {migration.name})")
    return tuple(found)


MIGRATIONS: tuple[Migration, ...] = _load()
LATEST_VERSION = MIGRATIONS[-1].version


def inspect(raw: sqlite3.Connection) -> SchemaState:
    version = int(raw.execute("PRAGMA user_version").fetchone()[0])
    app_id = int(raw.execute("PRAGMA application_id").fetchone()[0])
    tables = int(
        raw.execute("SELECT count(*) FROM sqlite_schema WHERE type = 'table'").fetchone()[0]
    )
    return SchemaState(version, app_id, tables)


def ensure_ours(state: SchemaState, what: str) -> None:
    """Refuse files that are not ours or that are newer than this release understands."""
    if state.empty:
        return
    if state.application_id != APPLICATION_ID:
        raise NotOurDatabaseError(
            f"{what} has application id {state.application_id:#x}, "
            f"expected {APPLICATION_ID:#x} (prepaid-gateway)"
        )
    if state.version > LATEST_VERSION:
        raise SchemaTooNewError(
            f"{what} has schema version {state.version}; this release understands up to "
            f"{LATEST_VERSION}"
        )


def apply(raw: sqlite3.Connection, target: int | None = None) -> tuple[int, int]:
    """Bring ``raw`` (autocommit mode) up to ``target`` (default: latest); returns (from, to).

    ``target`` below the latest exists for tests that build an older database.
    """
    goal = LATEST_VERSION if target is None else target
    state = inspect(raw)
    ensure_ours(state, "database")
    start = state.version
    for migration in MIGRATIONS:
        if start < migration.version <= goal:
            script = (
                "BEGIN IMMEDIATE;\n"
                f"{migration.sql}\n"
                f"PRAGMA user_version = {migration.version};\n"
                "COMMIT;"
            )
            try:
                raw.executescript(script)
            except sqlite3.Error as exc:
                if raw.in_transaction:
                    raw.execute("ROLLBACK")
                raise StoreError(
                    f"migration {migration.version:04d}_{migration.name} failed: {exc}"
                ) from exc
    return start, max(start, goal)
