"""Fixtures for the panel tests: fonts, a mock GPIO pin factory, a cheap relay-PIN hash."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from gpiozero.pins.mock import MockFactory

from gateway.panel.fonts import PanelFont, load_font
from gateway.panel.pin import hash_pin

RELAY_PIN = "2468"


@pytest.fixture
def font() -> PanelFont:
    return load_font("unifont")


@pytest.fixture(scope="session")
def relay_pin_hash() -> str:
    # Low argon2 cost keeps the tests fast; verification reads the cost from the hash itself.
    return hash_pin(RELAY_PIN, PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def pin_factory() -> Iterator[MockFactory]:
    factory = MockFactory()
    yield factory
    factory.reset()
    factory.close()
