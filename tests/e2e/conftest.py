"""The web app served in-process on a free port, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, async_playwright

from gateway.reading import ReadingConfig, ReadingRuntime
from gateway.reading.config import ClockConfig
from gateway.store import auth
from gateway.store.database import Database
from tests.support.pcsc import card_slots, pcscd
from tests.support.procs import require
from tests.support.site import Site, running_site
from web.app import create_app
from web.config import WebConfig
from web.frames import FrameFeed, from_trace

__all__ = ["card_slots", "pcscd"]

SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--disable-quic",
]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "gateway.sqlite")
    await auth.initialise(database)
    yield database
    await database.close()


@pytest.fixture
async def base_url(db: Database, tmp_path: Path) -> AsyncIterator[str]:
    config = WebConfig(tls=False, host="127.0.0.1", port=8080)
    server = TestServer(create_app(db, config=config, work_dir=tmp_path), host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    require("chromium")  # Debian's chromium; never a downloaded browser
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(
        viewport={"width": 1366, "height": 860}, locale="zh-CN", accept_downloads=True
    )
    context.set_default_timeout(20_000)
    opened = await context.new_page()
    yield opened
    await context.close()


async def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    """A seeded site on simulated meters (tests.support.site) with its services."""
    async with running_site(tmp_path) as running:
        yield running


@asynccontextmanager
async def serving(
    site: Site, tmp_path: Path, reading: ReadingRuntime | None = None
) -> AsyncIterator[str]:
    """The web app on the site's services; every bus frame goes to the command-frame pane, as
    the composition root wires it."""
    feed = FrameFeed()
    remove = site.buses.add_trace_hook(lambda event: feed.publish(from_trace(event)))
    config = WebConfig(tls=False, host="127.0.0.1", port=8080)
    app = create_app(
        site.db,
        config=config,
        clock=site.clock.now,
        services=site.services,
        frames=feed,
        reading=reading,
        work_dir=tmp_path,
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()
        remove()


@pytest.fixture
async def site_url(site: Site, tmp_path: Path) -> AsyncIterator[str]:
    async with serving(site, tmp_path) as url:
        yield url


@pytest.fixture
async def monitored_url(site: Site, tmp_path: Path) -> AsyncIterator[str]:
    """``site_url`` with the meter poller running (F7.5)."""
    runtime = ReadingRuntime(
        site.db,
        site.clock,
        ReadingConfig(clock=ClockConfig(broadcast=False), offline_after_failures=1),
        driver_for=lambda info: site.access.driver(info.meter, info.meter_type),
    )
    await runtime.start()
    try:
        async with serving(site, tmp_path, runtime) as url:
            yield url
    finally:
        await runtime.stop()
