"""Run the demo: a simulated site and the full gateway, on this computer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import socket
from pathlib import Path

from gateway.app.config import DatabaseConfig, GatewayConfig, SiteConfig
from gateway.app.runtime import Gateway
from gateway.cards.config import CardReaderConfig
from gateway.demo.seed import SeededSite, seed_site
from gateway.link.config import BusConfig
from gateway.panel.config import PanelConfig
from gateway.services.actor import SYSTEM
from gateway.services.errors import ServiceError
from gateway.simulator import state as sim_state
from gateway.simulator.endpoint import SimulatedBus
from gateway.simulator.meter import VirtualMeter
from gateway.siteclock import SiteClock
from gateway.store import meters
from gateway.store.conn import Conn
from gateway.store.database import Database
from gateway.store.paging import PageRequest
from web.config import WebConfig

log = logging.getLogger(__name__)

BUS = "demo-line"
# Loads (W) for the seeded meters, so balances visibly fall in accelerated time.
LOADS = (800, 1500, 300, 2200, 600, 1000, 1200, 400, 0, 0)
# First purchases made when the demo starts for the first time (fen); None = left for the user.
OPENING = (20000, 5000, 1500, None, 10000, None, 3000, None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _has_customers(c: Conn) -> bool:
    return bool(c.scalar("SELECT count(*) FROM customers"))


def _seeded_from_db(c: Conn) -> list[tuple[str, str]]:
    """(address, wallet kind for the simulator) of every meter in the database."""
    out = []
    for meter in meters.search(c, meters.MeterFilter(), PageRequest(limit=1000)).items:
        kind = "none" if str(meter.wallet_model) == "gateway" else str(meter.value_kind)
        out.append((meter.address, kind))
    return out


async def _prepare(
    db_path: Path, clock: SiteClock
) -> tuple[list[tuple[str, str]], SeededSite | None]:
    db = await Database.open(db_path, clock=clock.now)
    try:
        from gateway.store import auth

        await auth.initialise(db)
        seeded: SeededSite | None = None
        if not await db.read(_has_customers):
            seeded = await db.write(seed_site, bus=BUS)
        return await db.read(_seeded_from_db), seeded
    finally:
        await db.close()


async def _first_purchases(gateway: Gateway, seeded: SeededSite) -> None:
    """Open the demo's accounts with a first purchase, as an operator would (F2.1)."""
    assert gateway.services is not None
    for index, meter in enumerate(m for m in seeded.meters if m.account_id is not None):
        amount = OPENING[index] if index < len(OPENING) else None
        if amount is None or meter.account_id is None:
            continue
        try:
            await gateway.services.open_purchase(
                SYSTEM, meter.account_id, amount, f"demo-open-{index}"
            )
        except ServiceError as exc:
            log.warning("demo: first purchase for %s failed: %s", meter.address, exc)


async def _site_secret(directory: Path) -> Path:
    """The demo site's card secret, made once (a real site's comes from its installation)."""
    path = directory / "site-secret"
    if not await asyncio.to_thread(path.exists):
        await asyncio.to_thread(path.write_text, secrets.token_hex(32), "ascii")
    return path


async def run_demo(directory: Path, port: int, accelerate: int) -> None:
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    clock = SiteClock("Asia/Shanghai")
    db_path = directory / "gateway.sqlite"
    state_path = directory / "simulator-state.json"
    addresses, seeded = await _prepare(db_path, clock)
    if state_path.exists() and seeded is None:
        virtual = sim_state.load(state_path)
    else:
        virtual = [
            VirtualMeter(address, wallet=kind, load_w=LOADS[i % len(LOADS)],  # type: ignore[arg-type]
                         acceleration=accelerate)
            for i, (address, kind) in enumerate(addresses)
        ]  # fmt: skip
    sim = SimulatedBus(virtual, baud=9600, wire_timing=True, reply_delay_ms=20,
                       clock=clock.local_now)  # fmt: skip
    sim_port = _free_port()
    server = await sim.serve_tcp("127.0.0.1", sim_port)
    config = GatewayConfig(
        site=SiteConfig(id="demo", name="演示站 Demo site"),
        database=DatabaseConfig(path=str(db_path), backup_dir=str(directory / "backups")),
        buses=(BusConfig(name=BUS, kind="tcp", port=f"127.0.0.1:{sim_port}", baud=9600),),
        web=WebConfig(host="127.0.0.1", port=port, tls=False, redirect_port=0,
                      tls_dir=str(directory / "tls")),
        panel=PanelConfig(driver="dummy"),  # no OLED here: the web UI shows its mirror
        cards=CardReaderConfig(site_key=f"file:{await _site_secret(directory)}"),
    )  # fmt: skip
    gateway = Gateway(config, clock=clock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await gateway.start()
        if seeded is not None:
            await _first_purchases(gateway, seeded)
        url = gateway.urls[0] if gateway.urls else f"http://127.0.0.1:{port}/"
        print(
            "\n"
            f"  prepaid-gateway demo is running: {url}\n"
            "  log in as  operator / 00000000  (you will be asked to choose a new password)\n"
            f"  {len(virtual)} simulated meters on {BUS} (127.0.0.1:{sim_port}), "
            f"time x{accelerate}\n"
            f"  data in {directory}/ (delete it to start over); Ctrl-C to stop\n",
            flush=True,
        )
        await stop.wait()
    finally:
        await gateway.stop()
        server.close()
        with contextlib.suppress(Exception):
            await server.wait_closed()
        sim_state.save(state_path, virtual)
