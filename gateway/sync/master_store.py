"""The master-station simulator's own SQLite file: events stored once, in per-stream order.

Events are applied strictly in sequence per (site, gateway, stream): one that arrives ahead of
a gap waits in memory until the gap is filled (the gateway republishes from the last ack), so the
stored order is always the gateway's order and ``contiguous`` is exactly what may be acked.
A known id is a duplicate (backfill after a reconnect); an unknown id at an already stored seq
is a conflict (e.g. a gateway restored from an old backup) and is kept aside for a human.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiosqlite

from gateway.sync.contract import compact_json, utc_iso
from gateway.sync.dbio import Op, committed, query, query_one

MASTER_DDL = """
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS events (
  arrival INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  site_id TEXT NOT NULL,
  gateway_id TEXT NOT NULL,
  stream TEXT NOT NULL,
  seq INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  backfill INTEGER NOT NULL,
  via TEXT NOT NULL,
  received_at TEXT NOT NULL,
  payload TEXT NOT NULL,
  UNIQUE (site_id, gateway_id, stream, seq)
);
CREATE TABLE IF NOT EXISTS stream_heads (
  site_id TEXT NOT NULL, gateway_id TEXT NOT NULL, stream TEXT NOT NULL,
  contiguous_seq INTEGER NOT NULL,
  PRIMARY KEY (site_id, gateway_id, stream)
);
CREATE TABLE IF NOT EXISTS gateways (
  site_id TEXT NOT NULL, gateway_id TEXT NOT NULL,
  state TEXT NOT NULL, status TEXT NOT NULL, last_seen TEXT NOT NULL,
  PRIMARY KEY (site_id, gateway_id)
);
CREATE TABLE IF NOT EXISTS conflicts (
  id TEXT NOT NULL, site_id TEXT NOT NULL, gateway_id TEXT NOT NULL, stream TEXT NOT NULL,
  seq INTEGER NOT NULL, received_at TEXT NOT NULL, envelope TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS command_results (
  arrival INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT, site_id TEXT NOT NULL, gateway_id TEXT NOT NULL, command TEXT NOT NULL,
  received_at TEXT NOT NULL, result TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS telemetry (
  arrival INTEGER PRIMARY KEY AUTOINCREMENT,
  site_id TEXT NOT NULL, gateway_id TEXT NOT NULL, received_at TEXT NOT NULL, batch TEXT NOT NULL
);
"""

StreamKey = tuple[str, str, str]  # site, gateway, stream
MAX_HELD = 200_000  # out-of-order events kept in memory per stream before dropping the newest


@dataclass
class IngestResult:
    stored: int = 0
    duplicates: int = 0
    conflicts: int = 0
    held: int = 0
    advanced: dict[StreamKey, int] = field(default_factory=dict)
    # Streams that saw duplicates: the gateway may have missed our ack, so send it again.
    repeated: set[StreamKey] = field(default_factory=set)


class MasterStore:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._heads: dict[StreamKey, int] = {}
        self._held: dict[StreamKey, dict[int, tuple[Mapping[str, Any], str]]] = {}

    @classmethod
    async def open(cls, path: str) -> MasterStore:
        conn = await aiosqlite.connect(path)
        await conn.executescript(MASTER_DDL)
        await conn.commit()
        store = cls(conn)
        rows = await query(
            conn, "SELECT site_id, gateway_id, stream, contiguous_seq FROM stream_heads"
        )
        for row in rows:
            store._heads[(row[0], row[1], row[2])] = int(row[3])
        return store

    async def close(self) -> None:
        await self._conn.close()

    @property
    def conn(self) -> aiosqlite.Connection:
        return self._conn

    def contiguous(self, key: StreamKey) -> int:
        return self._heads.get(key, 0)

    async def ingest(
        self, envelopes: Iterable[Mapping[str, Any]], *, via: str, now: datetime
    ) -> IngestResult:
        """Store new events in order (one transaction); returns what happened."""
        result = IngestResult()
        received = utc_iso(now)
        rows: list[tuple[object, ...]] = []
        conflicts: list[tuple[object, ...]] = []
        suspects: list[Mapping[str, Any]] = []
        touched: set[StreamKey] = set()
        for env in envelopes:
            key = (str(env["site_id"]), str(env["gateway_id"]), str(env["stream"]))
            seq = int(env["seq"])
            head = self._heads.get(key, 0)
            if seq <= head:
                suspects.append(env)
                continue
            held = self._held.setdefault(key, {})
            if seq in held:
                if held[seq][0]["id"] != env["id"]:
                    result.conflicts += 1
                    conflicts.append(_conflict_row(env, received))
                else:
                    result.duplicates += 1
                    result.repeated.add(key)
                continue
            if len(held) >= MAX_HELD:
                continue  # the gateway republishes after its resend timeout
            held[seq] = (env, via)
            touched.add(key)
        for key in touched:
            held = self._held[key]
            head = self._heads.get(key, 0)
            start = head
            while head + 1 in held:
                env, arrived_via = held.pop(head + 1)
                head += 1
                rows.append(
                    (
                        env["id"],
                        key[0],
                        key[1],
                        key[2],
                        head,
                        env["created_at"],
                        1 if env.get("backfill") else 0,
                        arrived_via,
                        received,
                        compact_json(env["payload"]),
                    )
                )
            if head > start:
                result.advanced[key] = head  # applied to _heads once committed
            result.held += len(held)
        known = await self._known([str(env["id"]) for env in suspects])
        for env in suspects:
            key = (str(env["site_id"]), str(env["gateway_id"]), str(env["stream"]))
            if str(env["id"]) in known:
                result.duplicates += 1
                result.repeated.add(key)
            else:
                result.conflicts += 1
                conflicts.append(_conflict_row(env, received))
        ops: list[Op] = []
        if rows:
            ops.append(
                Op(
                    "INSERT INTO events (id, site_id, gateway_id, stream, seq, created_at,"
                    " backfill, via, received_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows=rows,
                )
            )
            result.stored = len(rows)
        if conflicts:
            ops.append(Op("INSERT INTO conflicts VALUES (?, ?, ?, ?, ?, ?, ?)", rows=conflicts))
        if result.advanced:
            ops.append(
                Op(
                    "INSERT INTO stream_heads VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE"
                    " SET contiguous_seq = excluded.contiguous_seq",
                    rows=[(*k, v) for k, v in result.advanced.items()],
                )
            )
        if ops:
            await committed(self._conn, *ops)
        self._heads.update(result.advanced)
        return result

    async def _known(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = await query(self._conn, f"SELECT id FROM events WHERE id IN ({marks})", chunk)
            found.update(str(r[0]) for r in rows)
        return found

    async def record_status(
        self, site_id: str, gateway_id: str, status: Mapping[str, Any], now: datetime
    ) -> None:
        await committed(
            self._conn,
            Op(
                "INSERT INTO gateways VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET"
                " state = excluded.state, status = excluded.status, last_seen = excluded.last_seen",
                (site_id, gateway_id, str(status.get("state")), compact_json(status), utc_iso(now)),
            ),
        )

    async def record_result(
        self, site_id: str, gateway_id: str, result: Mapping[str, Any], now: datetime
    ) -> None:
        await committed(
            self._conn,
            Op(
                "INSERT INTO command_results (id, site_id, gateway_id, command, received_at,"
                " result) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    result.get("id"),
                    site_id,
                    gateway_id,
                    str(result.get("command")),
                    utc_iso(now),
                    compact_json(result),
                ),
            ),
        )

    async def record_telemetry(
        self, site_id: str, gateway_id: str, batch: Mapping[str, Any], now: datetime
    ) -> None:
        await committed(
            self._conn,
            Op(
                "INSERT INTO telemetry (site_id, gateway_id, received_at, batch)"
                " VALUES (?, ?, ?, ?)",
                (site_id, gateway_id, utc_iso(now), compact_json(batch)),
            ),
        )

    # ------------------------------------------------------------ queries

    async def events(
        self, site_id: str | None = None, gateway_id: str | None = None, stream: str | None = None
    ) -> list[dict[str, Any]]:
        """Stored events in arrival order, as dicts (payload parsed)."""
        where, args = _filters(site_id, gateway_id, stream)
        rows = await query(
            self._conn,
            "SELECT id, site_id, gateway_id, stream, seq, created_at, backfill, via, payload"
            f" FROM events{where} ORDER BY arrival",
            args,
        )
        return [
            {
                "id": r[0],
                "site_id": r[1],
                "gateway_id": r[2],
                "stream": r[3],
                "seq": r[4],
                "created_at": r[5],
                "backfill": bool(r[6]),
                "via": r[7],
                "payload": json.loads(r[8]),
            }
            for r in rows
        ]

    async def count(self, site_id: str | None = None, gateway_id: str | None = None) -> int:
        where, args = _filters(site_id, gateway_id, None)
        row = await query_one(self._conn, f"SELECT count(*) FROM events{where}", args)
        return int(row[0]) if row else 0

    async def conflicts(self) -> list[dict[str, Any]]:
        rows = await query(self._conn, "SELECT envelope FROM conflicts")
        return [json.loads(r[0]) for r in rows]

    async def results(self, command_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT result FROM command_results"
        args: tuple[object, ...] = ()
        if command_id is not None:
            sql += " WHERE id = ?"
            args = (command_id,)
        rows = await query(self._conn, sql + " ORDER BY arrival", args)
        return [json.loads(r[0]) for r in rows]

    async def gateways(self) -> list[dict[str, Any]]:
        """Per gateway: state, last status, last seen, and stored seq per stream."""
        out: list[dict[str, Any]] = []
        rows = await query(
            self._conn,
            "SELECT site_id, gateway_id, state, status, last_seen FROM gateways"
            " ORDER BY site_id, gateway_id",
        )
        known = {(r[0], r[1]) for r in rows}
        extra = sorted({(k[0], k[1]) for k in self._heads} - known)
        for site, gw, state, status, seen in [
            *rows,
            *((s, g, "unknown", "{}", "") for s, g in extra),
        ]:
            out.append(
                {
                    "site_id": site,
                    "gateway_id": gw,
                    "state": state,
                    "status": json.loads(status),
                    "last_seen": seen,
                    "streams": {
                        k[2]: v for k, v in sorted(self._heads.items()) if k[:2] == (site, gw)
                    },
                }
            )
        return out


def _filters(
    site_id: str | None, gateway_id: str | None, stream: str | None
) -> tuple[str, tuple[str, ...]]:
    parts, args = [], []
    for column, value in (("site_id", site_id), ("gateway_id", gateway_id), ("stream", stream)):
        if value is not None:
            parts.append(f"{column} = ?")
            args.append(value)
    return (" WHERE " + " AND ".join(parts) if parts else ""), tuple(args)


def _conflict_row(env: Mapping[str, Any], received: str) -> tuple[object, ...]:
    return (
        str(env["id"]),
        str(env["site_id"]),
        str(env["gateway_id"]),
        str(env["stream"]),
        int(env["seq"]),
        received,
        compact_json(env),
    )
