"""The operation log (F6.3/F6.4): every action, hash-chained, deletable only with a trace.

Each row stores ``hash = sha256(prev_hash + '\\n' + canonical JSON of its fields)`` and the
previous row's hash, so an edited row or a silently removed row breaks the chain. Deleting by
condition (F6.3) is allowed, but the deletion appends a record (action ``oplog.delete``) holding,
for every run of consecutive removed rows, ``[first_id, last_id, count, prev_hash_in, hash_out]``;
verification walks the surviving rows and those runs and still checks every link. Deletion
records themselves can never be deleted (a trigger refuses it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.store import canonical
from gateway.store.conn import Conn
from gateway.store.errors import InvalidValueError
from gateway.store.paging import Page, PageRequest, Where, contains_pattern, fetch_page

DELETE_ACTION = "oplog.delete"
SYSTEM_OPERATOR = "system"


@dataclass(frozen=True)
class OpLogEntry:
    id: int
    created_at: str
    operator_id: int | None
    operator_name: str
    action: str
    target: str
    detail: dict[str, Any]
    result: str
    error_code: str | None
    prev_hash: str
    hash: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> OpLogEntry:
        return cls(
            id=row["id"],
            created_at=row["created_at"],
            operator_id=row["operator_id"],
            operator_name=row["operator_name"],
            action=row["action"],
            target=row["target"],
            detail=canonical.loads(row["detail"]),
            result=row["result"],
            error_code=row["error_code"],
            prev_hash=row["prev_hash"],
            hash=row["hash"],
        )


@dataclass(frozen=True)
class OpLogFilter:
    """F6.4 query conditions; also the condition of a deletion (F6.3)."""

    since: datetime | None = None
    until: datetime | None = None
    operator_id: int | None = None
    action_prefix: str | None = None
    text: str | None = None
    result: str | None = None

    def where(self) -> Where:
        where = Where()
        where.since_until("created_at", self.since, self.until)
        if self.operator_id is not None:
            where.add("operator_id = ?", self.operator_id)
        if self.action_prefix:
            where.prefix("action", self.action_prefix)
        if self.text:
            pattern = contains_pattern(self.text)
            where.add(
                "(target LIKE ? ESCAPE '\\' OR detail LIKE ? ESCAPE '\\' "
                "OR operator_name LIKE ? ESCAPE '\\')",
                pattern,
                pattern,
                pattern,
            )
        if self.result is not None:
            if self.result not in ("ok", "error"):
                raise InvalidValueError(f"result must be ok or error, got {self.result!r}")
            where.add("result = ?", self.result)
        return where

    def describe(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "operator_id": self.operator_id,
            "action_prefix": self.action_prefix,
            "text": self.text,
            "result": self.result,
        }


def _payload(row: Any) -> dict[str, Any]:
    """The hashed fields of a row (a dict or an sqlite3.Row)."""
    return {
        "id": row["id"],
        "created_at": row["created_at"],
        "operator_id": row["operator_id"],
        "operator_name": row["operator_name"],
        "action": row["action"],
        "target": row["target"],
        "detail": row["detail"],
        "result": row["result"],
        "error_code": row["error_code"],
    }


def append(
    c: Conn,
    action: str,
    *,
    operator_id: int | None = None,
    target: str = "",
    detail: Mapping[str, Any] | None = None,
    result: str = "ok",
    error_code: str | None = None,
    operator_name: str | None = None,
) -> OpLogEntry:
    """Append one entry in the caller's transaction. ``action`` is a dotted code, e.g.
    ``sale.daily``; ``target`` names the object (``customer:12``, ``meter:000000000001``)."""
    if not action:
        raise InvalidValueError("operation log action must not be empty")
    head = c.one(
        "SELECT last_id, last_hash, (SELECT name FROM operators WHERE id = ?) AS operator "
        "FROM chain_heads WHERE name = 'oplog'",
        (operator_id,),
    )
    assert head is not None
    name = operator_name
    if name is None:
        if operator_id is None:
            name = SYSTEM_OPERATOR
        elif head["operator"] is None:
            raise InvalidValueError(f"operator {operator_id} does not exist")
        else:
            name = str(head["operator"])
    row = {
        "id": head["last_id"] + 1,
        "created_at": c.now_text(),
        "operator_id": operator_id,
        "operator_name": name,
        "action": action,
        "target": target,
        "detail": canonical.dumps(dict(detail or {})),
        "result": result,
        "error_code": error_code,
    }
    prev = str(head["last_hash"])
    digest = canonical.link(prev, row)
    c.execute(
        "INSERT INTO oplog (id, created_at, operator_id, operator_name, action, target, detail, "
        "result, error_code, prev_hash, hash) VALUES (:id, :created_at, :operator_id, "
        ":operator_name, :action, :target, :detail, :result, :error_code, :prev_hash, :hash)",
        {**row, "prev_hash": prev, "hash": digest},
    )
    return OpLogEntry(
        id=row["id"],
        created_at=row["created_at"],
        operator_id=operator_id,
        operator_name=name,
        action=action,
        target=target,
        detail=canonical.loads(row["detail"]),
        result=result,
        error_code=error_code,
        prev_hash=prev,
        hash=digest,
    )


_SELECT = (
    "SELECT id, created_at, operator_id, operator_name, action, target, detail, result, "
    "error_code, prev_hash, hash FROM oplog"
)


def query(c: Conn, flt: OpLogFilter, page: PageRequest) -> Page[OpLogEntry]:
    """F6.4, newest first."""
    where = flt.where()
    return fetch_page(
        c,
        f"{_SELECT}{where.sql()} ORDER BY id DESC",
        f"SELECT count(*) FROM oplog{where.sql()}",
        where.params,
        page=page,
        build=OpLogEntry.from_row,
    )


def iterate(c: Conn, flt: OpLogFilter) -> Iterator[OpLogEntry]:
    """All matching entries, oldest first (exports)."""
    where = flt.where()
    for row in c.iterate(f"{_SELECT}{where.sql()} ORDER BY id", where.params):
        yield OpLogEntry.from_row(row)


def delete_where(c: Conn, flt: OpLogFilter, *, operator_id: int | None) -> OpLogEntry:
    """F6.3: delete matching entries (never deletion records); returns the deletion record."""
    where = flt.where()
    where.add("action <> ?", DELETE_ACTION)
    doomed = {int(r[0]) for r in c.all(f"SELECT id FROM oplog{where.sql()}", where.params)}
    runs: list[list[Any]] = []
    current: list[Any] | None = None
    if doomed:
        for row in c.iterate("SELECT id, prev_hash, hash FROM oplog ORDER BY id"):
            if row["id"] in doomed:
                if current is None:
                    current = [row["id"], row["id"], 0, row["prev_hash"], row["hash"]]
                    runs.append(current)
                current[1] = row["id"]
                current[2] += 1
                current[4] = row["hash"]
            else:
                current = None
        c.execute("INSERT INTO maintenance_guard (name) VALUES ('oplog_delete')")
        removed = c.execute(f"DELETE FROM oplog{where.sql()}", where.params)
        c.execute("DELETE FROM maintenance_guard WHERE name = 'oplog_delete'")
        if removed != len(doomed):
            raise RuntimeError(f"deleted {removed} log rows, expected {len(doomed)}")
    return append(
        c,
        DELETE_ACTION,
        operator_id=operator_id,
        target="oplog",
        detail={"condition": flt.describe(), "removed": len(doomed), "runs": runs},
    )


@dataclass(frozen=True)
class _Run:
    first_id: int
    last_id: int
    prev_in: str
    hash_out: str


def verify(c: Conn) -> list[str]:
    """Walk the chain: every surviving row and every recorded deletion run must link up."""
    problems: list[str] = []
    head = c.one(
        "SELECT base_id, base_hash, last_id, last_hash FROM chain_heads WHERE name='oplog'"
    )
    if head is None:
        return ["operation log chain head is missing"]
    runs: list[_Run] = []
    for row in c.iterate(
        "SELECT id, detail FROM oplog WHERE action = ? ORDER BY id", (DELETE_ACTION,)
    ):
        try:
            for first, last, _count, prev_in, out in canonical.loads(row["detail"])["runs"]:
                runs.append(_Run(int(first), int(last), str(prev_in), str(out)))
        except (KeyError, TypeError, ValueError):
            problems.append(f"operation log row {row['id']}: deletion record is unreadable")
    runs.sort(key=lambda r: r.first_id)
    prev = str(head["base_hash"])
    covered = int(head["base_id"])
    pending = iter(runs)
    next_run = next(pending, None)

    def take_run(run: _Run) -> None:
        nonlocal prev, covered
        if run.last_id <= covered:
            return  # inside a later, larger deletion
        if run.first_id != covered + 1 or run.prev_in != prev:
            problems.append(
                f"operation log rows {covered + 1}..{run.first_id - 1} are missing or altered "
                f"before the deleted range {run.first_id}..{run.last_id}"
            )
        prev, covered = run.hash_out, run.last_id

    for row in c.iterate(
        "SELECT id, created_at, operator_id, operator_name, action, target, detail, result, "
        "error_code, prev_hash, hash FROM oplog WHERE id > ? ORDER BY id",
        (int(head["base_id"]),),
    ):
        while next_run is not None and next_run.first_id < row["id"]:
            take_run(next_run)
            next_run = next(pending, None)
        row_id = int(row["id"])
        if row_id <= covered:
            problems.append(f"operation log row {row_id} lies inside a deleted range")
        elif row_id != covered + 1 or row["prev_hash"] != prev:
            problems.append(
                f"operation log row {row_id}: chain broken (rows {covered + 1}..{row_id - 1} "
                f"removed, or an earlier row altered)"
            )
        if canonical.link(str(row["prev_hash"]), _payload(row)) != row["hash"]:
            problems.append(f"operation log row {row_id} was altered after it was written")
        prev, covered = str(row["hash"]), max(covered, row_id)
    while next_run is not None:
        take_run(next_run)
        next_run = next(pending, None)
    if covered != head["last_id"] or prev != head["last_hash"]:
        problems.append(
            f"operation log ends at row {covered} but its head says {head['last_id']}: "
            f"the newest rows were removed or altered"
        )
    return problems
