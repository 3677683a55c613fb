"""The persistent outbox: events for the cloud, written in the same transaction as the ledger.

Tables (created by the store's migrations; ``OUTBOX_DDL`` is the same text for tests and tools):
``outbox`` holds every event with a per-stream, 1-based, contiguous ``seq``; ``outbox_ack`` holds
the highest contiguous seq the cloud has acknowledged per stream. An event is pending while its
seq is above its stream's acked seq. Because seqs are contiguous and acknowledged ones are only
pruned after the fact, the depth of a stream is simply ``last seq - acked seq``.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import aiosqlite

from gateway.sync import errors
from gateway.sync.contract import STREAMS, ContractError, parse_iso, utc_iso, validate
from gateway.sync.dbio import Op, committed, query, query_one

OUTBOX_DDL = """
CREATE TABLE IF NOT EXISTS outbox (
  id TEXT NOT NULL,
  stream TEXT NOT NULL,
  seq INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  payload TEXT NOT NULL,
  PRIMARY KEY (stream, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox_ack (
  stream TEXT PRIMARY KEY, acked_seq INTEGER NOT NULL DEFAULT 0
);
"""


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    id: str
    stream: str
    seq: int
    created_at: str
    payload_json: str

    @property
    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.payload_json)
        return data


@dataclass(frozen=True, slots=True)
class StreamPosition:
    """Where a stream stands: last seq written and highest contiguous seq acknowledged."""

    stream: str
    last_seq: int
    acked_seq: int

    @property
    def depth(self) -> int:
        return max(0, self.last_seq - self.acked_seq)


async def create_tables(conn: aiosqlite.Connection) -> None:
    """For tests and the master-side tools; the gateway gets these from the store migrations."""
    await conn.executescript(OUTBOX_DDL)
    await conn.commit()


def _check_stream(stream: str) -> None:
    if stream not in STREAMS:
        raise errors.SyncError(errors.BAD_EVENT, f"unknown stream {stream!r}")


_NEXT_SEQ = """
INSERT INTO outbox (id, stream, seq, created_at, payload)
VALUES (?, ?, 1 + max(
    coalesce((SELECT max(seq) FROM outbox WHERE stream = ?), 0),
    coalesce((SELECT acked_seq FROM outbox_ack WHERE stream = ?), 0)), ?, ?)
RETURNING seq
"""


class HasRaw(Protocol):
    """gateway.store's ``Conn`` (what ``db.write(fn)`` passes to ``fn``)."""

    @property
    def raw(self) -> sqlite3.Connection: ...


def _prepare(
    stream: str, payload: Mapping[str, object], now: datetime
) -> tuple[str, str, tuple[object, ...]]:
    _check_stream(stream)
    try:
        validate(f"payload-{stream}", payload)
    except ContractError as exc:
        raise errors.SyncError(errors.BAD_EVENT, str(exc)) from None
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    event_id = uuid.uuid4().hex
    created = utc_iso(now)
    return event_id, created, (event_id, stream, stream, stream, created, text)


def add_event(
    conn: sqlite3.Connection | HasRaw, stream: str, payload: Mapping[str, object], now: datetime
) -> OutboxEvent:
    """Synchronous ``append_event`` for code running on the store's writer thread::

        await db.write(lambda c: (ledger.append(c, row), add_event(c, "sales", payload, now)))

    Same contract: inside the caller's transaction, never commits, E734 on a bad payload.
    """
    raw = conn if isinstance(conn, sqlite3.Connection) else conn.raw
    event_id, created, params = _prepare(stream, payload, now)
    row = raw.execute(_NEXT_SEQ, params).fetchone()
    assert row is not None
    return OutboxEvent(event_id, stream, int(row[0]), created, str(params[-1]))


async def append_event(
    conn: aiosqlite.Connection, stream: str, payload: Mapping[str, object], now: datetime
) -> OutboxEvent:
    """Add an event; call INSIDE the caller's ledger transaction (this never commits).

    The event then exists if and only if the ledger row does. A payload that does not match the
    stream's schema (or holds a float) raises SyncError E734 before anything is written.
    """
    event_id, created, params = _prepare(stream, payload, now)
    row = await query_one(conn, _NEXT_SEQ, params)
    assert row is not None
    return OutboxEvent(event_id, stream, int(row[0]), created, str(params[-1]))


async def pending(
    conn: aiosqlite.Connection, stream: str, after_seq: int, limit: int
) -> list[OutboxEvent]:
    """Events of ``stream`` with seq > ``after_seq``, in seq order, at most ``limit``."""
    _check_stream(stream)
    rows = await query(
        conn,
        "SELECT id, stream, seq, created_at, payload FROM outbox"
        " WHERE stream = ? AND seq > ? ORDER BY seq LIMIT ?",
        (stream, after_seq, limit),
    )
    return [OutboxEvent(r[0], r[1], int(r[2]), r[3], r[4]) for r in rows]


async def position(conn: aiosqlite.Connection, stream: str) -> StreamPosition:
    _check_stream(stream)
    row = await query_one(
        conn,
        "SELECT coalesce((SELECT max(seq) FROM outbox WHERE stream = ?), 0),"
        " coalesce((SELECT acked_seq FROM outbox_ack WHERE stream = ?), 0)",
        (stream, stream),
    )
    assert row is not None
    acked = int(row[1])
    return StreamPosition(stream, max(int(row[0]), acked), acked)


async def positions(conn: aiosqlite.Connection) -> dict[str, StreamPosition]:
    return {s: await position(conn, s) for s in STREAMS}


async def acked_seq(conn: aiosqlite.Connection, stream: str) -> int:
    return (await position(conn, stream)).acked_seq


async def ack(conn: aiosqlite.Connection, stream: str, seq: int) -> int:
    """Record the cloud's acknowledgement of everything up to ``seq``; returns the acked seq.

    Lower or equal acks are ignored (they arrive late or twice); an ack beyond the last event
    ever written raises SyncError E733 and changes nothing. Commits its own transaction, so use
    a connection that is not inside someone else's transaction (the sync client has its own).
    """
    pos = await position(conn, stream)
    if seq <= pos.acked_seq:
        return pos.acked_seq
    if seq > pos.last_seq:
        raise errors.SyncError(
            errors.ACK_BEYOND_END, f"{stream}: ack {seq} but last seq is {pos.last_seq}"
        )
    await committed(
        conn,
        Op(
            "INSERT INTO outbox_ack (stream, acked_seq) VALUES (?, ?)"
            " ON CONFLICT(stream) DO UPDATE SET acked_seq = excluded.acked_seq"
            " WHERE excluded.acked_seq > outbox_ack.acked_seq",
            (stream, seq),
        ),
    )
    return seq


async def depth(conn: aiosqlite.Connection) -> int:
    """Events not yet acknowledged, all streams together."""
    return sum(p.depth for p in (await positions(conn)).values())


async def oldest_unacked_age(conn: aiosqlite.Connection, now: datetime) -> timedelta | None:
    """Age of the oldest unacknowledged event, or None when the outbox is drained."""
    oldest: datetime | None = None
    for pos in (await positions(conn)).values():
        if pos.depth == 0:
            continue
        row = await query_one(
            conn,
            "SELECT created_at FROM outbox WHERE stream = ? AND seq = ?",
            (pos.stream, pos.acked_seq + 1),
        )
        if row is None:
            continue
        created = parse_iso(row[0])
        if oldest is None or created < oldest:
            oldest = created
    return None if oldest is None else now - oldest


async def prune_acked(conn: aiosqlite.Connection, older_than: datetime) -> int:
    """Delete acknowledged events created before ``older_than``; returns how many. Commits.

    Sequence numbers stay contiguous because the next seq also looks at the acked seq.
    """
    cutoff = utc_iso(older_than)
    ops = [
        Op(
            "DELETE FROM outbox WHERE stream = ? AND seq <= ? AND created_at < ?",
            (pos.stream, pos.acked_seq, cutoff),
        )
        for pos in (await positions(conn)).values()
    ]
    return sum(await committed(conn, *ops))
