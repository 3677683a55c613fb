"""Real SQLite files in tmp_path, a clock the test moves, and a small seeded site."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.store import Database
from tests.integration.store.support import ManualClock, Site, build_site


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def db(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "gateway.sqlite", clock=clock)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def site(db: Database) -> Site:
    return await db.write(build_site)
