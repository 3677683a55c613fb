"""`prepaid-gateway simulate`: virtual DL/T 645 prepaid meters on a serial port, TCP or as a DTU."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import signal
import sys
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import cast

from gateway.cards import CardReaderConfig, CardReaderService, SiteKey, load_site_key
from gateway.cards.errors import CardError
from gateway.simulator import state
from gateway.simulator.card_slot import CardSlot, run_slots
from gateway.simulator.endpoint import (
    SimulatedBus,
    address_range,
    default_parity,
    local_now,
    registration_packet,
)
from gateway.simulator.errors import BadOptionError, EndpointUnavailableError, SimulatorError
from gateway.simulator.faults import FLAG_NAMES, VALUE_NAMES, Faults
from gateway.simulator.meter import VirtualMeter, Wallet
from gateway.simulator.profile import CURVES

BAUDS = (1200, 2400, 4800, 9600, 19200)
MAX_METERS = 1000

DESCRIPTION = """\
Run virtual DL/T 645-2007 prepaid meters: any number on one line, served on a serial port or
pty, as a TCP serial server, or dialling a gateway like a GPRS/4G DTU. Each meter has a money or
energy wallet with purchase count, alarms, overdraft, hoarding limit, a relay with keep-power and
valid-until checks, energy registers driven by a load (time can be accelerated), a clock, status
words, and fault switches. The meters answer 08, 11, 12, 13, 14, 15, 16, 17, 18, 19, 1A, 1B, 1C
and 03H (identity auth, open account, recharge, status query). See docs/simulator.md.

Runs until Ctrl-C or SIGTERM; with --state the meters are loaded from FILE at start (when it
exists) and saved to it periodically and on exit."""

EPILOG = """\
faults (--fault [ADDRESS:]NAME[=VALUE], repeatable; without ADDRESS: every meter):
  silent           the meter is dead: no processing, no reply
  drop=PCT         PCT% of replies are lost after the meter processed the request
                   (a recharge is credited but the gateway hears nothing)
  delay=MS         replies come MS milliseconds later than normal
  garble           1..3 bytes of each reply are corrupted
  bad-checksum     every reply carries a wrong checksum
  no-preamble      replies start at 68 without the FE FE FE FE wake-up bytes
  one-byte-03h     03H errors come as one ERR byte instead of two SERR bytes (vendor quirk)

