"""TLS with a CA file, password login, client certificates; refusals come with clear errors."""

from __future__ import annotations

from pathlib import Path

import aiosqlite

from gateway.sync.client import SyncClient
from gateway.sync.master import MasterStation
from tests.integration.mqtt.helpers import GATEWAY, SITE, gateway_config, running, sell, wait_for
from tests.support.mosquitto import Broker


async def test_tls_with_password_file_delivers_events(
    mosquitto: Broker, master: MasterStation, gw_db: aiosqlite.Connection, tmp_path: Path
) -> None:
    secret = tmp_path / "mqtt-password"
    secret.write_text(mosquitto.password + "\n")
    await sell(gw_db, 1)
    config = gateway_config(
        mosquitto.host,
        mosquitto.tls_port,
        ca_file=str(mosquitto.certs.ca_file),
        username=mosquitto.username,
        password_file=str(secret),
    )
    client = SyncClient(config, gw_db)
    async with running(client):
        await master.wait_for_stored(1)
        assert client.state.connected
        assert client.state.last_error is None
    assert (await master.store.events(SITE, GATEWAY))[0]["payload"]["sale_id"] == "S0000001"


async def test_wrong_password_is_refused_with_a_clear_error(
    mosquitto: Broker, gw_db: aiosqlite.Connection
) -> None:
    config = gateway_config(
        mosquitto.host,
        mosquitto.tls_port,
        ca_file=str(mosquitto.certs.ca_file),
        username=mosquitto.username,
        password="not the password",
    )
    client = SyncClient(config, gw_db)
    async with running(client):
        await wait_for(lambda: client.state.last_error_code is not None, 20, "login refusal")
        assert not client.state.connected
    assert client.state.last_error_code == "E720"
    assert "user name or password" in (client.state.last_error or "")


async def test_untrusted_broker_certificate_is_a_tls_error(
    mosquitto: Broker, gw_db: aiosqlite.Connection
) -> None:
    config = gateway_config(
        mosquitto.host,
        mosquitto.tls_port,
        ca_file=str(mosquitto.certs.other_ca_file),
        username=mosquitto.username,
        password=mosquitto.password,
    )
    client = SyncClient(config, gw_db)
    async with running(client):
        await wait_for(lambda: client.state.last_error_code is not None, 20, "TLS failure")
        assert not client.state.connected
    assert client.state.last_error_code == "E722"


async def test_client_certificate_login(
    mosquitto: Broker, master: MasterStation, gw_db: aiosqlite.Connection
) -> None:
    await sell(gw_db, 1)
    config = gateway_config(
        mosquitto.host,
        mosquitto.mtls_port,
        ca_file=str(mosquitto.certs.ca_file),
        cert_file=str(mosquitto.certs.client_cert),
        key_file=str(mosquitto.certs.client_key),
    )
    client = SyncClient(config, gw_db)
    async with running(client):
        await master.wait_for_stored(1)
        assert client.state.connected
