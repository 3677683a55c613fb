"""Outbox drain after an outage: N events written while offline, then one connect.

A real mosquitto (plain listener on 127.0.0.1) and the master-station simulator in its own
process (`prepaid-gateway master-sim`, schema checks off as a production consumer would run it)
stand in for the cloud. The gateway side runs here: 20,000 events (sales and refunds) are
written to a real SQLite outbox, then the SyncClient connects; the clock stops when the
gateway has applied the cloud's acknowledgement of every event, so the figure includes publish,
broker, storage at the master, and the acks coming back.

Prints one JSON object: drain_events_per_s (target >= 5000), drain_s, events, event_bytes
(a typical sale event as published), mean_event_bytes.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the broker fixture is in tests/

import aiosqlite

from gateway.sync.client import SyncClient
from gateway.sync.config import MqttConfig
from gateway.sync.contract import event_envelope_text
from gateway.sync.outbox import OUTBOX_DDL, add_event, pending
from tests.support.mosquitto import Broker, make_certs

EVENTS = 20_000
SITE, GATEWAY = "site1", "gw1"


def fill(db: Path) -> None:
    raw = sqlite3.connect(db, isolation_level=None)
    raw.execute("PRAGMA journal_mode = WAL")
    raw.executescript(OUTBOX_DDL)
    now = datetime.now(UTC)
    raw.execute("BEGIN IMMEDIATE")
    for n in range(1, EVENTS + 1):
        if n % 4:
            payload: dict[str, object] = {
                "sale_id": f"{n}",
                "account_id": f"{1000 + n % 500}",
                "customer_id": f"{2000 + n % 500}",
                "meter": f"{n % 100000:012d}",
                "amount_fen": 5000 + n % 97,
                "energy_ckwh": 9434,
                "remainder_fen": 12,
                "tariff_version": "17",
                "channel": "web",
                "state": "confirmed",
                "purchase_count": n % 300,
                "operator": "admin",
                "sold_at": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            }
            add_event(raw, "sales", payload, now)
        else:
            refund = {"refund_id": f"{n}", "account_id": f"{n % 500}", "amount_fen": n % 9000,
                      "tariff_version": "17", "reason": "close", "operator": "admin"}  # fmt: skip
            add_event(raw, "refunds", refund, now)
    raw.execute("COMMIT")
    raw.close()


async def sizes(db: Path) -> tuple[int, float]:
    conn = await aiosqlite.connect(db)
    try:
        sample = await pending(conn, "sales", 0, 1000) + await pending(conn, "refunds", 0, 300)
    finally:
        await conn.close()
    published = [
        len(
            event_envelope_text(
                event_id=e.id, stream=e.stream, seq=e.seq, created_at=e.created_at,
                backfill=True, site_id=SITE, gateway_id=GATEWAY, payload_json=e.payload_json,
            ).encode()
        )
        for e in sample
    ]  # fmt: skip
    return published[0], sum(published) / len(published)


async def drain(db: Path, broker: Broker) -> tuple[float, float]:
    conn = await aiosqlite.connect(db)
    await conn.execute("PRAGMA busy_timeout = 10000")
    config = MqttConfig(
        enabled=True, host=broker.host, port=broker.port, site_id=SITE, gateway_id=GATEWAY
    )
    client = SyncClient(config, conn, poll_interval_s=0.05)
    start, cpu = time.perf_counter(), time.process_time()
    task = asyncio.create_task(client.run())
    while client.state.acked < EVENTS:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    await client.stop()
    await task
    await conn.close()
    return elapsed, cpu


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-mqtt-") as tmp:
        root = Path(tmp)
        broker = Broker(root / "broker", make_certs(root / "certs"))
        broker.write_config()
        broker.start()
        sim = subprocess.Popen(
            [sys.executable, "-m", "gateway", "master-sim",
             "--broker", f"{broker.host}:{broker.port}", "--database", str(root / "master.db"),
             "--no-validate", "--summary-every", "3600"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=Path(__file__).resolve().parents[1],
        )  # fmt: skip
        try:
            assert sim.stdout is not None
            while b"connected to" not in sim.stdout.readline():
                if sim.poll() is not None:
                    raise SystemExit("master-sim did not start")
            db = root / "gateway.db"
            fill(db)
            event_bytes, mean_bytes = asyncio.run(sizes(db))
            assert broker.proc is not None
            sim_before, broker_before = _cpu(sim.pid), _cpu(broker.proc.pid)
            elapsed, gateway_cpu = asyncio.run(drain(db, broker))
            master_cpu = _cpu(sim.pid) - sim_before
            broker_cpu = _cpu(broker.proc.pid) - broker_before
        finally:
            sim.terminate()
            sim.wait(10)
            broker.stop()
    print(
        json.dumps(
            {
                "drain_events_per_s": round(EVENTS / elapsed),
                "drain_s": round(elapsed, 2),
                "events": EVENTS,
                "event_bytes": event_bytes,
                "mean_event_bytes": round(mean_bytes),
                "gateway_cpu_us_per_event": round(gateway_cpu / EVENTS * 1e6),
                "master_sim_cpu_us_per_event": round(master_cpu / EVENTS * 1e6),
                "broker_cpu_us_per_event": round(broker_cpu / EVENTS * 1e6),
                "load_average_1m": round(os.getloadavg()[0], 2),
                "target_events_per_s": 5000,
            }
        )
    )


if __name__ == "__main__":
    main()
