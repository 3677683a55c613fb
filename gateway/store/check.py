"""``db check``: is this file healthy, ours, current, and are its chains and totals intact?

Runs read-only (never migrates): SQLite integrity and foreign keys, schema version and
application id, the maintenance guard, the operation-log chain (with its deletion records),
the ledger chain, derived balances against the ledger, vends against the ledger, and the
receipt sequence against the receipts.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from gateway.store import ledger, oplog, vends
from gateway.store.backup import check_header
from gateway.store.clock import Clock, system_clock
from gateway.store.conn import Conn
from gateway.store.database import DEFAULT_BUSY_TIMEOUT_MS, connect
from gateway.store.migrations import APPLICATION_ID, LATEST_VERSION


@dataclass(frozen=True)
class Problem:
    area: str  # integrity, foreign_keys, schema, guard, oplog_chain, ledger_chain, balances, ...
    message: str


@dataclass(frozen=True)
class CheckReport:
    schema_version: int
    problems: tuple[Problem, ...]
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def run(c: Conn, *, quick: bool = False) -> CheckReport:
    """All checks on one snapshot. ``quick`` uses quick_check and skips the chain walks."""
    problems: list[Problem] = []
    pragma = "quick_check" if quick else "integrity_check"
    for row in c.all(f"PRAGMA {pragma}"):
        if row[0] != "ok":
            problems.append(Problem("integrity", str(row[0])))
    for row in c.all("PRAGMA foreign_key_check"):
        problems.append(
            Problem("foreign_keys", f"{row[0]} row {row[1]} refers to a missing {row[2]} row")
        )
    version = int(c.scalar("PRAGMA user_version"))
    app_id = int(c.scalar("PRAGMA application_id"))
    if app_id != APPLICATION_ID:
        problems.append(Problem("schema", f"application id {app_id:#x} is not prepaid-gateway's"))
    if version != LATEST_VERSION:
        problems.append(
            Problem(
                "schema",
                f"schema version {version}, this release expects {LATEST_VERSION}"
                + (" (run `prepaid-gateway db migrate`)" if version < LATEST_VERSION else ""),
            )
        )
        return CheckReport(version, tuple(problems))
    guard = [str(r[0]) for r in c.all("SELECT name FROM maintenance_guard")]
    if guard:
        problems.append(Problem("guard", f"maintenance guard left set: {', '.join(guard)}"))
    if not quick:
        problems += [Problem("oplog_chain", m) for m in oplog.verify(c)]
        problems += [Problem("ledger_chain", m) for m in ledger.verify_chain(c)]
    problems += [Problem("balances", m) for m in ledger.verify_balances(c)]
    problems += [Problem("vends", m) for m in vends.verify(c)]
    seq = int(c.scalar("SELECT value FROM sequences WHERE name = 'receipt'") or 0)
    top = int(c.scalar("SELECT coalesce(max(number), 0) FROM receipts"))
    if top > seq:
        problems.append(Problem("receipts", f"receipt number {top} is above the sequence {seq}"))
    counts = {
        table: int(c.scalar(f"SELECT count(*) FROM {table}"))
        for table in ("customers", "accounts", "meters", "vends", "ledger", "receipts", "oplog")
    }
    return CheckReport(version, tuple(problems), counts)


def _check_path(path: Path, quick: bool, clock: Clock) -> CheckReport:
    check_header(path)
    raw = connect(path, DEFAULT_BUSY_TIMEOUT_MS, reader=True)
    try:
        raw.execute("BEGIN")
        try:
            return run(Conn(raw, clock, writable=False), quick=quick)
        except sqlite3.DatabaseError as exc:
            return CheckReport(-1, (Problem("integrity", str(exc)),))
        finally:
            raw.execute("ROLLBACK")
    finally:
        raw.close()


async def check_file(path: str | Path, *, quick: bool = False) -> CheckReport:
    """Check a database file without opening it for writing (no migration happens)."""
    return await asyncio.to_thread(_check_path, Path(path), quick, system_clock)
