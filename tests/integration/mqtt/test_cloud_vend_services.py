"""A vend from the cloud goes the same exactly-once way as one from the counter: real mosquitto,
the master-station simulator, the gateway's sync client, the services and a simulated meter."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosqlite

from gateway.app.cloud_commands import CloudCommands
from gateway.permissions import KEYS
from gateway.services.actor import Actor
from gateway.sync.client import SyncClient
from gateway.sync.contract import validate
from gateway.sync.master import MasterStation
from tests.integration.mqtt.helpers import GATEWAY, KEY, SITE, gateway_config, running
from tests.support.mosquitto import Broker
from tests.support.site import running_site

CLERK = Actor(1, "operator", KEYS)


async def test_cloud_vend_sent_twice_credits_the_meter_once(
    tmp_path: Path, mosquitto: Broker, master: MasterStation
) -> None:
    async with running_site(tmp_path) as site:
        address, account = site.meter("money")
        assert account is not None
        meter = site.meters[address]
        await site.services.open_purchase(CLERK, account, 1000, "counter-open")
        conn = await aiosqlite.connect(site.db.path)
        client = SyncClient(
            gateway_config(mosquitto.host, mosquitto.port), conn,
            handler=CloudCommands(site.services),
        )  # fmt: skip
        try:
            async with running(client):
                await master.wait_until(lambda: (SITE, GATEWAY) in master.status, 20)
                args = {"account_id": str(account), "amount_fen": 2500}
                command = master.build_command(
                    SITE, GATEWAY, "vend", args, key=KEY, command_id="cloud-vend-7"
                )
                first = await master.send(SITE, GATEWAY, command)
                second = await master.send(SITE, GATEWAY, command)
                for result in (first, second):
                    validate("result", result)
                    assert result["ok"] is True, result
                assert first["result"] == second["result"]
                assert second["duplicate"] is True
                assert meter.remaining == 3500  # 10.00 opening + 25.00 once
                assert meter.purchase_count == 2
                balance = await site.balance(account)
                assert balance.purchased_fen == 3500
                # The sale reaches the master station as an event carrying the command id.
                for _ in range(200):
                    events = await master.store.events(SITE, GATEWAY, "sales")
                    if any(e["payload"].get("command_id") == "cloud-vend-7" for e in events):
                        break
                    client.notify()
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError("the cloud sale never reached the master station")
        finally:
            await conn.close()
