"""The running gateway: every part started in order, stopped in reverse, health fed to systemd.

Start order, and why: the database first (nothing is sold without the ledger), then the buses,
then recovery of unfinished vends (before any new sale can target the same meter), then the
cloud link, the poller, the panel and finally the web UI; READY=1 goes to systemd only once all
of that answers. The watchdog pings only while the event loop is responsive and the database
and buses are up, so a wedged gateway is restarted by systemd.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite

from gateway import __version__
from gateway.app import web_extras
from gateway.app.cloud_commands import CloudCommands
from gateway.app.config import GatewayConfig
from gateway.app.panel_backend import ServicesPanelBackend
from gateway.app.status import Snapshot, StatusBoard, read_counts
from gateway.appliance.sdnotify import Notifier
from gateway.appliance.watchdog import LoopWatchdog
from gateway.cards import CardReaderService
from gateway.cards.errors import CardError
from gateway.link.registry import Buses
from gateway.link.trace import TraceEvent
from gateway.meters.driver import MeterDriver
from gateway.meters.mac import build_mac_providers
from gateway.panel.service import Panel
from gateway.reading.runtime import ReadingRuntime
from gateway.reading.targets import MeterInfo
from gateway.services import Services
from gateway.services.meter_access import BusMeterAccess
from gateway.services.wallet_enforcement import WalletEnforcer
from gateway.siteclock import SiteClock
from gateway.store import auth
from gateway.store.database import Database
from gateway.sync.client import SyncClient
from gateway.sync.state import OutboxAlarm
from web import server as web_server
from web.app import create_app
from web.frames import FrameFeed, from_trace

log = logging.getLogger(__name__)

RECOVERY_INTERVAL_S = 60.0
STATUS_INTERVAL_S = 2.0


@dataclass
class Gateway:
    config: GatewayConfig
    clock: SiteClock = field(default_factory=SiteClock)
    notifier: Notifier = field(default_factory=Notifier.from_env)
    extra_routes: list[Any] = field(default_factory=list)
    db: Database | None = None
    buses: Buses | None = None
    services: Services | None = None
    frames: FrameFeed = field(default_factory=FrameFeed)
    sync: SyncClient | None = None
    web_servers: web_server.WebServers | None = None
    urls: list[str] = field(default_factory=list)
    status: StatusBoard = field(default_factory=StatusBoard)
    panel: Panel | None = None
    reading: ReadingRuntime | None = None
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _sync_conn: aiosqlite.Connection | None = None
    _remove_trace: Callable[[], None] | None = None

    async def start(self) -> None:
        cfg = self.config
        self.notifier.status("opening database")
        self.db = db = await Database.open(
            cfg.database.path,
            clock=self.clock.now,
            readers=cfg.database.readers,
            busy_timeout_ms=cfg.database.busy_timeout_ms,
        )
        created = await auth.initialise(db)
        if created is not None:
            log.warning("fresh installation: log in as %s / 00000000 and change it", created.name)
        self.notifier.status("starting buses")
        self.buses = buses = Buses(cfg.buses)
        await buses.start()
        self._remove_trace = buses.add_trace_hook(self._on_frame)
        access = BusMeterAccess(
            buses, macs=build_mac_providers(cfg.mac_providers), clock=self.clock.local_now
        )
        self.services = services = Services(db, access, self.clock)
        # The card reader is opened by each card operation; a missing reader or pcscd is an
        # operator-facing error on the card buttons, never a start-up failure.
        try:
            services.cards.use_reader(CardReaderService(cfg.cards))
        except CardError as exc:
            log.warning("card reader unavailable: %s", exc.describe())
        self.notifier.status("settling unfinished vends")
        await self._recover()
        self.notifier.status("starting the meter poller")
        await self._start_reading(access)
        self._tasks.append(asyncio.create_task(self._recovery_loop(), name="vend-recovery"))
        if cfg.mqtt.enabled:
            self._sync_conn = await aiosqlite.connect(cfg.database.path)
            self.sync = SyncClient(
                cfg.mqtt, self._sync_conn, handler=CloudCommands(services), on_alarm=_outbox_alarm
            )
            self._tasks.append(asyncio.create_task(self.sync.run(), name="mqtt-sync"))
        await self._start_panel()
        self._tasks.append(asyncio.create_task(self._status_loop(), name="status"))
        await self._start_web()
        watchdog = LoopWatchdog.for_service(self.notifier, checks={"database": self._db_ok})
        if watchdog is not None:
            self._tasks.append(asyncio.create_task(watchdog.run(), name="watchdog"))
        self.notifier.ready(f"serving {', '.join(self.urls)}")
        log.info("prepaid-gateway %s ready: %s", __version__, ", ".join(self.urls))

    async def _start_reading(self, access: BusMeterAccess) -> None:
        assert self.db is not None
        assert self.services is not None
        cfg = self.config.reading

        def driver_for(info: MeterInfo) -> MeterDriver:
            return access.driver(info.meter, info.meter_type)

        enforcer = WalletEnforcer(
            self.db, driver_for=driver_for, clock=self.clock, config=cfg.enforcement,
            lock=self.services.vending.lock,
        )  # fmt: skip
        self.reading = ReadingRuntime(
            self.db, self.clock, cfg, driver_for=driver_for, steps=[enforcer]
        )
        await self.reading.start()

    async def _start_panel(self) -> None:
        cfg = self.config.panel
        if not cfg.enabled or self.services is None:
            return
        backend = ServicesPanelBackend(self.services, cfg.relay_pin_hash)
        self.panel = Panel(cfg, backend, use_gpio=cfg.driver != "dummy")
        try:
            await self.panel.start()
        except Exception:  # the panel is a convenience: never let it stop the gateway
            log.exception("front panel failed to start; running without it")
            self.panel = None

    async def _status_loop(self) -> None:
        site = self.config.site.name or self.config.site.id
        while True:
            try:
                await self._refresh_status()
                if self.panel is not None:
                    self.panel.update(self.status.panel_state(site, self.config.panel.language))
            except Exception:
                log.exception("status refresh failed")
            await asyncio.sleep(STATUS_INTERVAL_S)

    async def _refresh_status(self) -> None:
        assert self.db is not None
        total, outbox, last = await self.db.read(read_counts)
        alarms = self.reading.active_alarms(20) if self.reading is not None else []
        self.status.snapshot = Snapshot(
            at=self.clock.now(),
            meters_total=total,
            meters_online=self.meters_online(),
            outbox_depth=outbox,
            last_sale=last,
            alarms=tuple(alarms),
            cloud=self.sync.state if self.sync is not None else None,
            mqtt_enabled=self.config.mqtt.enabled,
        )

    def meters_online(self) -> int | None:
        if self.reading is None:
            return None
        return self.reading.snapshot().poller.online

    def _db_ok(self) -> bool:
        return self.db is not None

    async def _recover(self) -> None:
        assert self.services is not None
        try:
            await self.services.recover()
        except Exception:  # a meter or bus problem must not stop the gateway from starting
            log.exception("vend recovery failed; it is retried every %ss", RECOVERY_INTERVAL_S)

    async def _recovery_loop(self) -> None:
        while True:
            await asyncio.sleep(RECOVERY_INTERVAL_S)
            await self._recover()
            if self.sync is not None:
                self.sync.notify()

    def _on_frame(self, event: TraceEvent) -> None:
        self.frames.publish(from_trace(event))

    async def _start_web(self) -> None:
        assert self.db is not None
        cfg = self.config.web
        app = create_app(
            self.db,
            config=cfg,
            clock=self.clock.now,
            services=self.services,
            frames=self.frames,
            work_dir=Path(self.config.database.path).parent,
            status=self.status,
            reading=self.reading,
            extra_routes=[web_extras.routes, *self.extra_routes],
            printer=self.config.printer,
        )
        app[web_extras.PANEL] = self.panel
        self.web_servers = await web_server.start(app, cfg)
        scheme = "https" if cfg.tls else "http"
        shown = "localhost" if cfg.host in ("0.0.0.0", "127.0.0.1", "::") else cfg.host
        self.urls.append(f"{scheme}://{shown}:{cfg.port}/")

    async def stop(self) -> None:
        self.notifier.stopping("shutting down")
        if self.sync is not None:
            await self.sync.stop()
        for task in reversed(self._tasks):
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.web_servers is not None:
            await self.web_servers.stop()
        if self.reading is not None:
            with contextlib.suppress(Exception):
                await self.reading.stop()
        if self.panel is not None:
            with contextlib.suppress(Exception):
                await self.panel.stop()
        if self._remove_trace is not None:
            self._remove_trace()
        if self.buses is not None:
            await self.buses.close()
        if self._sync_conn is not None:
            await self._sync_conn.close()
        if self.db is not None:
            await self.db.close()

    async def run_until_signalled(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await self.start()
            await stop.wait()
        finally:
            await self.stop()


def _outbox_alarm(alarm: OutboxAlarm) -> None:
    """The cloud has not taken events for a long time: say so once when raised, once when over.

    The dashboard shows the backlog (sync state); this puts it in the journal for the technician.
    """
    if alarm.raised:
        log.warning(
            "%s %s: %d events wait for the cloud (threshold %d). %s",
            alarm.info.code, alarm.info.en, alarm.depth, alarm.threshold, alarm.info.remedy_en,
        )  # fmt: skip
    else:
        log.info("cloud backlog back under %d events (%d)", alarm.threshold, alarm.depth)
