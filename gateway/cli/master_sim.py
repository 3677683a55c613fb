"""``prepaid-gateway master-sim``: a small cloud master station, to see the MQTT contract work.

    prepaid-gateway master-sim --broker HOST:PORT --database FILE [--site S] [--gateway G]
        subscribe to one gateway or many (default: all, '+'), store their events once each in
        FILE, acknowledge them, and print births, wills and a summary until Ctrl-C
    prepaid-gateway master-sim send vend --gateway G --key-file K --json '{"account_id": ...}'
        publish a signed command and print its result (exit 0 ok, 1 refused, 3 no answer)
    prepaid-gateway master-sim status --database FILE
        per gateway: online/offline, last seen, stored seq per stream
    prepaid-gateway master-sim import FILE --database FILE --key-file K [--receipt OUT]
        store a USB export (same as `outbox import`)

Connection options (all subcommands): --broker, --tls, --ca-file, --tls-cert/--tls-key,
--username with --password or --password-file, --client-id, --prefix.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import uuid
from datetime import timedelta
from pathlib import Path

from gateway.cli.outbox import import_file
from gateway.sync import errors
from gateway.sync.config import read_site_key_file
from gateway.sync.connection import BrokerSettings
from gateway.sync.contract import COMMANDS, loads_strict
from gateway.sync.master import MasterStation
from gateway.sync.master_store import MasterStore
from gateway.typedconfig import ConfigError

NO_ANSWER = 3


def _connection_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Added to the top parser and to each subcommand (SUPPRESS keeps top-level values)."""
    d = argparse.SUPPRESS if suppress else None
    parser.add_argument("--broker", metavar="HOST:PORT", default=d or "127.0.0.1:1883")
    parser.add_argument("--tls", action="store_true", default=d or False, help="use TLS")
    parser.add_argument("--ca-file", metavar="FILE", default=d, help="CA for the broker cert")
    parser.add_argument("--tls-cert", metavar="FILE", default=d, help="client certificate")
    parser.add_argument("--tls-key", metavar="FILE", default=d, help="client certificate key")
    parser.add_argument("--username", default=d)
    parser.add_argument("--password", default=d)
    parser.add_argument("--password-file", metavar="FILE", default=d)
    parser.add_argument("--client-id", default=d, help="default: master-sim (persistent)")
    parser.add_argument("--prefix", default=d or "prepaid", help="topic prefix")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "master-sim",
        help="master-station simulator: store and ack events, send signed commands",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _connection_options(parser, suppress=False)
    parser.add_argument("--database", metavar="FILE", help="the simulator's SQLite file")
    parser.add_argument("--site", default="+", help="site id or + (all)")
    parser.add_argument("--gateway", default="+", help="gateway id or + (all)")
    parser.add_argument("--shared", metavar="GROUP", help="shared subscription group ($share)")
    parser.add_argument("--no-validate", action="store_true", help="skip JSON Schema checks")
    parser.add_argument("--summary-every", type=float, default=10.0, metavar="S")
    parser.set_defaults(func=main, sim_action="run")
    actions = parser.add_subparsers(dest="sim_action", metavar="ACTION")

    send = actions.add_parser("send", help="publish a command and wait for its result")
    _connection_options(send, suppress=True)
    send.add_argument("name", choices=COMMANDS)
    send.add_argument("--site", dest="send_site", default="site1", help="site id")
    send.add_argument("--gateway", dest="send_gateway", required=True, help="gateway id")
    send.add_argument("--json", dest="args_json", required=True, help="the command's args")
    send.add_argument("--key-file", type=Path, help="site key (hex) to sign with")
    send.add_argument("--unsigned", action="store_true", help="send without a signature")
    send.add_argument("--id", dest="command_id", help="command id (default: random)")
    send.add_argument("--expires-in", type=float, metavar="S", help="expires_at = now + S")
    send.add_argument("--timeout", type=float, default=30.0, metavar="S")

    status = actions.add_parser("status", help="per-gateway status from the database")
    status.add_argument("--database", dest="status_db", required=True, metavar="FILE")

    imp = actions.add_parser("import", help="store a USB export file")
    imp.add_argument("file", type=Path)
    imp.add_argument("--database", dest="import_db", required=True, metavar="FILE")
    imp.add_argument("--key-file", type=Path, metavar="FILE")
    imp.add_argument("--no-signature-check", action="store_true")
    imp.add_argument("--receipt", type=Path, metavar="OUT")


