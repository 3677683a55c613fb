"""A real SQLite ledger, the web app on aiohttp's test server, and operators to sign in as."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import re
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.link.timing import LineTiming
from gateway.reading import ReadingConfig, ReadingRuntime
from gateway.reading.config import ClockConfig
from gateway.store import auth, operators, passwords
from gateway.store.database import Database
from gateway.store.operators import NewOperator, Operator
from tests.support.site import Site, running_site
from web.app import create_app
from web.config import PrinterConfig, WebConfig
from web.frames import FrameFeed, from_trace
from web.keys import DATABASE, SESSIONS
from web.security.sessions import COOKIE

PASSWORD = "counter-pass-1"
CSRF_FIELD = re.compile(r'name="_csrf" value="([^"]+)"')
LOGIN_FIELD = re.compile(r'name="_login" value="([^"]+)"')


class MovableClock:
    """The injected clock; tests move it instead of sleeping."""

    def __init__(self) -> None:
        self.now = dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@functools.cache
def password_hash() -> str:
    """argon2 is slow on purpose: hash the tests' password once per run."""
    return passwords.hash_password(PASSWORD)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def config() -> WebConfig:
    return WebConfig(
        tls=False,
        host="127.0.0.1",
        port=8080,
        login_max_failures=3,
        login_lockout_seconds=30,
        session_idle_minutes=30,
    )


@pytest.fixture
async def db(tmp_path: Path, clock: MovableClock) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "gateway.sqlite", clock=clock)
    await auth.initialise(database)
    yield database
    await database.close()


@pytest.fixture
async def client(
    db: Database, config: WebConfig, clock: MovableClock, tmp_path: Path
) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    app = create_app(db, config=config, clock=clock, work_dir=tmp_path)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def make_operator(
    db: Database, name: str, permissions: Iterable[str], *, must_change: bool = False
) -> Operator:
    new = NewOperator(
        name=name,
        password_hash=password_hash(),
        permissions=frozenset(permissions),
        must_change_password=must_change,
    )
    return await db.write(operators.create, new)


def sign_in(client: TestClient, operator_id: int) -> str:  # type: ignore[type-arg]
    """A session for ``operator_id`` straight from the session store; returns its CSRF token."""
    session = client.app[SESSIONS].create(operator_id, "zh")
    client.session.cookie_jar.update_cookies({COOKIE: session.token})
    return session.csrf


def csrf_of(html: str) -> str:
    found = CSRF_FIELD.search(html)
    assert found, "page has no CSRF field"
    return found.group(1)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    """One app and database for a whole module of read-mostly tests (the security table)."""
    folder = tmp_path_factory.mktemp("web")
    clock = MovableClock()
    database = await Database.open(folder / "gateway.sqlite", clock=clock)
    await auth.initialise(database)
    config = WebConfig(tls=False, host="127.0.0.1", port=8080)
    app = create_app(database, config=config, clock=clock, work_dir=folder)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client
    await database.close()


# ---- a whole site: the ledger seeded like a customer's, simulated meters, the services -------


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with running_site(tmp_path) as running:
        # A silent meter costs (1 + retries) reply windows per request: keep the tests of
        # unreachable meters quick, with a window still generous for a loaded machine.
        for bus in running.buses:
            bus.timing = LineTiming(baud=19200, reply_window_ms=400)
            bus.retries = 1
        yield running


@pytest.fixture
async def site_client(site: Site, config: WebConfig, tmp_path: Path) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    """The web app on the site's services, with the buses' frames going to the pane (as the
    composition root wires them)."""
    feed = FrameFeed()
    remove = site.buses.add_trace_hook(lambda event: feed.publish(from_trace(event)))
    async with TestClient(TestServer(site_app(site, config, tmp_path, frames=feed))) as client:
        yield client
    remove()


def site_app(site: Site, config: WebConfig, tmp_path: Path, **options: Any) -> web.Application:
    """The web app on the site's services (``options``: frames, printer, ... of create_app)."""
    return create_app(
        site.db,
        config=config,
        clock=site.clock.now,
        services=site.services,
        work_dir=tmp_path,
        **options,
    )


async def cashier(client: TestClient, permissions: Iterable[str] | None = None) -> str:  # type: ignore[type-arg]
    """Sign in an operator with every permission (or the given ones); returns the CSRF token."""
    from gateway.store.permissions import ALL_CODES

    db = client.app[DATABASE]
    count = len(await db.read(operators.list_all, include_inactive=True))
    who = await make_operator(
        db, f"cashier{count}", ALL_CODES if permissions is None else permissions
    )
    return sign_in(client, who.id)


@pytest.fixture
async def reading_client(
    site: Site, config: WebConfig, tmp_path: Path
) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    """The web app with the meter poller running on the site (F7.5)."""
    runtime = ReadingRuntime(
        site.db,
        site.clock,
        ReadingConfig(clock=ClockConfig(broadcast=False), offline_after_failures=1),
        driver_for=lambda info: site.access.driver(info.meter, info.meter_type),
    )
    await runtime.start()
    app = create_app(
        site.db,
        config=config,
        clock=site.clock.now,
        services=site.services,
        reading=runtime,
        work_dir=tmp_path,
    )
    try:
        async with TestClient(TestServer(app)) as test_client:
            yield test_client
    finally:
        await runtime.stop()


# ---- a receipt printer: a real TCP listener standing in for a network ESC/POS printer -------


class PrinterStandIn:
    """A raw-TCP "printer" on 127.0.0.1: every connection's bytes, as received."""

    def __init__(self) -> None:
        self.jobs: list[bytes] = []
        self.received = asyncio.Event()
        self.server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def _job(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.jobs.append(await reader.read())  # until the gateway closes its side
        self.received.set()
        writer.close()

    async def next_job(self) -> bytes:
        await asyncio.wait_for(self.received.wait(), 5)
        self.received.clear()
        return self.jobs[-1]


@pytest.fixture
async def printer_stand_in() -> AsyncIterator[PrinterStandIn]:
    stand_in = PrinterStandIn()
    stand_in.server = await asyncio.start_server(stand_in._job, "127.0.0.1", 0)
    async with stand_in.server:
        yield stand_in


@pytest.fixture
def printing_client(
    site: Site, config: WebConfig, tmp_path: Path
) -> Callable[[PrinterConfig], AbstractAsyncContextManager[TestClient]]:  # type: ignore[type-arg]
    """The site's web app with a receipt printer: ``async with printing_client(cfg) as c``."""

    @asynccontextmanager
    async def open_client(printer: PrinterConfig) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
        async with TestClient(TestServer(site_app(site, config, tmp_path, printer=printer))) as c:
            yield c

    return open_client
