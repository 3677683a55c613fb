"""``create_app``: the aiohttp application of the local web UI and JSON API.

The app holds no business logic: handlers parse input, call the store (and, once wired, the
use cases in gateway.services) and render the answer. Everything they share is reachable through
typed app keys (:mod:`web.keys`)::

    app = create_app(db, config=WebConfig(tls=False, host="127.0.0.1", port=8080))
    app[FRAMES].publish(FrameEvent(...))        # the command-frame pane
    app[STATUS] = my_status_provider            # before startup: the dashboard's live data

``services`` (gateway.services.Services) carries every workflow page and API; ``reading``
(gateway.reading.ReadingRuntime) the F7.5 read-all / read-one buttons. Without them those
pages answer E614 "not connected". ``printer`` (web.config.PrinterConfig) is the receipt
printer of 【小票打印】; without one the button is not shown (and its routes answer E617).

Serve it with :func:`web.server.start` (HTTPS plus the redirecting HTTP port).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator
from datetime import timedelta
from importlib import resources
from pathlib import Path

from aiohttp import web

from gateway.reading.runtime import ReadingRuntime
from gateway.store.clock import Clock, system_clock
from gateway.store.database import Database
from web.config import PrinterConfig, WebConfig
from web.frames import FrameFeed
from web.i18n import Translations
from web.jobs import JobBoard
from web.keys import (
    CLOCK,
    CONFIG,
    DATABASE,
    FRAMES,
    JOBS,
    ONCE,
    PRINTER,
    PRINTER_LOCK,
    READING,
    ROUTES,
    SERVICES,
    SESSIONS,
    STATUS,
    TEMPLATES,
    TEXTS,
    THROTTLE,
    WORK_DIR,
)
from web.once import OnceGuard
from web.render import make_environment
from web.routes import Routes, RouteTable
from web.security.headers import security_headers
from web.security.middleware import error_middleware, security_middleware
from web.security.sessions import SessionStore
from web.security.throttle import LoginThrottle
from web.status import NoStatus, StatusProvider

log = logging.getLogger(__name__)

SWEEP_SECONDS = 60.0


def route_tables() -> list[RouteTable]:
    """Every module's routes; a page module the workflow part adds goes in this list."""
    from web.pages import (
        auth,
        card_api,
        card_tools,
        customers,
        dashboard,
        events,
        meter_tools,
        meters,
        metertypes,
        monitoring,
        network,
        openapi_doc,
        operators,
        organisation,
        queries,
        receipt_designer,
        receipt_printer,
        refunds,
        replacement,
        results,
        sales,
        settings,
        system,
        tariffs,
    )

    return [
        auth.routes,
        dashboard.routes,
        events.routes,
        network.routes,
        meters.routes,
        settings.routes,
        metertypes.routes,
        tariffs.routes,
        organisation.routes,
        receipt_designer.routes,
        operators.routes,
        system.routes,
        queries.routes,
        customers.routes,
        sales.routes,
        card_tools.routes,
        card_api.routes,
        refunds.routes,
        replacement.routes,
        results.routes,
        receipt_printer.routes,
        meter_tools.routes,
        monitoring.routes,
        openapi_doc.routes,
    ]


async def _end_streams(app: web.Application) -> None:
    app[FRAMES].close()


async def _jobs(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[JOBS].close()


async def _sweeper(app: web.Application) -> AsyncIterator[None]:
    """Forget idle sessions now and then (each request also checks its own session)."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            app[SESSIONS].sweep()

    task = asyncio.create_task(loop(), name="web-session-sweeper")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_app(
    database: Database,
    *,
    config: WebConfig | None = None,
    clock: Clock = system_clock,
    services: object | None = None,
    status: StatusProvider | None = None,
    frames: FrameFeed | None = None,
    reading: ReadingRuntime | None = None,
    work_dir: str | Path | None = None,
    extra_routes: list[RouteTable] | None = None,
    printer: PrinterConfig | None = None,
) -> web.Application:
    config = config or WebConfig()
    app = web.Application(
        middlewares=[error_middleware, security_middleware],
        client_max_size=config.max_body_bytes,
    )
    app[DATABASE] = database
    app[CONFIG] = config
    app[CLOCK] = clock
    app[SERVICES] = services
    app[STATUS] = status or NoStatus()
    app[FRAMES] = frames or FrameFeed()
    app[READING] = reading
    app[JOBS] = JobBoard(clock)
    app[ONCE] = OnceGuard()
    app[SESSIONS] = SessionStore(clock, timedelta(minutes=config.session_idle_minutes))
    app[THROTTLE] = LoginThrottle(
        clock,
        max_failures=config.login_max_failures,
        base_seconds=config.login_lockout_seconds,
        cap_seconds=config.login_lockout_max_seconds,
    )
    app[TEXTS] = Translations.load()
    app[TEMPLATES] = make_environment()
    app[WORK_DIR] = str(work_dir or tempfile.gettempdir())
    app[PRINTER] = printer or PrinterConfig()
    app[PRINTER_LOCK] = asyncio.Lock()
    routes = Routes([*route_tables(), *(extra_routes or [])])
    app[ROUTES] = routes
    routes.add_to(app.router)
    static = resources.files("web") / "static"
    app.router.add_static("/static/", Path(str(static)), name="static", append_version=True)
    app.on_response_prepare.append(security_headers)
    app.cleanup_ctx.append(_sweeper)
    app.cleanup_ctx.append(_jobs)
    app.on_shutdown.append(_end_streams)
    return app