def _settings(args: argparse.Namespace, client_id: str, *, persistent: bool) -> BrokerSettings:
    host, _, port = str(args.broker).rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError("broker", f"expected HOST:PORT, got {args.broker!r}")
    password = args.password
    if args.password_file:
        password = Path(args.password_file).read_text("utf-8").rstrip("\r\n")
    return BrokerSettings(
        host=host,
        port=int(port),
        client_id=args.client_id or client_id,
        tls=bool(args.tls or args.ca_file or args.tls_cert),
        ca_file=args.ca_file,
        cert_file=args.tls_cert,
        key_file=args.tls_key,
        username=args.username,
        password=password,
        clean_start=not persistent,
        session_expiry_s=7 * 24 * 3600 if persistent else 0,
    )


def main(args: argparse.Namespace) -> int:
    try:
        if args.sim_action == "send":
            return asyncio.run(send(args))
        if args.sim_action == "status":
            return asyncio.run(status(args.status_db))
        if args.sim_action == "import":
            args.database = args.import_db
            return asyncio.run(import_file(args))
        return asyncio.run(run(args))
    except errors.SyncError as exc:
        print(f"master-sim: {exc}", file=sys.stderr)
        return 1
    except (ConfigError, OSError, ValueError) as exc:
        print(f"master-sim: {exc}", file=sys.stderr)
        return 1


def _print(line: str) -> None:
    from datetime import datetime

    print(f"{datetime.now().strftime('%H:%M:%S')} {line}", flush=True)


async def run(args: argparse.Namespace) -> int:
    if not args.database:
        raise ConfigError("database", "give --database FILE (the simulator's own file)")
    store = await MasterStore.open(args.database)
    station = MasterStation(
        _settings(args, "master-sim", persistent=True),
        store,
        prefix=args.prefix,
        site=args.site,
        gateway=args.gateway,
        check_schemas=not args.no_validate,
        shared_group=args.shared,
        printer=_print,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    _print(f"master-sim: {station.settings.url}, topics {station.scope.root}/#, db {args.database}")
    try:
        async with station:
            while not stop.is_set():
                try:
                    async with asyncio.timeout(args.summary_every):
                        await stop.wait()
                except TimeoutError:
                    await _summary(station)
    finally:
        await store.close()
    return 0


async def _summary(station: MasterStation) -> None:
    state = "connected" if station.last_error is None else f"last error: {station.last_error}"
    _print(
        f"received {station.received}, duplicates {station.duplicates},"
        f" conflicts {station.conflicts}, schema problems {len(station.problems)}; {state}"
    )
    for gw in await station.store.gateways():
        streams = " ".join(f"{s}={n}" for s, n in gw["streams"].items()) or "-"
        _print(f"  {gw['site_id']}/{gw['gateway_id']} {gw['state']}: {streams}")


async def status(database: str) -> int:
    store = await MasterStore.open(database)
    try:
        rows = await store.gateways()
        total = await store.count()
    finally:
        await store.close()
    print(f"{total} events stored")
    for gw in rows:
        version = gw["status"].get("version", "?")
        print(f"{gw['site_id']}/{gw['gateway_id']}: {gw['state']} (version {version}),"
              f" last seen {gw['last_seen'] or 'never'}")  # fmt: skip
        for stream, seq in gw["streams"].items():
            print(f"    {stream:<14} stored up to seq {seq}")
    return 0


async def send(args: argparse.Namespace) -> int:
    try:
        command_args = loads_strict(args.args_json)
    except ValueError as exc:
        raise ConfigError("json", f"not valid JSON with integer numbers: {exc}") from None
    if not isinstance(command_args, dict):
        raise ConfigError("json", "the args must be a JSON object")
    key = read_site_key_file(args.key_file) if args.key_file else None
    if key is None and not args.unsigned:
        raise ConfigError("key-file", "give --key-file to sign (or --unsigned to test refusals)")
    # One-shot, clean session, result topics only: it must never ack events it does not keep.
    settings = _settings(args, f"master-sim-send-{uuid.uuid4().hex[:8]}", persistent=False)
    store = await MasterStore.open(":memory:")
    station = MasterStation(
        settings,
        store,
        prefix=args.prefix,
        site=args.send_site,
        gateway=args.send_gateway,
        consume_events=False,
    )
    try:
        async with station:
            await station.wait_connected(args.timeout)
            command = station.build_command(
                args.send_site,
                args.send_gateway,
                args.name,
                command_args,
                key=key,
                command_id=args.command_id,
                expires_in=None if args.expires_in is None else timedelta(seconds=args.expires_in),
            )
            try:
                result = await station.send(
                    args.send_site, args.send_gateway, command, within_s=args.timeout
                )
            except TimeoutError:
                print(
                    f"no result for {command['id']} within {args.timeout} s"
                    " (gateway offline? it gets the command when it reconnects)",
                    file=sys.stderr,
                )
                return NO_ANSWER
    finally:
        await store.close()
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0 if result.get("ok") else 1
