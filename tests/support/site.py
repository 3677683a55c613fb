"""A whole site for integration tests: a real SQLite ledger seeded like a customer's site, the
product's meter simulator serving a real TCP socket, a real bus, and the services on top."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from gateway.demo.seed import SeededSite, seed_site
from gateway.link.config import BusConfig
from gateway.link.registry import Buses
from gateway.services import Services
from gateway.services.meter_access import BusMeterAccess
from gateway.services.vending import Vending
from gateway.simulator.endpoint import SimulatedBus
from gateway.simulator.meter import VirtualMeter
from gateway.siteclock import SiteClock
from gateway.store import auth, ledger
from gateway.store.database import Database
from tests.support.procs import pty_pair

BUS = "line1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Site:
    db: Database
    clock: SiteClock
    sim: SimulatedBus
    meters: dict[str, VirtualMeter]
    buses: Buses
    access: BusMeterAccess
    services: Services
    seeded: SeededSite

    @property
    def vending(self) -> Vending:
        return self.services.vending

    def meter_id(self, address: str) -> int:
        return next(m.meter_id for m in self.seeded.meters if m.address == address)

    def meter(
        self, kind: str, index: int = 0, *, with_account: bool = True
    ) -> tuple[str, int | None]:
        """(address, account id) of the index-th seeded meter of a kind."""
        found = [
            m for m in self.seeded.meters
            if m.kind == kind and (m.account_id is not None) == with_account
        ]  # fmt: skip
        return found[index].address, found[index].account_id

    async def balance(self, account_id: int) -> ledger.Balance:
        return await self.db.read(ledger.balance, account_id)


@asynccontextmanager
async def running_site(
    tmp_path: Path, *, reply_delay_ms: int = 0, transport: str = "pty"
) -> AsyncIterator[Site]:
    """The site's meters on a real socat pty pair (an RS485 line as the gateway sees a serial
    port; ptys take parity N only) or, with ``transport="tcp"``, behind a TCP serial server."""
    clock = SiteClock("Asia/Shanghai")
    db = await Database.open(tmp_path / "gateway.sqlite", clock=clock.now)
    await auth.initialise(db)  # the default operator (id 1), as `db init` makes it
    seeded = await db.write(seed_site, bus=BUS)
    virtual = {
        m.address: VirtualMeter(
            m.address,
            wallet="energy" if m.kind == "energy" else ("none" if m.kind == "gateway" else "money"),
            load_w=0,
        )
        for m in seeded.meters
    }
    sim = SimulatedBus(
        list(virtual.values()), wire_timing=False, reply_delay_ms=reply_delay_ms,
        clock=clock.local_now,
    )  # fmt: skip
    async with contextlib.AsyncExitStack() as stack:
        if transport == "pty":
            gw_tty, meter_tty, _ = stack.enter_context(pty_pair(tmp_path))
            ready = asyncio.Event()
            serving = asyncio.create_task(
                sim.serve_serial(meter_tty, parity="N", on_ready=ready.set)
            )
            stack.push_async_callback(_cancel, serving)
            await asyncio.wait_for(ready.wait(), 10)
            bus = BusConfig(name=BUS, kind="serial", port=gw_tty, parity="N", reply_window_ms=1000)
        else:
            port = _free_port()
            server = await sim.serve_tcp("127.0.0.1", port)
            stack.push_async_callback(_close_server, server)
            bus = BusConfig(name=BUS, kind="tcp", port=f"127.0.0.1:{port}", reply_window_ms=1000)
        buses = Buses([bus])
        await buses.start()
        stack.push_async_callback(buses.close)
        stack.push_async_callback(db.close)
        access = BusMeterAccess(buses, clock=clock.local_now)
        services = Services(db, access, clock)
        services.vending.settle_pause_s = 0.05
        yield Site(db, clock, sim, virtual, buses, access, services, seeded)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


async def _close_server(server: asyncio.Server) -> None:
    server.close()
    await server.wait_closed()


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)  # type: ignore[misc]
