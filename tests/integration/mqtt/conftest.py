"""Fixtures for the MQTT tests: a real mosquitto, a gateway SQLite file, the master-sim."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest

from gateway.sync.master import MasterStation
from gateway.sync.master_store import MasterStore
from tests.integration.mqtt.helpers import master_settings, open_gateway_db
from tests.support.mosquitto import Broker, broker_certs, mosquitto

__all__ = ["broker_certs", "mosquitto"]


@pytest.fixture
async def gw_db(tmp_path: Path) -> AsyncIterator[aiosqlite.Connection]:
    conn = await open_gateway_db(tmp_path / "gateway.db")
    yield conn
    await conn.close()


@pytest.fixture
async def master(mosquitto: Broker, tmp_path: Path) -> AsyncIterator[MasterStation]:
    store = await MasterStore.open(str(tmp_path / "master.db"))
    station = MasterStation(master_settings(mosquitto.host, mosquitto.port), store)
    async with station:
        await station.wait_connected()
        yield station
    await store.close()
