"""Polling 2,000 meters on 4 buses at 2400 bps against the wire limit, with a vend waiting.

Four socat pty pairs; on the far end of each, `prepaid-gateway simulate` serves 500 plain
relay meters in its own process, with wire timing on (each reply leaves ``reply delay +
(request + reply bytes) x 11 / 2400`` after the request arrived, as on a real RS485 line). This
process is the gateway: the real poller, recorder and gateway-wallet enforcement over a real
SQLite file, all four buses at once.

- ``ratio_to_wire``: for each bus, the time the completed exchanges occupy the line
  (request + reply bytes at 11 bits per byte, plus the meters' reply delay) divided by the
  elapsed time; the worst bus is reported. 1.0 means the line never idles.
- ``vend_latency_ms_p99``: a vend-like operator request (status word 3 at operator priority)
  is issued about every second on a random bus while polling runs; its wait for the line
  (request issued → its first byte on the wire). Target: under one poll exchange + 50 ms
  (it only waits for the frame in flight). ``vend_total_ms_p99`` includes its own exchange.
- ``peak_rss_mb``: this process's peak resident memory.

Prints one JSON object. Runs about 90 seconds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gateway.billing.tariff import FlatTariff
from gateway.link.config import BusConfig
from gateway.link.priority import Priority
from gateway.link.registry import Buses
from gateway.link.timing import wire_seconds
from gateway.link.trace import Direction, TraceEvent
from gateway.meters.driver import MeterDriver
from gateway.reading.config import ClockConfig, ReadingConfig
from gateway.reading.runtime import ReadingRuntime
from gateway.reading.targets import MeterInfo
from gateway.services.meter_access import BusMeterAccess
from gateway.services.wallet_enforcement import WalletEnforcer
from gateway.siteclock import SiteClock
from gateway.store import customers, meters, metertypes, network, tariffs
from gateway.store.conn import Conn
from gateway.store.customers import CustomerSpec, NewAccount
from gateway.store.database import Database
from gateway.store.ledger import LedgerKind, NewEntry, append
from gateway.store.meters import MeterSpec
from gateway.store.metertypes import MeterProfile, MeterTypeSpec, Protocol, ValueKind, WalletModel
from gateway.store.network import BoxSpec, CommMode

BUSES = 4
PER_BUS = 500
BAUD = 2400
REPLY_DELAY_MS = 20
WARMUP_S = 8.0
MEASURE_S = 45.0
TZ = "Asia/Shanghai"
SW3 = 0x04000503


def program(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is not installed (scripts/install-deps.sh test)")
    return found


def seed(c: Conn) -> None:
    line = network.create_line(c, "bench")
    kind = metertypes.create(
        c,
        MeterTypeSpec("relay meter", Protocol.DLT645_2007, WalletModel.GATEWAY, ValueKind.MONEY,
                      1, MeterProfile(alarm1_fen=2000, alarm2_fen=1000)),
    )  # fmt: skip
    price = tariffs.create_type(c, "flat")
    tariffs.add_version(
        c,
        price.id,
        FlatTariff("flat", 1, dt.datetime(2020, 1, 1), 5000).to_json_dict(),
        dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
    )
    n = 1
    for b in range(BUSES):
        box = network.create_box(c, BoxSpec(line.id, f"box{b}", CommMode.RS485, bus=f"b{b}"))
        for _ in range(PER_BUS):
            meter = meters.create(c, MeterSpec(f"{n:012d}", kind.id, box_id=box.id))
            customer = customers.create_customer(c, CustomerSpec(str(n), f"c{n}"))
            account = customers.open_account(c, NewAccount(customer.id, meter.id, price.id))
            append(c, NewEntry(account.id, LedgerKind.OPENING_BALANCE, 100_000))
            n += 1


class Wire:
    """Adds up, per bus, the line time of every completed exchange."""

    def __init__(self) -> None:
        self.busy: dict[str, float] = {}
        self.longest = 0.0
        self._tx: dict[str, int] = {}
        self.counting = False

    def __call__(self, event: TraceEvent) -> None:
        if event.direction is Direction.TX:
            self._tx[event.bus] = len(event.raw)
        elif event.direction is Direction.RX and event.bus in self._tx and event.note == "":
            # The simulator sends the 4 FE wake-up bytes; the trace shows the frame without.
            nbytes = self._tx.pop(event.bus) + len(event.raw) + 4
            exchange = wire_seconds(nbytes, BAUD) + REPLY_DELAY_MS / 1000
            self.longest = max(self.longest, exchange)
            if self.counting:
                self.busy[event.bus] = self.busy.get(event.bus, 0.0) + exchange


async def vends(
    buses: Buses, clock: SiteClock, stop: asyncio.Event
) -> tuple[list[float], list[float]]:
    waits: list[float] = []
    totals: list[float] = []
    rng = random.Random(6)
    while not stop.is_set():
        await asyncio.sleep(rng.uniform(0.5, 1.5))
        b = rng.randrange(BUSES)
        address = f"{b * PER_BUS + rng.randrange(PER_BUS) + 1:012d}"
        bus = buses.bus(f"b{b}")
        seen = asyncio.get_running_loop().create_future()

        def hook(event: TraceEvent, want: str = address, fut: asyncio.Future[float] = seen) -> None:
            if (event.direction is Direction.TX and event.frame is not None
                    and event.frame.address == want and not fut.done()):  # fmt: skip
                fut.set_result(time.monotonic())

        remove = bus.trace.add(hook)
        driver = MeterDriver(bus, address, clock=clock.local_now)
        started = time.monotonic()
        try:
            await driver.read(SW3, priority=Priority.OPERATOR)
        finally:
            remove()
        if seen.done():
            waits.append((seen.result() - started) * 1000)
            totals.append((time.monotonic() - started) * 1000)
    return waits, totals


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")


def start_simulators(workdir: Path) -> tuple[list[subprocess.Popen[bytes]], list[str]]:
    """Four socat pty pairs, and a simulator process with 500 meters behind each."""
    socat = program("socat")
    gateway = Path(sys.executable).with_name("prepaid-gateway")
    procs: list[subprocess.Popen[bytes]] = []
    env = {**os.environ, "TZ": TZ}  # the meters keep the site's local time
    ports: list[str] = []
    try:
        for b in range(BUSES):
            gw, meter = workdir / f"gw{b}", workdir / f"meter{b}"
            procs.append(subprocess.Popen(
                [socat, f"pty,raw,echo=0,link={gw}", f"pty,raw,echo=0,link={meter}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
            for _ in range(500):
                if gw.exists() and meter.exists():
                    break
                time.sleep(0.01)
            procs.append(subprocess.Popen(
                [str(gateway), "simulate", "--serial", str(meter), "--meters", str(PER_BUS),
                 "--first-address", str(b * PER_BUS + 1), "--wallet", "none", "--baud",
                 str(BAUD), "--reply-delay-ms", str(REPLY_DELAY_MS), "--load-w", "500"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env))  # fmt: skip
            ports.append(str(gw))
        for proc in procs[1::2]:  # each prints one line when it serves
            assert proc.stdout is not None
            proc.stdout.readline()
    except BaseException:
        stop_all(procs)
        raise
    return procs, ports


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def run(workdir: Path, ports: list[str]) -> dict[str, object]:
    clock = SiteClock(TZ)
    db = await Database.open(workdir / "gateway.sqlite", clock=clock.now)
    seeded = time.monotonic()
    await db.write(seed)
    seed_s = time.monotonic() - seeded
    buses = Buses([BusConfig(name=f"b{b}", kind="serial", port=ports[b], baud=BAUD,
                             parity="N") for b in range(BUSES)])  # fmt: skip
    await buses.start()
    access = BusMeterAccess(buses, clock=clock.local_now)

    def driver_for(info: MeterInfo) -> MeterDriver:
        return access.driver(info.meter, info.meter_type)

    config = ReadingConfig(clock=ClockConfig(broadcast=False))
    enforcer = WalletEnforcer(db, driver_for=driver_for, clock=clock,
                              config=config.enforcement)  # fmt: skip
    runtime = ReadingRuntime(db, clock, config, driver_for=driver_for, steps=[enforcer])
    wire = Wire()
    buses.add_trace_hook(wire)
    await runtime.start()
    await asyncio.sleep(WARMUP_S)
    reads0 = {b.name: b.reads for b in runtime.poller.snapshot().buses}
    wire.counting = True
    started = time.monotonic()
    stop = asyncio.Event()
    vend_task = asyncio.create_task(vends(buses, clock, stop))
    await asyncio.sleep(MEASURE_S)
    stop.set()
    waits, totals = await vend_task
    elapsed = time.monotonic() - started
    wire.counting = False
    snapshot = runtime.poller.snapshot()
    await runtime.stop()
    await buses.close()
    rows = runtime.recorder.rows
    await db.close()
    per_bus = {b.name: (b.reads - reads0[b.name]) / elapsed for b in snapshot.buses}
    ratios = {name: busy / elapsed for name, busy in wire.busy.items()}
    exchange_ms = wire.longest * 1000
    return {
        "meters": BUSES * PER_BUS,
        "buses": BUSES,
        "baud": BAUD,
        "seconds": round(elapsed, 1),
        "reads_per_s_per_bus": {k: round(v, 2) for k, v in sorted(per_bus.items())},
        "ratio_per_bus": {k: round(v, 3) for k, v in sorted(ratios.items())},
        "ratio_to_wire": round(min(ratios.values()), 3) if ratios else 0.0,
        "vend_requests": len(waits),
        "vend_latency_ms_p99": round(p99(waits), 1),
        "vend_latency_ms_median": round(sorted(waits)[len(waits) // 2], 1) if waits else None,
        "vend_total_ms_p99": round(p99(totals), 1),
        "poll_exchange_ms_max": round(exchange_ms, 1),
        "vend_latency_target_ms": round(exchange_ms + 50, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "readings_written": rows,
        "seed_s": round(seed_s, 1),
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-poll-") as tmp:
        procs, ports = start_simulators(Path(tmp))
        try:
            result = asyncio.run(run(Path(tmp), ports))
        finally:
            stop_all(procs)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
