"""Events reach the cloud once each and in order, across broker outages; birth and will."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiosqlite

from gateway.sync.client import SyncClient
from gateway.sync.contract import validate
from gateway.sync.master import MasterStation
from gateway.sync.outbox import depth
from tests.integration.mqtt.helpers import (
    GATEWAY,
    SITE,
    by_stream,
    gateway_config,
    open_gateway_db,
    running,
    sell,
    wait_for,
)
from tests.support.mosquitto import Broker


async def test_events_arrive_in_order_and_acks_drain_the_outbox(
    mosquitto: Broker, master: MasterStation, gw_db: aiosqlite.Connection
) -> None:
    for n in range(1, 121):
        await sell(gw_db, n, "sales" if n % 3 else "refunds")
    client = SyncClient(gateway_config(mosquitto.host, mosquitto.port), gw_db, poll_interval_s=0.05)
    async with running(client):
        await master.wait_for_stored(120)
        await wait_for(lambda: client.state.outbox_depth == 0, what="acks applied")
        # Live events after the backlog: not backfill.
        for n in range(121, 131):
            await sell(gw_db, n)
        client.notify()
        await master.wait_for_stored(130)
        await wait_for(lambda: client.state.outbox_depth == 0, what="acks applied")

    stored = await master.store.events(SITE, GATEWAY)
    assert len({e["id"] for e in stored}) == 130
    seqs = by_stream(stored)
    assert seqs["sales"] == list(range(1, len(seqs["sales"]) + 1))
    assert seqs["refunds"] == list(range(1, 41))
    # Money arrives exactly as sold, with the tariff version it was priced at.
    sale = next(
        e for e in stored if e["stream"] == "sales" and e["payload"]["sale_id"] == "S0000001"
    )
    assert sale["payload"]["amount_fen"] == 1001
    assert sale["payload"]["tariff_version"] == "T2024-01"
    backfill = {
        e["payload"].get("sale_id"): e["backfill"] for e in stored if e["stream"] == "sales"
    }
    assert backfill["S0000001"] is True  # written before the connection: replayed backlog
    assert backfill["S0000130"] is False  # written while connected: live
    assert master.problems == []  # every message validated against the JSON Schemas
    assert await depth(gw_db) == 0


async def test_birth_message_is_retained_with_counts_and_shutdown_says_offline(
    mosquitto: Broker, master: MasterStation, gw_db: aiosqlite.Connection
) -> None:
    await sell(gw_db, 1)
    client = SyncClient(gateway_config(mosquitto.host, mosquitto.port), gw_db)
    async with running(client):
        await master.wait_until(lambda: (SITE, GATEWAY) in master.status, 10)
        birth = master.status[(SITE, GATEWAY)]
        validate("status", birth)
        assert birth["state"] == "online"
        assert birth["gateway_id"] == GATEWAY and birth["site_id"] == SITE
        assert birth["contract"] == "1.0"
        assert birth["counts"]["streams"]["sales"]["seq"] == 1
        assert "version" in birth
    await master.wait_until(lambda: master.status[(SITE, GATEWAY)]["state"] == "offline", 10)
    assert master.status[(SITE, GATEWAY)]["reason"] == "shutdown"
    # Retained: a consumer that connects later still learns the gateway is offline.
    proc = await asyncio.create_subprocess_exec(
        "mosquitto_sub", "-h", mosquitto.host, "-p", str(mosquitto.port),
        "-t", f"prepaid/{SITE}/{GATEWAY}/status", "-C", "1", "-W", "5",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert json.loads(out)["state"] == "offline"


async def test_broker_outage_during_continuous_sales_loses_and_doubles_nothing(
    mosquitto: Broker, master: MasterStation, gw_db: aiosqlite.Connection, tmp_path
) -> None:
    producer_db = await aiosqlite.connect(tmp_path / "gateway.db")
    await producer_db.execute("PRAGMA busy_timeout = 10000")
    client = SyncClient(gateway_config(mosquitto.host, mosquitto.port), gw_db, poll_interval_s=0.05)
    produced: list[str] = []
    stop = asyncio.Event()

    async def produce() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            event = await sell(producer_db, n, "sales" if n % 4 else "refunds")
            produced.append(event.id)
            client.notify()
            await asyncio.sleep(0.004)

    async with running(client):
        producer = asyncio.create_task(produce())
        await master.wait_for_stored(50)
        mosquitto.stop()  # the whole broker goes away, with the master's connection too
        await wait_for(lambda: not client.state.connected, what="gateway notices the outage")
        during = len(produced)
        await asyncio.sleep(1.5)  # sales continue offline
        assert len(produced) > during + 50
        mosquitto.start()
        await asyncio.sleep(0.5)
        stop.set()
        await producer
        await master.wait_for_stored(len(produced), 30)
        await wait_for(lambda: client.state.outbox_depth == 0, 20, "acks applied")
    await producer_db.close()

    stored = await master.store.events(SITE, GATEWAY)
    ids = [e["id"] for e in stored]
    assert len(ids) == len(set(ids)) == len(produced)
    assert set(ids) == set(produced)
    for stream, seqs in by_stream(stored).items():
        assert seqs == list(range(1, len(seqs) + 1)), stream
    assert any(e["backfill"] for e in stored)  # replayed after the outage, and marked
    assert client.state.connections >= 2
    async with gw_db.execute("SELECT count(*) FROM test_ledger") as cur:
        row = await cur.fetchone()
    assert row is not None and row[0] == len(produced)  # one event per ledger row


async def test_backlog_alarm_while_offline_clears_after_the_drain(
    mosquitto: Broker, master: MasterStation, gw_db: aiosqlite.Connection, tmp_path
) -> None:
    sales_db = await open_gateway_db(tmp_path / "gateway.db")  # the services' own connection
    alarms: list[tuple[bool, int, str]] = []
    mosquitto.stop()
    client = SyncClient(
        gateway_config(mosquitto.host, mosquitto.port, outbox_alarm_threshold=5),
        gw_db,
        on_alarm=lambda a: alarms.append((a.raised, a.depth, a.info.code)),
        monitor_interval_s=0.05,
    )
    async with running(client):
        for n in range(1, 9):
            await sell(sales_db, n)
        await wait_for(lambda: alarms, 20, "backlog alarm")
        assert alarms[0] == (True, 8, "E735")
        assert client.state.backlog_alarm
        assert client.state.last_error_code == "E721"  # broker unreachable, said clearly
        mosquitto.start()
        await master.wait_for_stored(8, 30)
        await wait_for(lambda: len(alarms) == 2, 20, "alarm cleared")
    await sales_db.close()
    assert alarms[1] == (False, 0, "E735")


async def test_events_the_cloud_never_received_are_published_again_after_the_timeout(
    mosquitto: Broker, gw_db: aiosqlite.Connection, tmp_path
) -> None:
    """No cloud session existed while the gateway published: the broker dropped everything."""
    from gateway.sync.master_store import MasterStore
    from tests.integration.mqtt.helpers import master_settings

    client = SyncClient(
        gateway_config(mosquitto.host, mosquitto.port, resend_after_s=1.0),
        gw_db,
        poll_interval_s=0.05,
    )
    for n in range(1, 21):
        await sell(gw_db, n)
    async with running(client):
        await wait_for(lambda: client.state.streams["sales"].sent_seq == 20, 20, "published")
        store = await MasterStore.open(str(tmp_path / "late-master.db"))
        late = MasterStation(master_settings(mosquitto.host, mosquitto.port, "late"), store)
        async with late:
            await late.wait_for_stored(20, 30)
            await wait_for(lambda: client.state.outbox_depth == 0, 20, "acks applied")
            stored = await late.store.events(SITE, GATEWAY, "sales")
        await store.close()
    assert [e["seq"] for e in stored] == list(range(1, 21))
    assert all(e["backfill"] for e in stored)  # republished, hence marked


async def test_meter_readings_go_out_as_batched_telemetry(
    mosquitto: Broker, master: MasterStation, gw_db: aiosqlite.Connection
) -> None:
    client = SyncClient(gateway_config(mosquitto.host, mosquitto.port), gw_db)
    readings = [
        {"meter": f"{n:012d}", "read_at": "2025-03-01T09:00:01.000000Z",
         "values": {"energy_total": f"{1000 + n}.25", "balance": "48.20"}}
        for n in range(1, 1201)
    ]  # fmt: skip
    assert await client.publish_readings(readings) is False  # offline: not queued, caller knows
    async with running(client):
        await wait_for(lambda: client.state.connected, 20, "connected")
        assert await client.publish_readings(readings) is True

        async def batches() -> list[Any]:
            rows = await master.store.conn.execute_fetchall("SELECT batch FROM telemetry")
            return [json.loads(r[0]) for r in rows]

        got: list[Any] = []
        for _ in range(200):
            got = await batches()
            if sum(len(b["readings"]) for b in got) == 1200:
                break
            await asyncio.sleep(0.05)
    assert [len(b["readings"]) for b in got] == [1000, 200]
    for batch in got:
        validate("telemetry-readings", batch)
    assert got[1]["readings"][-1]["values"]["energy_total"] == "2200.25"
