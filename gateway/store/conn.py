"""``Conn``: what repository functions receive, a thin typed wrapper over a sqlite3 connection.

Repository functions are plain synchronous functions ``fn(c: Conn, ...)``. The Database runs
them on its own worker thread (one hop from the event loop per transaction, not per statement),
which also makes it impossible to await a meter or a card while holding the write lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from gateway.store.clock import Clock, to_text
from gateway.store.errors import translate

Params = Sequence[Any] | Mapping[str, Any]


class Conn:
    """One SQLite connection inside a transaction (writer) or a snapshot (reader)."""

    __slots__ = ("_clock", "_now", "_now_text", "_raw", "writable")

    def __init__(self, raw: sqlite3.Connection, clock: Clock, *, writable: bool) -> None:
        self._raw = raw
        self._clock = clock
        self._now: datetime | None = None
        self._now_text: str | None = None
        self.writable = writable

    @property
    def raw(self) -> sqlite3.Connection:
        """The sqlite3 connection, for the few places that need its own API (backup)."""
        return self._raw

    def now(self) -> datetime:
        """The transaction's instant: the clock is read once, every row written shares it."""
        if self._now is None:
            self._now = self._clock()
        return self._now

    def now_text(self) -> str:
        if self._now_text is None:
            self._now_text = to_text(self.now())
        return self._now_text

    def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows changed."""
        try:
            return self._raw.execute(sql, params).rowcount
        except sqlite3.Error as exc:
            raise translate(exc, sql) from exc

    def insert(self, sql: str, params: Params = ()) -> int:
        """Run one INSERT; returns the new rowid."""
        try:
            cursor = self._raw.execute(sql, params)
        except sqlite3.Error as exc:
            raise translate(exc, sql) from exc
        rowid = cursor.lastrowid
        assert rowid is not None
        return rowid

    def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        try:
            return self._raw.executemany(sql, rows).rowcount
        except sqlite3.Error as exc:
            raise translate(exc, sql) from exc

    def one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        try:
            row: sqlite3.Row | None = self._raw.execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            raise translate(exc, sql) from exc
        return row

    def all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        try:
            return self._raw.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise translate(exc, sql) from exc

    def iterate(self, sql: str, params: Params = ()) -> Iterator[sqlite3.Row]:
        """Rows one at a time (exports, chain verification) without loading them all."""
        try:
            cursor = self._raw.execute(sql, params)
            while True:
                batch = cursor.fetchmany(1000)
                if not batch:
                    return
                yield from batch
        except sqlite3.Error as exc:
            raise translate(exc, sql) from exc

    def scalar(self, sql: str, params: Params = ()) -> Any:
        row = self.one(sql, params)
        return None if row is None else row[0]
