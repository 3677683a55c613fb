"""``prepaid-gateway meter``: test a meter bus before go-live (field commissioning).

    prepaid-gateway meter address   --port /dev/ttyUSB0
    prepaid-gateway meter read      --port /dev/ttyUSB0 --address 1 --di remaining_money
    prepaid-gateway meter relay     --port socket://10.0.0.5:4001 --address 1 --action trip
    prepaid-gateway meter time-sync --port /dev/ttyUSB0 --address 1     (or --broadcast)
    prepaid-gateway meter scan      --port /dev/ttyUSB0 --from 1 --to 40
    prepaid-gateway meter dis       (the data identifiers the gateway knows)

Exit codes: 0 ok, 1 meter or bus error (its code and remedy are printed), 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from gateway.dlt645 import TABLE, DataId, Dlt645Error, Value, lookup
from gateway.dlt645 import address as addr
from gateway.dlt645.commands import Password, RelayAction
from gateway.dlt645.dataids import Kind, format_value
from gateway.link.bus import Bus
from gateway.link.config import BAUD_RATES, split_host_port
from gateway.link.errors import BadReplyError, BusTimeoutError, LinkError
from gateway.link.priority import Priority
from gateway.link.serial_port import SerialConnector
from gateway.link.tcp_client import TcpConnector
from gateway.link.timing import LineTiming
from gateway.link.trace import TraceEvent
from gateway.meters.driver import MeterDriver, broadcast_time, read_address
from gateway.meters.errors import MeterDriverError, MeterRefusedError
from gateway.meters.profile import MeterProfile
from gateway.meters.relay_state import RelayState

ACTIONS: dict[str, RelayAction] = {
    "trip": RelayAction.TRIP,
    "close": RelayAction.CLOSE_DIRECT,
    "close-allowed": RelayAction.CLOSE_ALLOWED,
    "alarm-on": RelayAction.ALARM_ON,
    "alarm-off": RelayAction.ALARM_OFF,
    "keep-power-on": RelayAction.KEEP_POWER_ON,
    "keep-power-off": RelayAction.KEEP_POWER_OFF,
}
DEFAULT_DIS = ("forward_active_total", "remaining_money", "purchase_count", "status_word_3")
SCAN_LIMIT = 100_000
USAGE_REMEDY = (
    "  处理: 检查命令参数；`prepaid-gateway meter dis` 列出可读的数据标识。\n"
    "  Remedy: check the arguments; `prepaid-gateway meter dis` lists the data identifiers."
)


class UsageError(Exception):
    """Bad arguments found after parsing (exit code 2)."""


# --- argument parsing ---------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "meter",
        help="test meters on a bus: address, read, relay, time-sync, scan",
        description=(
            "Talk to DL/T 645 meters directly, for commissioning a bus before go-live. "
            "PORT is a serial device (/dev/ttyUSB0), a pyserial URL (socket://HOST:PORT, "
            "parity applies at the far end) or tcp://HOST:PORT for a transparent serial server."
        ),
    )
    parser.set_defaults(func=lambda _: _usage(parser))
    commands = parser.add_subparsers(dest="meter_command", metavar="ACTION")

    def add(name: str, help_text: str, *, needs_address: bool = False) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _common(sub)
        if needs_address:
            sub.add_argument("--address", required=True, help="meter address (up to 12 digits)")
        return sub

    sub = add("address", "read the address of the one meter alone on the bus (13H)")
    sub.set_defaults(func=_entry(_cmd_address))

    sub = add("read", "read data items from a meter", needs_address=True)
    sub.add_argument(
        "--di",
        action="append",
        metavar="DI_OR_NAME",
        help="data identifier (04000402) or name (meter_number); repeatable "
        f"(default: {', '.join(DEFAULT_DIS)})",
    )
    sub.add_argument("--no-blocks", action="store_true", help="read blocks item by item")
    sub.set_defaults(func=_entry(_cmd_read))

    sub = add(
        "relay", "switch the relay, alarm or keep-power, then read it back", needs_address=True
    )
    sub.add_argument("--action", required=True, choices=sorted(ACTIONS))
    sub.add_argument(
        "--valid-minutes", type=int, default=60, help="command validity window (default 60)"
    )
    sub.add_argument("--level98", action="store_true", help="send the level-98 (encrypted) form")
    sub.set_defaults(func=_entry(_cmd_relay))

    sub = add("time-sync", "set meter clocks to this machine's time")
    who = sub.add_mutually_exclusive_group(required=True)
    who.add_argument("--address", help="one meter, by 14H writes of date and time (password)")
    who.add_argument("--broadcast", action="store_true", help="every meter, by 08H broadcast")
    sub.set_defaults(func=_entry(_cmd_time_sync))

    sub = add("scan", "find the meters on a bus (read-address, or probe a range)")
    sub.add_argument("--from", dest="first", help="first address of the range to probe")
    sub.add_argument("--to", dest="last", help="last address of the range to probe")
    sub.set_defaults(func=_entry(_cmd_scan))

    sub = commands.add_parser("dis", help="list the data identifiers the gateway knows")
    sub.add_argument("--json", action="store_true", help="one JSON object per line")
    sub.set_defaults(func=_cmd_dis)


def _common(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--port", required=True, metavar="URL_OR_DEVICE", help="the bus")
    sub.add_argument("--baud", type=int, default=2400, choices=BAUD_RATES, metavar="BAUD",
                     help="baud rate (default 2400)")  # fmt: skip
    sub.add_argument("--parity", default="E", choices=("N", "E", "O"), help="default E (8E1)")
    sub.add_argument("--stop-bits", type=int, default=1, choices=(1, 2))
    sub.add_argument("--timeout-ms", type=int, default=500, metavar="MS",
                     help="reply window after the request (default 500)")  # fmt: skip
    sub.add_argument("--retries", type=int, default=1, choices=range(6), metavar="N",
                     help="retries of reads after a timeout (default 1)")  # fmt: skip
    sub.add_argument("--password", default="02:000000", metavar="LEVEL:CODE",
                     help="password for writes and relay commands (default 02:000000)")  # fmt: skip
    sub.add_argument("--operator", default="00000000", metavar="HEX8", help="operator code")
    sub.add_argument("--json", action="store_true", help="one JSON object per line")
    sub.add_argument("--trace", action="store_true", help="print raw frames to stderr")


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


# --- running ------------------------------------------------------------------------------------

Command = Callable[[argparse.Namespace, Bus, "Output"], Awaitable[None]]


def _entry(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return asyncio.run(_run(command, args))

    return run


async def _run(command: Command, args: argparse.Namespace) -> int:
    if not getattr(args, "verbose", 0):
        # The error itself is printed with its remedy; the bus's log line would repeat it.
        logging.getLogger("gateway.link").setLevel(logging.ERROR)
    out = Output(sys.stdout, json_lines=args.json)
    try:
        bus = _bus(args)
    except UsageError as exc:
        print(f"prepaid-gateway meter: {exc}\n{USAGE_REMEDY}", file=sys.stderr)
        return 2
    if args.trace:
        bus.trace.add(_print_trace)
    try:
        await command(args, bus, out)
    except (LinkError, MeterDriverError) as exc:
        print(exc.describe(), file=sys.stderr)
        return 1
    except (Dlt645Error, UsageError) as exc:
        code = getattr(exc, "code", "E100") if isinstance(exc, Dlt645Error) else "usage error:"
        print(f"{code} {exc}\n{USAGE_REMEDY}", file=sys.stderr)
        return 2
    finally:
        await bus.close()
    return 0


def _bus(args: argparse.Namespace) -> Bus:
    port: str = args.port
    if not 20 <= args.timeout_ms <= 60_000:
        raise UsageError("--timeout-ms must be between 20 and 60000")
    if port.startswith("tcp://") or ("://" not in port and split_host_port(port) is not None):
        if split_host_port(port) is None:
            raise UsageError(f"--port {port}: expected tcp://HOST:PORT")
        connector: SerialConnector | TcpConnector = TcpConnector.from_url(port)
    else:
        connector = SerialConnector(port, args.baud, args.parity, args.stop_bits)
    return Bus(
        "cli",
        timing=LineTiming(args.baud, args.timeout_ms),
        connector=connector,
        retries=args.retries,
    )


def _driver(args: argparse.Namespace, bus: Bus, address: str, **profile: Any) -> MeterDriver:
    level, _, code = str(args.password).partition(":")
    try:
        creds = Password(int(level, 16), code)
        meter_profile = MeterProfile(
            name="cli",
            password_level=f"{creds.level:02X}",
            password=code,
            operator=args.operator,
            **profile,
        )
    except ValueError as exc:
        raise UsageError(f"--password/--operator: {exc}") from None
    return MeterDriver(bus, _address(address), profile=meter_profile)


def _address(text: str) -> str:
    try:
        normalised = addr.normalise(text)
    except Dlt645Error as exc:
        raise UsageError(str(exc)) from None
    if "A" in normalised:
        raise UsageError(f"meter address {text!r} must be digits only")
    return normalised


def _print_trace(event: TraceEvent) -> None:
    print(event.line(), file=sys.stderr, flush=True)


class Output:
    """Human-readable lines, or one JSON object per line (address, di, name, value, unit)."""

    def __init__(self, stream: TextIO, *, json_lines: bool) -> None:
        self.stream = stream
        self.json = json_lines

    def item(self, address: str, dataid: DataId | None, value: str, *, name: str = "",
             di: str = "", unit: str = "", note: str = "") -> None:  # fmt: skip
        name = name or (dataid.name if dataid else "")
        di = di or (f"{dataid.di:08X}" if dataid else "")
        unit = unit or (dataid.unit if dataid else "")
        if self.json:
            row = {"address": address, "di": di, "name": name, "value": value, "unit": unit}
            print(json.dumps(row, ensure_ascii=False), file=self.stream, flush=True)
            return
        label = f"{dataid.label} / {dataid.label_zh}" if dataid else name
        shown = f"{value} {unit}".rstrip()
        extra = f"  ({note})" if note else ""
        print(f"{address}  {di:8}  {label}: {shown}{extra}", file=self.stream, flush=True)

    def message(self, text: str) -> None:
        if not self.json:
            print(text, file=self.stream, flush=True)


def render(dataid: DataId, value: Value) -> str:
    """Decimal text for numbers, ISO for dates and times, 4 hex digits for status words."""
    if dataid.kind is Kind.WORD:
        words = value if isinstance(value, tuple) else (value,)
        return " ".join(f"{w:0{dataid.length * 2}X}" for w in words if isinstance(w, int))
    return format_value(value)


# --- commands -----------------------------------------------------------------------------------


async def _cmd_address(args: argparse.Namespace, bus: Bus, out: Output) -> None:
    found = await _read_address_alone(bus)
    out.item(found, lookup(0x04000401), found)


async def _read_address_alone(bus: Bus) -> str:
    try:
        return await read_address(bus)
    except BadReplyError as exc:
        raise BadReplyError(
            f"{exc} — if several meters share the bus they answer at once: use "
            "`meter scan --from A --to B` instead",
            bus=bus.name,
            request_sent=True,
        ) from exc


async def _cmd_read(args: argparse.Namespace, bus: Bus, out: Output) -> None:
    driver = _driver(args, bus, args.address, supports_block_reads=not args.no_blocks)
    keys = args.di or list(DEFAULT_DIS)
    for key in keys:
        dataid = lookup(key)  # UnknownDataIdError (E106) before anything is sent
        value = await driver.read(dataid.di, priority=Priority.OPERATOR)
        note = ""
        if dataid.di == 0x04000503 and isinstance(value, int):
            note = RelayState(value).describe()
        out.item(driver.address, dataid, render(dataid, value), note=note)


async def _cmd_relay(args: argparse.Namespace, bus: Bus, out: Output) -> None:
    if not 1 <= args.valid_minutes <= 10080:
        raise UsageError("--valid-minutes must be between 1 and 10080")
    form = "level98" if args.level98 else "plaintext"
    driver = _driver(args, bus, args.address, relay_form=form)
    result = await driver.relay(ACTIONS[args.action], dt.timedelta(minutes=args.valid_minutes))
    state = result.state
    out.message(f"{args.action}: done, read back status word 3")
    out.item(driver.address, lookup(0x04000503), f"{state.status_word_3:04X}",
             note=state.describe())  # fmt: skip
    relay = "open" if state.relay_open else "closed"
    if state.relay_open and not state.command_open:
        relay = "close-allowed"
    out.item(driver.address, None, relay, name="relay_state", di="04000503")


async def _cmd_time_sync(args: argparse.Namespace, bus: Bus, out: Output) -> None:
    if args.broadcast:
        now = dt.datetime.now().replace(microsecond=0)
        await broadcast_time(bus, now)
        out.item(addr.BROADCAST, None, now.isoformat(), name="broadcast_time", di="")
        out.message("sent to every meter (08H broadcast: no meter replies; read a clock to check)")
        return
    driver = _driver(args, bus, args.address)
    before = await driver.read_clock()
    written = await driver.set_time()
    after = await driver.read_clock()
    drift = int((before - written.replace(microsecond=0)).total_seconds())
    out.item(driver.address, None, before.isoformat(), name="clock_before", di="04000101+02",
             note=f"{drift:+d} s off")  # fmt: skip
    out.item(driver.address, None, after.isoformat(), name="clock_after", di="04000101+02")


async def _cmd_scan(args: argparse.Namespace, bus: Bus, out: Output) -> None:
    if (args.first is None) != (args.last is None):
        raise UsageError("give both --from and --to, or neither")
    if args.first is None:
        alone = await _read_address_alone(bus)
        out.item(alone, lookup(0x04000401), alone, note="the only meter answering read-address")
        return
    first, last = int(_address(args.first)), int(_address(args.last))
    if last < first:
        raise UsageError("--to must not be below --from")
    total = last - first + 1
    if total > SCAN_LIMIT:
        raise UsageError(f"at most {SCAN_LIMIT} addresses per scan")
    progress = Progress(sys.stderr, total)
    comm_address = lookup(0x04000401)
    found = 0
    for n in range(first, last + 1):
        candidate = f"{n:012d}"
        driver = MeterDriver(bus, candidate)
        try:
            value = render(
                comm_address, await driver.read(comm_address.di, priority=Priority.OPERATOR)
            )
        except (BusTimeoutError, BadReplyError):
            value = None
        except MeterRefusedError as exc:  # it answered: a meter is there
            value = f"present ({exc.err_names})"
        if value is not None:
            found += 1
            progress.clear()
            out.item(candidate, comm_address, value)
        progress.step(found)
    progress.done()


def _cmd_dis(args: argparse.Namespace) -> int:
    try:
        _print_dis(args.json)
    except BrokenPipeError:  # `meter dis | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _print_dis(as_json: bool) -> None:
    for d in TABLE:
        if as_json:
            row = {"di": f"{d.di:08X}", "name": d.name, "label": d.label, "label_zh": d.label_zh,
                   "unit": d.unit, "count": d.count}  # fmt: skip
            print(json.dumps(row, ensure_ascii=False))
        else:
            unit = f" [{d.unit}]" if d.unit else ""
            print(f"{d.di:08X}  {d.name:28} {d.label} / {d.label_zh}{unit}")


class Progress:
    """A plain-text progress bar: redrawn in place on a terminal, a line per 10% otherwise."""

    WIDTH = 30

    def __init__(self, stream: TextIO, total: int) -> None:
        self.stream = stream
        self.total = total
        self.done_count = 0
        self.tty = stream.isatty()
        self._last_decile = -1

    def _bar(self, found: int) -> str:
        filled = self.WIDTH * self.done_count // self.total
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        return f"scan [{bar}] {self.done_count}/{self.total} addresses, {found} meter(s) found"

    def step(self, found: int) -> None:
        self.done_count += 1
        if self.tty:
            print("\r" + self._bar(found), end="", file=self.stream, flush=True)
            return
        decile = 10 * self.done_count // self.total
        if decile != self._last_decile:
            self._last_decile = decile
            print(self._bar(found), file=self.stream, flush=True)

    def clear(self) -> None:
        if self.tty:
            print("\r" + " " * (self.WIDTH + 60) + "\r", end="", file=self.stream, flush=True)

    def done(self) -> None:
        if self.tty:
            print(file=self.stream, flush=True)
