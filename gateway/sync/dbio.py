"""SQLite access patterns that stay correct when several tasks share one aiosqlite connection.

Two traps, both seen in the outage tests:

- A read left open across an await (``execute`` now, ``fetchone`` later) keeps a read
  transaction on the connection; a write from another task on the same connection then cannot
  wait for the lock (SQLite only waits when no read is open) and fails at once with "database
  is locked". ``query`` runs the statement to completion in one hop.
- ``execute(INSERT)`` then ``commit()`` is two awaits: a task cancelled between them (a dropped
  MQTT connection cancels the session's tasks) leaves an open write transaction holding the
  lock. ``committed`` runs statements + commit as one shielded unit, one unit at a time per
  connection, starting with BEGIN IMMEDIATE so it waits for the lock instead of failing.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite

Params = Sequence[object]

_locks: weakref.WeakKeyDictionary[aiosqlite.Connection, asyncio.Lock] = weakref.WeakKeyDictionary()


def _lock(conn: aiosqlite.Connection) -> asyncio.Lock:
    lock = _locks.get(conn)
    if lock is None:
        lock = _locks[conn] = asyncio.Lock()
    return lock


async def query(conn: aiosqlite.Connection, sql: str, params: Params = ()) -> list[Any]:
    """All rows of a read, fetched in the same hop as the execute."""
    rows = await conn.execute_fetchall(sql, params)
    return list(rows)


async def query_one(conn: aiosqlite.Connection, sql: str, params: Params = ()) -> Any | None:
    rows = await query(conn, sql, params)
    return rows[0] if rows else None


class Op:
    """One statement: ``Op(sql, params)`` or ``Op(sql, rows=[...])`` for executemany."""

    __slots__ = ("params", "rows", "sql")

    def __init__(
        self, sql: str, params: Params = (), *, rows: Iterable[Params] | None = None
    ) -> None:
        self.sql = sql
        self.params = params
        self.rows = rows


async def _run(conn: aiosqlite.Connection, ops: Sequence[Op]) -> list[int]:
    counts: list[int] = []
    async with _lock(conn):
        own = not conn.in_transaction
        if own:
            await conn.execute("BEGIN IMMEDIATE")
        try:
            for op in ops:
                if op.rows is not None:
                    cursor = await conn.executemany(op.sql, op.rows)
                else:
                    cursor = await conn.execute(op.sql, op.params)
                counts.append(max(cursor.rowcount, 0))
                await cursor.close()
            if own:
                await conn.commit()
        except BaseException:
            if own:
                await conn.rollback()
            raise
    return counts


async def committed(conn: aiosqlite.Connection, *ops: Op) -> list[int]:
    """Run ``ops`` and commit as one unit; returns the row count of each statement."""
    return await asyncio.shield(_run(conn, ops))
