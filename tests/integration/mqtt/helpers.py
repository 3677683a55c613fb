"""Shared by the MQTT tests and the gateway subprocess they kill: a real SQLite gateway file
holding a stand-in ledger table plus the outbox tables (same DDL as the store's migration)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite

from gateway.sync.client import SyncClient
from gateway.sync.config import MqttConfig
from gateway.sync.connection import BrokerSettings
from gateway.sync.outbox import OUTBOX_DDL, OutboxEvent, append_event

SITE = "site1"
GATEWAY = "gw1"
KEY_HEX = "8c2f5b7e1d9a4c3b6e0f2a8d7c5b4e3f1a2b3c4d5e6f708192a3b4c5d6e7f809"
KEY = bytes.fromhex(KEY_HEX)

# Stands in for the money ledger: the test checks "event exists iff ledger row exists".
LEDGER_DDL = (
    "CREATE TABLE IF NOT EXISTS test_ledger (sale_id TEXT PRIMARY KEY, amount_fen INTEGER);"
)


def now() -> datetime:
    return datetime.now(UTC)


async def open_gateway_db(path: Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path)
    await conn.execute("PRAGMA journal_mode = WAL")
    await conn.execute("PRAGMA synchronous = FULL")
    await conn.execute("PRAGMA busy_timeout = 10000")
    await conn.executescript(OUTBOX_DDL + LEDGER_DDL)
    await conn.commit()
    return conn


def sale_payload(n: int) -> dict[str, object]:
    return {
        "sale_id": f"S{n:07d}",
        "account_id": f"A{n % 37:04d}",
        "meter": f"{n % 1000:012d}",
        "amount_fen": 1000 + n,
        "tariff_version": "T2024-01",
        "channel": "web",
        "state": "confirmed",
    }


async def sell(conn: aiosqlite.Connection, n: int, stream: str = "sales") -> OutboxEvent:
    """One sale: the ledger row and its event in one transaction."""
    payload = sale_payload(n)
    if stream == "refunds":
        payload = {
            "refund_id": f"R{n:07d}",
            "account_id": f"A{n % 37:04d}",
            "amount_fen": n,
            "tariff_version": "T2024-01",
        }
    await conn.execute("BEGIN IMMEDIATE")
    try:
        await conn.execute(
            "INSERT INTO test_ledger (sale_id, amount_fen) VALUES (?, ?)",
            (f"{stream}-{n}", int(str(payload["amount_fen"]))),
        )
        event = await append_event(conn, stream, payload, now())
        await conn.commit()
    except BaseException:
        await conn.rollback()
        raise
    return event


def gateway_config(host: str, port: int, **overrides: object) -> MqttConfig:
    values: dict[str, object] = {
        "enabled": True,
        "host": host,
        "port": port,
        "site_id": SITE,
        "gateway_id": GATEWAY,
        "site_key": KEY_HEX,
        "backoff_initial_s": 0.1,
        "backoff_max_s": 1.0,
        "resend_after_s": 5.0,
        "keepalive": 10,
    }
    values.update(overrides)
    return MqttConfig(**values)  # type: ignore[arg-type]


def master_settings(host: str, port: int, client_id: str = "master-sim-test") -> BrokerSettings:
    return BrokerSettings(host=host, port=port, client_id=client_id)


@contextlib.asynccontextmanager
async def running(client: SyncClient) -> AsyncIterator[SyncClient]:
    task = asyncio.create_task(client.run())
    try:
        yield client
    finally:
        await client.stop()
        await asyncio.wait_for(task, 30)


async def wait_for(predicate: object, within_s: float = 20.0, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not (callable(predicate) and predicate()):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"timed out after {within_s}s waiting for {what}")
        await asyncio.sleep(0.02)


def by_stream(events: list[Mapping[str, object]]) -> dict[str, list[int]]:
    """Seqs per stream in the order the master stored them."""
    out: dict[str, list[int]] = {}
    for e in events:
        out.setdefault(str(e["stream"]), []).append(int(str(e["seq"])))
    return out
