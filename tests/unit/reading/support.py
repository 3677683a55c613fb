"""Real parts for the reading unit tests: the product's simulator on the far end of a socket
pair, a real ``Bus`` and ``MeterDriver`` on this end, a real SQLite file, a manual clock."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from gateway.billing.tariff import FlatTariff
from gateway.link.bus import Bus
from gateway.link.connection import Connection
from gateway.link.timing import LineTiming
from gateway.meters.driver import MeterDriver
from gateway.meters.profile import MeterProfile as DriverProfile
from gateway.reading.config import ReadingConfig
from gateway.reading.poller import Poller
from gateway.reading.results import PollResult
from gateway.reading.targets import MeterInfo, load_targets
from gateway.simulator.endpoint import SimulatedBus
from gateway.simulator.meter import VirtualMeter
from gateway.siteclock import ManualClock, SiteClock
from gateway.store import auth, customers, meters, metertypes, network, tariffs
from gateway.store.conn import Conn
from gateway.store.customers import CustomerSpec, NewAccount
from gateway.store.database import Database
from gateway.store.meters import MeterSpec
from gateway.store.metertypes import MeterProfile, MeterTypeSpec, Protocol, ValueKind, WalletModel
from gateway.store.network import BoxSpec, CommMode

START = dt.datetime(2025, 3, 4, 2, 0, tzinfo=dt.UTC)  # Tuesday 10:00 in Asia/Shanghai
BUS = "b1"


def address(n: int) -> str:
    return f"{n:012d}"


class SocketPairConnector:
    """Opens a fresh socket pair each time; the far end is served by the simulator."""

    def __init__(self, sim: SimulatedBus) -> None:
        self.sim = sim
        self.served: list[asyncio.Task[None]] = []
        self.description = "socketpair"

    async def open(self) -> Connection:
        ours, theirs = socket.socketpair()
        reader, writer = await asyncio.open_connection(sock=ours)
        far_reader, far_writer = await asyncio.open_connection(sock=theirs)
        self.served.append(asyncio.create_task(self.sim.serve_stream(far_reader, far_writer)))
        return Connection(reader, writer, self.description)

    async def close(self) -> None:
        for task in self.served:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def seed(c: Conn, count: int, *, wallet: str = "gateway", extra: dict[str, object] | None = None,
         opening_fen: int = 0) -> None:  # fmt: skip
    line = network.create_line(c, "L1")
    box = network.create_box(c, BoxSpec(line.id, "box", CommMode.RS485, bus=BUS))
    meter_type = metertypes.create(
        c,
        MeterTypeSpec(
            name="t",
            protocol=Protocol.DLT645_2007,
            wallet_model=WalletModel(wallet),
            value_kind=ValueKind.MONEY,
            phases=1,
            profile=MeterProfile(alarm1_fen=2000, alarm2_fen=1000, extra=extra or {}),
        ),
    )
    price = tariffs.create_type(c, "flat")
    tariffs.add_version(
        c,
        price.id,
        FlatTariff("flat", 1, dt.datetime(2020, 1, 1), 5000).to_json_dict(),
        dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
    )
    for n in range(1, count + 1):
        meter = meters.create(c, MeterSpec(address(n), meter_type.id, box_id=box.id))
        customer = customers.create_customer(c, CustomerSpec(str(n), f"c{n}"))
        customers.open_account(c, NewAccount(customer.id, meter.id, price.id))


@dataclass
class Rig:
    manual: ManualClock
    clock: SiteClock
    db: Database
    sim: SimulatedBus
    meters: list[VirtualMeter]
    bus: Bus
    connector: SocketPairConnector
    config: ReadingConfig
    batches: list[list[PollResult]] = field(default_factory=list)

    def driver_for(self, info: MeterInfo) -> MeterDriver:
        return MeterDriver(self.bus, info.address, profile=DriverProfile(wallet="none"),
                           clock=self.clock.local_now)  # fmt: skip

    async def targets(self) -> list[MeterInfo]:
        return await self.db.read(load_targets, self.config)

    async def sink(self, batch: Sequence[PollResult]) -> None:
        self.batches.append(list(batch))

    def poller(self) -> Poller:
        return Poller(targets=self.targets, driver_for=self.driver_for, sink=self.sink,
                      clock=self.clock, config=self.config)  # fmt: skip

    @property
    def results(self) -> list[PollResult]:
        return [r for batch in self.batches for r in batch]


@asynccontextmanager
async def rig(
    tmp_path: Path,
    count: int = 3,
    *,
    config: ReadingConfig | None = None,
    reply_delay_ms: int = 0,
    wire_timing: bool = False,
    baud: int = 9600,
    window_ms: int = 200,
    wallet: str = "gateway",
) -> AsyncIterator[Rig]:
    manual = ManualClock(START)
    clock = SiteClock("Asia/Shanghai", manual)
    db = await Database.open(tmp_path / "gw.sqlite", clock=clock.now)
    await auth.initialise(db)
    await db.write(seed, count, wallet=wallet)
    virtual = [VirtualMeter(address(n), wallet="none", load_w=1000) for n in range(1, count + 1)]
    sim = SimulatedBus(virtual, baud=baud, wire_timing=wire_timing,
                       reply_delay_ms=reply_delay_ms, clock=clock.local_now)  # fmt: skip
    connector = SocketPairConnector(sim)
    bus = Bus(BUS, timing=LineTiming(baud, window_ms), connector=connector, retries=1)
    try:
        yield Rig(manual, clock, db, sim, virtual, bus, connector, config or ReadingConfig())
    finally:
        await bus.close()
        await connector.close()
        await db.close()
