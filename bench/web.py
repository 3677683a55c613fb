"""Web benchmark: server time of the customer list page (F2.8) with concurrent clients, on a
database of 10,000 customers and 1,000,000 sales (built with bench/ledger.py's bulk loader).

While the clients run, the product's poller reads 500 more meters in the same event loop and
on the same database (:func:`background_load`): two TCP buses, each served by a
``prepaid-gateway simulate`` process with wire timing at 2400 bps, every read set due each
minute so the lines never idle. The bulk-loaded meters are not polled.

Prints one JSON object:
  customer_list_ms_p99     p99 server time of GET /query/customers (various filters and pages)
  customer_list_ms_median  its median
  requests, clients        how many requests, by how many concurrent clients
  build_s                  time to build the database
  polled_meters            meters the poller targets (the 500 of the load)
  poll_reads               meter reads completed while the requests were measured
  measure_s                how long the measured requests took
Target: customer_list_ms_p99 < 100 while the poller reads 500 simulated meters.

Usage: python bench/web.py [--customers N] [--sales N] [--clients N] [--requests N] [--dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import ledger as ledger_bench
from aiohttp import ClientSession, web

from gateway.link.config import BusConfig
from gateway.link.registry import Buses
from gateway.meters.driver import MeterDriver
from gateway.reading.config import SET_NAMES, ClockConfig, ReadingConfig, ReadSetConfig
from gateway.reading.runtime import ReadingRuntime
from gateway.reading.targets import MeterInfo
from gateway.services.meter_access import BusMeterAccess
from gateway.services.wallet_enforcement import WalletEnforcer
from gateway.siteclock import SiteClock
from gateway.store import Database, meters, metertypes, network
from gateway.store.conn import Conn
from gateway.store.meters import MeterSpec
from gateway.store.metertypes import MeterProfile, MeterTypeSpec, Protocol, ValueKind, WalletModel
from gateway.store.network import BoxSpec, CommMode
from web.app import create_app
from web.config import WebConfig
from web.keys import DATABASE, SESSIONS
from web.security.sessions import COOKIE

QUERIES = (
    "",
    "?offset=50",
    "?offset=5000",
    "?name=王",
    "?number=C00",
    "?status=open",
    "?meter=0000000001",
    "?phone=139",
)


LOAD_BUSES = ("poll0", "poll1")  # not the bulk load's bus0..bus3: those meters stay unread
LOAD_METERS = 500
LOAD_FIRST = 900_001  # above the bulk load's addresses 1..customers
LOAD_BAUD = 2400
LOAD_REPLY_DELAY_MS = 20
LOAD_TZ = "Asia/Shanghai"
LOAD_START_S = 60.0  # simulators serving, every bus read at least once


class LoadRuntime(ReadingRuntime):
    """The gateway's reading runtime, limited to the meters in the load's boxes."""

    def __init__(self, *args: Any, only_buses: frozenset[str], **kwargs: Any) -> None:
        self.only_buses = only_buses
        super().__init__(*args, **kwargs)

    async def _targets(self) -> list[MeterInfo]:
        return [info for info in await super()._targets() if info.meter.bus in self.only_buses]


@dataclass
class PollLoad:
    """What the poller did: ``mark`` when the measurement starts, ``finish`` when it ends."""

    runtime: ReadingRuntime
    polled_meters: int = 0
    reads_at_mark: int = 0
    poll_reads: int = 0
    marked_at: float = 0.0
    seconds: float = 0.0

    def reads(self) -> int:
        return sum(b.reads for b in self.runtime.poller.snapshot().buses)

    def mark(self) -> None:
        self.reads_at_mark = self.reads()
        self.marked_at = time.monotonic()

    def finish(self) -> None:
        self.polled_meters = self.runtime.poller.snapshot().meters
        self.poll_reads = self.reads() - self.reads_at_mark
        self.seconds = time.monotonic() - self.marked_at

    async def until_polling(self) -> None:
        deadline = time.monotonic() + LOAD_START_S
        while True:
            snapshot = self.runtime.poller.snapshot()
            names = {b.name for b in snapshot.buses}
            if names == set(LOAD_BUSES) and all(b.reads > 0 for b in snapshot.buses):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the poller does not read the load's meters: {snapshot}")
            await asyncio.sleep(0.5)
        if snapshot.meters != LOAD_METERS:
            raise RuntimeError(f"the poller targets {snapshot.meters} meters, not {LOAD_METERS}")


def seed_load(c: Conn) -> None:
    """500 plain relay meters (gateway wallet), split over one box per load bus."""
    line = network.create_line(c, "bench-poll")
    kind = metertypes.create(
        c,
        MeterTypeSpec("bench relay meter", Protocol.DLT645_2007, WalletModel.GATEWAY,
                      ValueKind.MONEY, 1, MeterProfile(alarm1_fen=2000, alarm2_fen=1000)),
    )  # fmt: skip
    per_bus = LOAD_METERS // len(LOAD_BUSES)
    for b, bus in enumerate(LOAD_BUSES):
        box = network.create_box(
            c, BoxSpec(line.id, f"poll-box{b}", CommMode.RS485, bus=bus, parity="N")
        )
        for n in range(per_bus):
            address = f"{LOAD_FIRST + b * per_bus + n:012d}"
            meters.create(c, MeterSpec(address, kind.id, box_id=box.id))


async def start_simulator(first: int, count: int) -> tuple[asyncio.subprocess.Process, int]:
    """A simulator process serving ``count`` meters on a TCP port of its choosing."""
    gateway = Path(sys.executable).with_name("prepaid-gateway")
    proc = await asyncio.create_subprocess_exec(
        str(gateway), "simulate", "--tcp", "127.0.0.1:0", "--meters", str(count),
        "--first-address", f"{first:012d}", "--wallet", "none", "--baud", str(LOAD_BAUD),
        "--reply-delay-ms", str(LOAD_REPLY_DELAY_MS), "--load-w", "500",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "TZ": LOAD_TZ},  # the meters keep the site's local time
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(LOAD_START_S):
            line = (await proc.stdout.readline()).decode()
    except BaseException:
        await stop_simulator(proc)
        raise
    found = re.search(r"tcp://127\.0\.0\.1:(\d+)", line)
    if found is None:
        await stop_simulator(proc)
        raise RuntimeError(f"the simulator did not start: {line!r}")
    return proc, int(found.group(1))


async def stop_simulator(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(5):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()


@contextlib.asynccontextmanager
async def background_load(app: web.Application) -> AsyncIterator[PollLoad]:
    """The poller reading 500 simulated meters on two buses, in this event loop."""
    db = app[DATABASE]
    await db.write(seed_load)
    per_bus = LOAD_METERS // len(LOAD_BUSES)
    ports: list[int] = []
    # Unwound in reverse: the runtime stops, then the buses close, then the simulators end.
    async with contextlib.AsyncExitStack() as stack:
        for b in range(len(LOAD_BUSES)):
            proc, port = await start_simulator(LOAD_FIRST + b * per_bus, per_bus)
            stack.push_async_callback(stop_simulator, proc)
            ports.append(port)
        buses = Buses(
            [
                BusConfig(name=name, kind="tcp", port=f"127.0.0.1:{port}", baud=LOAD_BAUD)
                for name, port in zip(LOAD_BUSES, ports, strict=True)
            ]
        )
        await buses.start()
        stack.push_async_callback(buses.close)
        clock = SiteClock(LOAD_TZ)
        access = BusMeterAccess(buses, clock=clock.local_now)

        def driver_for(info: MeterInfo) -> MeterDriver:
            return access.driver(info.meter, info.meter_type)

        # Every set at the shortest interval allowed: far more than 2 lines at 2400 bps carry.
        config = ReadingConfig(
            sets={name: ReadSetConfig(60) for name in SET_NAMES},
            clock=ClockConfig(broadcast=False),
        )
        enforcer = WalletEnforcer(db, driver_for=driver_for, clock=clock,
                                  config=config.enforcement)  # fmt: skip
        runtime = LoadRuntime(db, clock, config, driver_for=driver_for, steps=[enforcer],
                              only_buses=frozenset(LOAD_BUSES))  # fmt: skip
        await runtime.start()
        stack.push_async_callback(runtime.stop)
        load = PollLoad(runtime)
        await load.until_polling()
        yield load


def timing(samples: list[float]) -> web.middleware:  # type: ignore[valid-type]
    @web.middleware
    async def measure(request: web.Request, handler: web.Handler) -> web.StreamResponse:  # type: ignore[name-defined]
        started = time.perf_counter()
        try:
            return await handler(request)
        finally:
            if request.path == "/query/customers":
                samples.append((time.perf_counter() - started) * 1000)

    return measure


async def client_loop(base: str, token: str, count: int, offset: int) -> None:
    async with ClientSession(cookies={COOKIE: token}) as session:
        for index in range(count):
            query = QUERIES[(index + offset) % len(QUERIES)]
            async with session.get(f"{base}/query/customers{query}") as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"{query}: HTTP {response.status}")


async def clients_process(base: str, token: str, clients: int, per_client: int) -> None:
    """The load, from another process so the server's loop times only the server's work."""
    await asyncio.gather(*(client_loop(base, token, per_client, i) for i in range(clients)))


async def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--as-clients":
        base, token, clients, per_client = sys.argv[2:6]
        await clients_process(base, token, int(clients), int(per_client))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--sales", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--requests", type=int, default=4000
    )  # ~20 s: several of the poller's batch writes
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="bench-web-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        db = await Database.open(folder / "gateway.sqlite", clock=ledger_bench.BenchClock())
        started = time.perf_counter()
        await db.write(ledger_bench.build, args.customers, args.sales, 7)
        build_s = time.perf_counter() - started
        samples: list[float] = []
        config = WebConfig(tls=False, host="127.0.0.1", port=8080)
        app = create_app(db, config=config, work_dir=folder)
        app.middlewares.insert(0, timing(samples))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        token = app[SESSIONS].create(1, "zh").token  # op1 of the bulk load holds no rights
        await db.write(
            lambda c: c.execute(
                "INSERT INTO operator_permissions (operator_id, permission) VALUES (1, ?)",
                ("queries.view",),
            )
        )
        async with background_load(app) as poll:
            await client_loop(base, token, len(QUERIES), 0)  # warm the caches
            samples.clear()
            poll.mark()
            per_client = max(1, args.requests // args.clients)
            load = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--as-clients",
                base,
                token,
                str(args.clients),
                str(per_client),
            )
            if await load.wait() != 0:
                raise RuntimeError("the client process failed")
            poll.finish()
        await runner.cleanup()
        await db.close()
        ordered = sorted(samples)
        p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)]
        print(
            json.dumps(
                {
                    "customer_list_ms_p99": round(p99, 2),
                    "customer_list_ms_median": round(statistics.median(ordered), 2),
                    "requests": len(ordered),
                    "clients": args.clients,
                    "customers": args.customers,
                    "sales": args.sales,
                    "build_s": round(build_s, 1),
                    "polled_meters": poll.polled_meters,
                    "poll_reads": poll.poll_reads,
                    "measure_s": round(poll.seconds, 1),
                    "target_ms": 100,
                    "ok": p99 < 100,
                }
            )
        )
    finally:
        if args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
