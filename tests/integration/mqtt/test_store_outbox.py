"""The services' path: events written by gateway.store's ``db.write`` reach the cloud."""

from __future__ import annotations

from pathlib import Path

import aiosqlite
import pytest

from gateway.store.conn import Conn
from gateway.store.database import Database
from gateway.sync.client import SyncClient
from gateway.sync.master import MasterStation
from gateway.sync.outbox import add_event
from tests.integration.mqtt.helpers import GATEWAY, SITE, gateway_config, running, sale_payload
from tests.support.mosquitto import Broker


class LedgerInsertError(Exception):
    pass


async def test_events_from_store_transactions_are_synced_and_rollbacks_are_not(
    mosquitto: Broker, master: MasterStation, tmp_path: Path
) -> None:
    path = tmp_path / "ledger.sqlite"
    db = await Database.open(path)
    try:

        def sale(c: Conn, n: int) -> int:
            return add_event(c, "sales", sale_payload(n), c.now()).seq

        def failed_sale(c: Conn) -> None:
            add_event(c, "sales", sale_payload(99), c.now())
            raise LedgerInsertError  # e.g. the ledger insert failed after the event was written

        assert await db.write(sale, 1) == 1
        with pytest.raises(LedgerInsertError):
            await db.write(failed_sale)
        assert await db.write(sale, 2) == 2

        sync_conn = await aiosqlite.connect(path)  # the sync client's own connection
        client = SyncClient(gateway_config(mosquitto.host, mosquitto.port), sync_conn)
        async with running(client):
            await master.wait_for_stored(2)
            assert await db.write(sale, 3) == 3
            client.notify()
            await master.wait_for_stored(3)
        await sync_conn.close()
    finally:
        await db.close()
    stored = await master.store.events(SITE, GATEWAY, "sales")
    assert [e["payload"]["sale_id"] for e in stored] == ["S0000001", "S0000002", "S0000003"]
