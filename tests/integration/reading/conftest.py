"""A site with three buses and 20 simulated meters, read by the real poller.

- ``pty``: meters 1..8 behind a socat pty pair (the simulator serves the other end);
- ``tcp``: meters 9..15 behind a TCP serial server (8E1 over socket://);
- ``gprs``: meters 16..20 behind a DTU that dials the gateway's listener.

One manual clock drives everything: the gateway (billing, schedule, relay validity) and the
simulated meters (consumption, meter clocks). A test moves it and reads, so an hour of
consumption takes milliseconds and every figure is exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gateway.billing.tariff import FlatTariff
from gateway.link.config import BusConfig
from gateway.link.registry import Buses
from gateway.meters.driver import MeterDriver
from gateway.permissions import KEYS
from gateway.reading.config import (
    ClockConfig,
    EnforcementConfig,
    FriendlyWindowConfig,
    ReadingConfig,
)
from gateway.reading.runtime import ReadingRuntime
from gateway.reading.targets import MeterInfo
from gateway.services import Services
from gateway.services.actor import Actor
from gateway.services.meter_access import BusMeterAccess
from gateway.services.wallet_enforcement import WalletEnforcer, WalletPosition, position
from gateway.simulator.endpoint import SimulatedBus
from gateway.simulator.meter import VirtualMeter
from gateway.siteclock import ManualClock, SiteClock
from gateway.store import auth, customers, meters, metertypes, network, tariffs
from gateway.store.conn import Conn
from gateway.store.customers import AccountLimits, CustomerSpec, NewAccount
from gateway.store.database import Database
from gateway.store.meters import MeterSpec
from gateway.store.metertypes import MeterProfile, MeterTypeSpec, Protocol, ValueKind, WalletModel
from gateway.store.network import BoxSpec, CommMode
from gateway.typedconfig import from_dict
from tests.support.procs import require, stop, wait_for

CLERK = Actor(1, "operator", KEYS)
START = dt.datetime(2025, 3, 4, 2, 0, tzinfo=dt.UTC)  # Tuesday 10:00 in Asia/Shanghai
PRICE = 5000  # 0.5000 yuan/kWh: 10 kW for an hour costs exactly 5.00 yuan
BAUD = 9600


@dataclass(frozen=True)
class Plan:
    """One simulated meter: where it hangs, what it starts with, what it draws."""

    number: int
    bus: str
    opening_fen: int
    load_w: int
    wallet: str = "gateway"  # gateway | meter
    friendly: bool = False


def plans() -> list[Plan]:
    """Opening balances and loads chosen so that, one hour after 10:00, meter 1 and 9 reach
    alarm 1 (19.00 yuan), meter 2 alarm 2 (9.00 yuan: the warning trip), meters 3, 10 and 16
    run out (-4.00 yuan: tripped); meter 17 runs out at 20:00, inside the friendly-credit
    window; the rest never get near a threshold. Meters 14 and 15 keep their own wallet."""
    rows = [
        (1, "pty", 2_400, 10_000),
        (2, "pty", 1_400, 10_000),
        (3, "pty", 1_100, 30_000),
        (4, "pty", 100_000, 10_000),
        *((n, "pty", 100_000, 1_000) for n in range(5, 9)),
        (9, "tcp", 2_400, 10_000),
        (10, "tcp", 1_100, 30_000),
        *((n, "tcp", 100_000, 2_000) for n in range(11, 14)),
        (16, "gprs", 1_100, 30_000),
        (17, "gprs", 5_000, 10_000),
        *((n, "gprs", 100_000, 1_000) for n in range(18, 21)),
    ]
    out = [Plan(n, bus, opening, load, friendly=n == 17) for n, bus, opening, load in rows]
    out.append(Plan(14, "tcp", 2_400, 10_000, wallet="meter"))
    out.append(Plan(15, "tcp", 100_000, 1_000, wallet="meter"))
    return sorted(out, key=lambda p: p.number)


def address(n: int) -> str:
    return f"{n:012d}"


@dataclass
class Field:
    tmp: Path
    manual: ManualClock
    clock: SiteClock
    db: Database
    buses: Buses
    services: Services
    runtime: ReadingRuntime
    sims: dict[str, SimulatedBus]
    virtual: dict[str, VirtualMeter]
    accounts: dict[str, int]
    meter_ids: dict[str, int]
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    socat: subprocess.Popen[bytes] | None = None
    gw_tty: str = ""
    meter_tty: str = ""

    def meter(self, n: int) -> VirtualMeter:
        return self.virtual[address(n)]

    def account(self, n: int) -> int:
        return self.accounts[address(n)]

    async def position(self, n: int) -> WalletPosition:
        return await self.db.read(position, self.account(n))

    async def step(self, hours: float = 1.0) -> None:
        """Time passes, then every meter is read (as 【抄表开始】 would)."""
        self.manual.advance(dt.timedelta(hours=hours))
        await self.runtime.read_all()

    # ---- the pty bus's cable -------------------------------------------------------------

    def start_socat(self) -> None:
        socat = require("socat")
        self.socat = subprocess.Popen(
            [socat, f"pty,raw,echo=0,link={self.gw_tty}", f"pty,raw,echo=0,link={self.meter_tty}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: Path(self.gw_tty).exists() and Path(self.meter_tty).exists(),
                 what="socat ptys")  # fmt: skip

    async def serve_pty(self) -> None:
        self.tasks["pty"] = asyncio.create_task(
            self.sims["pty"].serve_serial(self.meter_tty, parity="N")
        )
        await asyncio.sleep(0.1)  # the port is open before the first request

    async def unplug_pty(self) -> None:
        assert self.socat is not None
        stop(self.socat)
        await _cancel(self.tasks.pop("pty"))

    async def plug_pty(self) -> None:
        self.start_socat()
        await self.serve_pty()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


def reading_config() -> ReadingConfig:
    return ReadingConfig(
        clock=ClockConfig(broadcast=False),
        enforcement=EnforcementConfig(
            friendly_windows=(FriendlyWindowConfig((1, 2, 3, 4, 5, 6, 7), "18:00", "09:00"),),
            overdraft_limit_fen=0,
        ),
    )


def _seed(conn: Conn) -> dict[str, int]:
    line = network.create_line(conn, "一号线路")
    boxes = {
        bus: network.create_box(
            conn,
            BoxSpec(line_id=line.id, name=f"box-{bus}", comm_mode=CommMode.RS485, bus=bus),
        ).id
        for bus in ("pty", "tcp", "gprs")
    }
    gateway_type = metertypes.create(
        conn,
        MeterTypeSpec(
            name="relay meter (gateway wallet)",
            protocol=Protocol.DLT645_2007,
            wallet_model=WalletModel.GATEWAY,
            value_kind=ValueKind.MONEY,
            phases=1,
            profile=MeterProfile(
                alarm1_fen=2000, alarm2_fen=1000, overdraft_limit_fen=0, close_allowed_fen=0
            ),
        ),
    )
    meter_type = metertypes.create(
        conn,
        MeterTypeSpec(
            name="prepaid meter (meter wallet)",
            protocol=Protocol.DLT645_2007,
            wallet_model=WalletModel.METER,
            value_kind=ValueKind.MONEY,
            phases=1,
            profile=MeterProfile(alarm1_fen=2000, alarm2_fen=1000),
        ),
    )
    flat = tariffs.create_type(conn, "flat 0.5")
    tariffs.add_version(
        conn,
        flat.id,
        FlatTariff("flat", 1, dt.datetime(2020, 1, 1), PRICE).to_json_dict(),
        dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
    )
    accounts: dict[str, int] = {}
    for plan in plans():
        type_id = gateway_type.id if plan.wallet == "gateway" else meter_type.id
        meter = meters.create(
            conn,
            MeterSpec(address=address(plan.number), type_id=type_id, box_id=boxes[plan.bus]),
        )
        customer = customers.create_customer(
            conn,
            CustomerSpec(number=str(100 + plan.number), name=f"用户{plan.number}"),
        )
        account = customers.open_account(
            conn,
            NewAccount(
                customer.id, meter.id, flat.id, AccountLimits(), friendly_credit=plan.friendly
            ),
        )
        accounts[meter.address] = account.id
    return accounts


@pytest.fixture
async def site(tmp_path: Path, free_port: int) -> AsyncIterator[Field]:
    manual = ManualClock(START)
    clock = SiteClock("Asia/Shanghai", manual)
    db = await Database.open(tmp_path / "gateway.sqlite", clock=clock.now)
    await auth.initialise(db)
    gw_tty, meter_tty = str(tmp_path / "gw-tty"), str(tmp_path / "meter-tty")
    dtu_port = free_port
    tcp_sim_port = _another_port(dtu_port)
    accounts = await db.write(_seed)
    meter_ids = dict(await db.read(_meter_ids))
    virtual: dict[str, VirtualMeter] = {}
    by_bus: dict[str, list[VirtualMeter]] = {"pty": [], "tcp": [], "gprs": []}
    for plan in plans():
        vm = VirtualMeter(
            address(plan.number),
            wallet="none" if plan.wallet == "gateway" else "money",
            load_w=plan.load_w,
            price_e4=PRICE,
        )
        virtual[vm.address] = vm
        by_bus[plan.bus].append(vm)
    sims = {
        bus: SimulatedBus(ms, baud=BAUD, wire_timing=False, reply_delay_ms=0, clock=clock.local_now)
        for bus, ms in by_bus.items()
    }
    configs = [
        BusConfig(name="pty", kind="serial", port=gw_tty, baud=BAUD, parity="N", retries=1),
        BusConfig(name="tcp", kind="tcp", port=f"127.0.0.1:{tcp_sim_port}", baud=BAUD, retries=1),
        from_dict(
            BusConfig,
            {
                "name": "gprs",
                "kind": "dtu",
                "listen_host": "127.0.0.1",
                "listen_port": dtu_port,
                "request_timeout_s": 5,
                "retries": 1,
                "dtus": [{"id": "DTU0001", "meters": [address(n) for n in range(16, 21)]}],
            },
            "buses[2]",
        ),
    ]
    buses = Buses(configs)
    await buses.start()
    access = BusMeterAccess(buses, clock=clock.local_now)
    services = Services(db, access, clock)
    services.vending.settle_pause_s = 0.05

    def driver_for(info: MeterInfo) -> MeterDriver:
        return access.driver(info.meter, info.meter_type)

    config = reading_config()
    enforcer = WalletEnforcer(
        db,
        driver_for=driver_for,
        clock=clock,
        config=config.enforcement,
        lock=services.vending.lock,
    )
    runtime = ReadingRuntime(db, clock, config, driver_for=driver_for, steps=[enforcer])
    site = Field(tmp_path, manual, clock, db, buses, services, runtime, sims, virtual, accounts,
                 meter_ids, gw_tty=gw_tty, meter_tty=meter_tty)  # fmt: skip
    tcp_server = await sims["tcp"].serve_tcp("127.0.0.1", tcp_sim_port)
    site.start_socat()
    await site.serve_pty()
    site.tasks["gprs"] = asyncio.create_task(
        sims["gprs"].dial_dtu("127.0.0.1", dtu_port, dtu_id="DTU0001", heartbeat_s=30)
    )
    for _ in range(1000):
        if "DTU0001" in buses.servers["gprs"].online():
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the DTU never dialled in")
    for plan in plans():
        key = f"open-{plan.number}"
        result = await services.open_purchase(CLERK, accounts[address(plan.number)],
                                              plan.opening_fen, key)  # fmt: skip
        assert result.state == "confirmed", result
    await runtime.start()
    try:
        yield site
    finally:
        await runtime.stop()
        for task in list(site.tasks.values()):
            await _cancel(task)
        await buses.close()
        tcp_server.close()
        if site.socat is not None:
            stop(site.socat)
        await db.close()


def _meter_ids(c: Conn) -> list[tuple[str, int]]:
    rows = c.all("SELECT address, id FROM meters")
    return [(str(r[0]), int(r[1])) for r in rows]


def _another_port(avoid: int) -> int:
    import socket

    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port != avoid:
            return port