examples:
  # three money meters on a socat pty pair (the gateway opens the other end)
  socat pty,raw,echo=0,link=/tmp/gw pty,raw,echo=0,link=/tmp/meters &
  prepaid-gateway simulate --serial /tmp/meters --meters 3 --remaining 100

  # a serial server on TCP port 8899 (gateway port: socket://127.0.0.1:8899), time x60
  prepaid-gateway simulate --tcp 127.0.0.1:8899 --meters 5 --accelerate 60 --state sim.json

  # a DTU with 3 meters dialling the gateway's DTU listener, frame registration
  prepaid-gateway simulate --dtu 127.0.0.1:9000 --dtu-id 867530900000001 --registration frame

  # commissioning drill: meter 2 is dead, every meter loses 10% of replies
  prepaid-gateway simulate --serial /dev/ttyUSB0 --fault 000000000002:silent drop=10

  # an energy-type meter with 50 kWh, follow-up frames for block reads
  prepaid-gateway simulate --tcp 127.0.0.1:8899 --meters 1 --wallet energy --remaining 50 \\
      --split-blocks

  # meter 1 has an IC card slot on the second PC/SC reader (docs/cards.md, card workflows)
  prepaid-gateway simulate --tcp 127.0.0.1:8899 --meters 2 --card-key file:/etc/site-secret \\
      --card-reader '000000000001=Virtual PCD 00 01'"""


@dataclass(frozen=True, slots=True)
class FaultSpec:
    address: str | None
    name: str
    value: int | None


@dataclass
class Plan:
    """Everything the options ask for, validated before anything starts."""

    meters: list[VirtualMeter]
    loaded_from: Path | None
    endpoint: str  # "serial" | "tcp" | "dtu"
    target: str
    host: str = ""
    port: int = 0
    parity: str = "E"
    where: str = ""  # what the start-up line shows
    card_slots: list[tuple[VirtualMeter, str]] = field(default_factory=list)  # meter, reader
    card_key: SiteKey | None = None


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="run virtual DL/T 645 prepaid meters (serial/pty, TCP, or as a DTU)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = p.add_argument_group("where the meters are served (exactly one)")
    ends = where.add_mutually_exclusive_group(required=True)
    ends.add_argument("--serial", metavar="PATH_OR_URL", help="a tty, pty path or pyserial URL")
    ends.add_argument(
        "--tcp", metavar="HOST:PORT", help="listen as a TCP serial server (port 0: any)"
    )
    ends.add_argument("--dtu", metavar="HOST:PORT", help="dial the gateway's DTU listener")
    where.add_argument(
        "--dtu-id", default="DTU0001", help="DTU id sent on connect (default %(default)s)"
    )
    where.add_argument(
        "--registration",
        choices=("ascii", "frame"),
        default="ascii",
        help="DTU registration/heartbeat packet: the id + CR LF, or a DL/T 645 frame of DI "
        "80808080 carrying the id (default %(default)s)",
    )
    where.add_argument(
        "--heartbeat-s", type=float, default=60.0, help="DTU heartbeat interval (default 60)"
    )
    where.add_argument(
        "--redial-s", type=float, default=5.0, help="DTU wait before dialling again (default 5)"
    )

    meters = p.add_argument_group("the meters (ignored when --state FILE exists)")
    meters.add_argument("--meters", type=int, default=3, help="how many (default %(default)s)")
    meters.add_argument("--first-address", default="000000000001", help="consecutive from here")
    meters.add_argument(
        "--wallet",
        choices=("money", "energy", "none"),
        default="money",
        help="money-prepaid, energy-prepaid, or none (a plain relay meter for gateway wallets)",
    )
    meters.add_argument(
        "--remaining",
        metavar="YUAN",
        default="0",
        help="start balance (kWh for energy wallets); > 0 opens the account (default 0)",
    )
    meters.add_argument("--price", metavar="YUAN_PER_KWH", default="0.5", help="default 0.5")
    meters.add_argument("--load-w", type=int, default=1000, help="load in watts (default 1000)")
    meters.add_argument("--load-curve", choices=sorted(CURVES), default="flat", help="daily shape")
    meters.add_argument("--split-blocks", action="store_true", help="block reads use 12H frames")
    meters.add_argument("--auto-press", action="store_true", help="the customer presses the button")
    meters.add_argument("--require-auth", action="store_true", help="03H needs identity auth first")

    line = p.add_argument_group("the line")
    line.add_argument("--baud", type=int, choices=BAUDS, default=2400, help="default 2400")
    line.add_argument(
        "--parity", choices=("auto", "N", "E"), default="auto", help="auto: N on ptys"
    )
    line.add_argument("--reply-delay-ms", type=int, default=20, help="default 20 (meters: 20..500)")
    line.add_argument("--no-wire-timing", action="store_true", help="no 11-bits-per-byte delay")
    line.add_argument("--accelerate", type=int, default=1, metavar="N", help="time runs N x faster")
    line.add_argument(
        "--fault",
        action="extend",
        nargs="+",
        default=[],
        metavar="FAULT",
        help="[ADDRESS:]NAME[=VALUE], see the list below",
    )
    line.add_argument("--fault-seed", type=int, default=0, help="seed of drop/garble randomness")
    line.add_argument("--trace", action="store_true", help="print every frame to stderr")

    cards = p.add_argument_group("IC card slot (one meter per PC/SC reader)")
    cards.add_argument(
        "--card-reader",
        action="append",
        default=[],
        metavar="[ADDRESS=]NAME",
        help="the meter at ADDRESS (default: the first meter) reads cards inserted in the PC/SC "
        "reader whose name contains NAME; repeat for more meters, each with its own reader",
    )
    cards.add_argument(
        "--card-key",
        metavar="SOURCE",
        default=CardReaderConfig().site_key,
        help="the site secret the meters check card MACs with: file:PATH, env:NAME or "
        "secret:TEXT, as [cards] site_key of the gateway (default %(default)s)",
    )

    keep = p.add_argument_group("state")
    keep.add_argument(
        "--state", metavar="FILE", type=Path, help="load at start, save while running"
    )
    keep.add_argument("--save-every", type=float, default=60.0, metavar="S", help="default 60 s")
    p.set_defaults(func=run)


# --- option parsing -------------------------------------------------------------------------


def _host_port(text: str, option: str, allow_zero: bool) -> tuple[str, int]:
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise BadOptionError(f"{option} {text!r} must be HOST:PORT, e.g. 127.0.0.1:8899")
    port = int(port_text)
    if not (0 if allow_zero else 1) <= port <= 65535:
        raise BadOptionError(f"{option} port {port} is outside {0 if allow_zero else 1}..65535")
    return host.strip("[]"), port


def _scaled(text: str, option: str, decimals: int) -> int:
    try:
        exact = Decimal(text).scaleb(decimals)
    except InvalidOperation:
        raise BadOptionError(f"{option} {text!r} is not a number") from None
    if not exact.is_finite() or exact < 0 or exact != exact.to_integral_value():
        raise BadOptionError(f"{option} {text!r} must be ≥ 0 with at most {decimals} decimals")
    return int(exact)


def _fault_specs(items: list[str]) -> list[FaultSpec]:
    specs: list[FaultSpec] = []
    for item in items:
        address: str | None = None
        text = item
        if ":" in text:
            address, text = text.split(":", 1)
            if not (address.isdigit() and len(address) <= 12):
                raise BadOptionError(f"--fault {item!r}: {address!r} is not a meter address")
            address = address.rjust(12, "0")
        name, sep, value_text = text.partition("=")
        if name not in FLAG_NAMES and name not in VALUE_NAMES:
            known = ", ".join([*FLAG_NAMES, *(f"{n}=N" for n in VALUE_NAMES)])
            raise BadOptionError(f"--fault {item!r}: unknown fault; known: {known}")
        value: int | None = None
        if sep:
            if not value_text.isdigit():
                raise BadOptionError(f"--fault {item!r}: the value must be a whole number")
            value = int(value_text)
        specs.append(FaultSpec(address, name, value))
    return specs


def _apply_faults(meters: list[VirtualMeter], specs: list[FaultSpec], seed: int) -> None:
    by_address = {m.address: m for m in meters}
    for i, m in enumerate(meters):
        if specs:
            m.faults = Faults(seed=seed + i)  # the command line replaces any saved faults
    for spec in specs:
        if spec.address is not None and spec.address not in by_address:
            raise BadOptionError(f"--fault {spec.address}:{spec.name}: no meter has that address")
        targets = meters if spec.address is None else [by_address[spec.address]]
        for m in targets:
            try:
                m.faults.set(spec.name, spec.value)
            except ValueError as exc:
                raise BadOptionError(f"--fault {spec.name}: {exc}") from None


def _new_meters(args: argparse.Namespace) -> list[VirtualMeter]:
    if not 1 <= args.meters <= MAX_METERS:
        raise BadOptionError(f"--meters {args.meters} is outside 1..{MAX_METERS}")
    first = str(args.first_address).strip()
    if not first.isdigit() or len(first) > 12:
        raise BadOptionError(f"--first-address {first!r} must be up to 12 digits")
    start = int(first)
    if start + args.meters - 1 >= 999_999_999_999:
        raise BadOptionError(
            "--first-address: the addresses would reach the broadcast 999999999999"
        )
    wallet = cast(Wallet, args.wallet)
    remaining = _scaled(args.remaining, "--remaining", 2)
    if wallet == "none" and remaining:
        raise BadOptionError("--remaining needs a money or energy wallet")
    price = _scaled(args.price, "--price", 4)
    try:
        return [
            VirtualMeter(
                str(start + i).rjust(12, "0"),
                wallet=wallet,
                remaining=remaining,
                price_e4=price,
                load_w=args.load_w,
                load_curve=CURVES[args.load_curve],
                acceleration=args.accelerate,
                split_blocks=args.split_blocks,
                auto_press=args.auto_press,
                require_auth=args.require_auth,
            )
            for i in range(args.meters)
        ]
    except (TypeError, ValueError) as exc:
        raise BadOptionError(str(exc)) from None


def plan(args: argparse.Namespace) -> Plan:
    """Validate every option and build the meters; raise SimulatorError, start nothing."""
    for option, value, low in (
        ("--reply-delay-ms", args.reply_delay_ms, 0),
        ("--accelerate", args.accelerate, 1),
    ):
        if value < low:
            raise BadOptionError(f"{option} {value} must be at least {low}")
    for option, seconds in (
        ("--heartbeat-s", args.heartbeat_s),
        ("--redial-s", args.redial_s),
        ("--save-every", args.save_every),
    ):
        if not seconds > 0:
            raise BadOptionError(f"{option} {seconds} must be more than 0 seconds")
    loaded_from: Path | None = None
    if args.state is not None and args.state.exists():
        meters = state.load(args.state)
        loaded_from = args.state
        for m in meters:
            if args.accelerate != 1:
                m.acceleration = args.accelerate
    else:
        meters = _new_meters(args)
    _apply_faults(meters, _fault_specs(args.fault), args.fault_seed)
    slots, key = _card_slots(meters, args.card_reader, args.card_key)
    the_plan = _endpoint_plan(args, meters, loaded_from)
    the_plan.card_slots, the_plan.card_key = slots, key
    return the_plan


def _card_slots(
    meters: list[VirtualMeter], specs: list[str], key_source: str
) -> tuple[list[tuple[VirtualMeter, str]], SiteKey | None]:
    """``[ADDRESS=]NAME`` options → (meter, reader) pairs: one meter per reader and vice versa."""
    if not specs:
        return [], None
    by_address = {m.address: m for m in meters}
    slots: list[tuple[VirtualMeter, str]] = []
    for spec in specs:
        address_text, sep, reader = spec.partition("=")
        if not sep:
            address_text, reader = meters[0].address, spec
        address = address_text.strip().rjust(12, "0")
        reader = reader.strip()
        if not reader:
            raise BadOptionError(f"--card-reader {spec!r}: the reader name is empty")
        meter = by_address.get(address)
        if meter is None or not address_text.strip().isdigit():
            raise BadOptionError(f"--card-reader {spec!r}: no meter has address {address_text!r}")
        if meter.wallet == "none":
            raise BadOptionError(
                f"--card-reader {spec!r}: meter {address} has no wallet (--wallet none); cards "
                "need a money or energy wallet"
            )
        if any(m is meter for m, _ in slots):
            raise BadOptionError(f"--card-reader: meter {address} already has a card reader")
        if any(r.casefold() == reader.casefold() for _, r in slots):
            raise BadOptionError(f"--card-reader: reader {reader!r} is given to two meters")
        slots.append((meter, reader))
    try:
        key = load_site_key(key_source)
    except CardError as exc:
        raise BadOptionError(f"--card-key: {exc}") from None
    return slots, key


def _endpoint_plan(
    args: argparse.Namespace, meters: list[VirtualMeter], loaded_from: Path | None
) -> Plan:
    if args.serial:
        parity = default_parity(args.serial) if args.parity == "auto" else args.parity
        where = os.path.realpath(args.serial) if "://" not in args.serial else args.serial
        return Plan(meters, loaded_from, "serial", args.serial, parity=parity, where=where)
    if args.tcp:
        host, port = _host_port(args.tcp, "--tcp", allow_zero=True)
        return Plan(meters, loaded_from, "tcp", args.tcp, host=host, port=port)
    host, port = _host_port(args.dtu, "--dtu", allow_zero=False)
    try:
        registration_packet(args.dtu_id, args.registration, meters[0].address)
    except ValueError as exc:
        raise BadOptionError(f"--dtu-id: {exc}") from None
    return Plan(meters, loaded_from, "dtu", args.dtu, host=host, port=port)


# --- running --------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    try:
        the_plan = plan(args)
    except SimulatorError as exc:
        print(exc.describe(), file=sys.stderr)
        return 2
    try:
        return asyncio.run(_serve(args, the_plan))
    except SimulatorError as exc:
        print(exc.describe(), file=sys.stderr)
        return 1


def _trace(direction: str, raw: bytes) -> None:
    arrow = "->" if direction == "rx" else "<-"
    stamp = dt.datetime.now().strftime("%H:%M:%S.%f")[:-3]
    print(f"{stamp} {arrow} {raw.hex(' ').upper()}", file=sys.stderr, flush=True)


async def _serve(args: argparse.Namespace, p: Plan) -> int:
    bus = SimulatedBus(
        p.meters,
        baud=args.baud,
        wire_timing=not args.no_wire_timing,
        reply_delay_ms=args.reply_delay_ms,
    )
    if args.trace:
        bus.trace = _trace
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if p.loaded_from is not None:
        print(f"loaded {len(p.meters)} meters from {p.loaded_from}", flush=True)
    what = f"{len(p.meters)} meter{'s' if len(p.meters) != 1 else ''} {address_range(p.meters)}"
    line = f"at {args.baud} 8{p.parity}1"
    endpoint: asyncio.Task[None]
    server: asyncio.Server | None = None
    if p.endpoint == "serial":
        ready_line = f"serving {what} on {p.where} {line}"
        endpoint = asyncio.create_task(_serial(bus, p, ready_line))
    elif p.endpoint == "tcp":
        try:
            server = await bus.serve_tcp(p.host, p.port)
        except OSError as exc:
            raise EndpointUnavailableError(f"cannot listen on {p.target}: {exc.strerror}") from None
        port = server.sockets[0].getsockname()[1]
        print(f"serving {what} on tcp://{p.host}:{port} {line}", flush=True)
        endpoint = asyncio.create_task(server.serve_forever())
    else:
        print(
            f"serving {what} as DTU {args.dtu_id} dialling {p.host}:{p.port} {line} "
            f"({args.registration} registration)",
            flush=True,
        )
        endpoint = asyncio.create_task(_dtu(bus, p, args))
    clock = asyncio.create_task(bus.run_clock())
    cards = asyncio.create_task(_run_card_slots(p, bus))
    saver = asyncio.create_task(_save_periodically(args.state, p.meters, args.save_every, stop))
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({endpoint, stopper}, return_when=asyncio.FIRST_COMPLETED)
    failure = endpoint.exception() if endpoint.done() and not endpoint.cancelled() else None
    stop.set()
    for task in (endpoint, clock, stopper, cards):
        task.cancel()
    for task in (endpoint, clock, stopper, cards):
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    await saver  # not cancelled: a save in progress completes before the final one starts
    if server is not None:
        server.close()
    bus.advance()
    if args.state is not None:
        await asyncio.to_thread(state.write, args.state, state.dump(p.meters))
    s = bus.stats
    print(
        f"stopped: {s.requests} requests, {s.replies} replies, {s.dropped} dropped, "
        f"{s.collisions} collisions, {s.bad_frames} bad frames"
        + (f"; state saved to {args.state}" if args.state is not None else ""),
        file=sys.stderr,
        flush=True,
    )
    if failure is not None:
        if isinstance(failure, SimulatorError):
            raise failure
        raise EndpointUnavailableError(f"{p.target}: {failure}")
    return 0


async def _run_card_slots(p: Plan, bus: SimulatedBus) -> None:
    if not p.card_slots or p.card_key is None:
        return
    slots = []
    for meter, reader in p.card_slots:
        # The key was loaded (and checked) from --card-key by plan(); site_key is not read.
        service = CardReaderService(
            CardReaderConfig(reader=reader, site_key="secret:unused"), p.card_key
        )
        print(f"meter {meter.address} reads IC cards in reader {reader!r}", flush=True)
        slots.append(CardSlot(meter, service, clock=local_now, report=_say, before=bus.advance))
    await run_slots(slots)


def _say(line: str) -> None:
    print(line, flush=True)


async def _serial(bus: SimulatedBus, p: Plan, ready_line: str) -> None:
    try:
        await bus.serve_serial(
            p.target, parity=p.parity, on_ready=lambda: print(ready_line, flush=True)
        )
    except OSError as exc:  # serial.SerialException is an OSError
        raise EndpointUnavailableError(f"serial port {p.target}: {exc}") from None


async def _dtu(bus: SimulatedBus, p: Plan, args: argparse.Namespace) -> None:
    """Dial, serve, and dial again after a disconnect, like a real DTU. Reports a failure once."""
    failing = False

    def connected() -> None:
        nonlocal failing
        failing = False
        print(f"DTU {args.dtu_id} connected to {p.target}", file=sys.stderr, flush=True)

    while True:
        try:
            await bus.dial_dtu(
                p.host,
                p.port,
                dtu_id=args.dtu_id,
                registration=args.registration,
                heartbeat_s=args.heartbeat_s,
                on_connected=connected,
            )
        except OSError as exc:
            if not failing:
                print(
                    f"DTU cannot reach {p.target}: {exc.strerror or exc}; "
                    f"dialling again every {args.redial_s:g} s",
                    file=sys.stderr,
                    flush=True,
                )
                failing = True
        else:
            print(f"DTU {args.dtu_id} disconnected from {p.target}", file=sys.stderr, flush=True)
        await asyncio.sleep(args.redial_s)


async def _save_periodically(
    path: Path | None, meters: list[VirtualMeter], every: float, stop: asyncio.Event
) -> None:
    if path is None:
        return
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        if stop.is_set():
            return
        await asyncio.to_thread(state.write, path, state.dump(meters))
