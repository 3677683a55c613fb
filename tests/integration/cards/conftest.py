"""Fixtures for the card tests: the real pcscd + vpcd, virtual cards, two reader services.

Reader 0 ("Virtual PCD 00 00") is the gateway's reader, reader 1 ("... 00 01") the meter's slot.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from gateway.cards import CardReaderConfig, CardReaderService, SiteKey, derive_site_key
from tests.support.pcsc import GATEWAY_READER, METER_READER, card_slots, pcscd

__all__ = ["card_slots", "pcscd"]

SITE_SECRET = b"test-site-secret"


@pytest.fixture
def key() -> SiteKey:
    return derive_site_key(SITE_SECRET)


@pytest.fixture
def now() -> datetime:
    return datetime(2025, 3, 1, 10, 0, 0)


@pytest.fixture
def gateway_reader(key: SiteKey) -> CardReaderService:
    config = CardReaderConfig(reader=GATEWAY_READER, site_key="secret:test-site-secret")
    service = CardReaderService(config)
    assert service.key == key
    return service


@pytest.fixture
def meter_reader() -> CardReaderService:
    config = CardReaderConfig(reader=METER_READER, site_key="env:METER_SITE_SECRET")
    return CardReaderService(config, environ={"METER_SITE_SECRET": SITE_SECRET.decode()})
