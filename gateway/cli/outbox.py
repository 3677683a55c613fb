"""``prepaid-gateway outbox``: look at the MQTT outbox and carry it on a USB stick.

    prepaid-gateway outbox status                      per stream: last seq, acked, pending
    prepaid-gateway outbox export FILE                 everything unacknowledged, signed
    prepaid-gateway outbox import FILE --database M    at the master station (idempotent)
    prepaid-gateway outbox apply-receipt FILE          the master's receipt acknowledges

The gateway database is ``--database PATH``, else ``$PREPAID_GATEWAY_DB``, else the config
file's store path. Site id, gateway id and the site key come from ``[mqtt]`` in the config file
(``--config``) unless given as options. Exit codes: 0 ok, 1 refused (code printed), 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite

from gateway.sync import errors
from gateway.sync.config import MqttConfig, load_mqtt_section, read_site_key_file
from gateway.sync.contract import STREAMS, check_ident
from gateway.sync.master_store import MasterStore
from gateway.sync.outbox import oldest_unacked_age, positions
from gateway.sync.outbox_file import (
    apply_receipt,
    export_unacked,
    make_receipt,
    read_export,
)
from gateway.typedconfig import ConfigError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "outbox",
        help="MQTT outbox: status, USB export/import, receipts",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--database", metavar="PATH", help="the SQLite database file")
    common.add_argument("--config", type=Path, metavar="FILE", help="gateway.toml")
    ids = argparse.ArgumentParser(add_help=False)
    ids.add_argument("--site", metavar="ID", help="site id (default: [mqtt] site_id)")
    ids.add_argument("--gateway", metavar="ID", help="gateway id (default: [mqtt] gateway_id)")
    ids.add_argument("--key-file", type=Path, metavar="FILE", help="site key file (hex)")
    actions = parser.add_subparsers(dest="outbox_action", metavar="ACTION", required=True)
    status = actions.add_parser("status", parents=[common], help="depth per stream")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    export = actions.add_parser("export", parents=[common, ids], help="write unacked events")
    export.add_argument("file", type=Path)
    export.add_argument("--unsigned", action="store_true", help="no site key: checksum only")
    imp = actions.add_parser("import", help="store an export file at the master station")
    imp.add_argument("file", type=Path)
    imp.add_argument("--database", required=True, metavar="PATH", help="master-sim database")
    imp.add_argument("--key-file", type=Path, metavar="FILE", help="the site's key file (hex)")
    imp.add_argument("--no-signature-check", action="store_true", help="accept unsigned files")
    imp.add_argument("--receipt", type=Path, metavar="OUT", help="write a receipt for the gateway")
    receipt = actions.add_parser("apply-receipt", parents=[common, ids], help="apply a receipt")
    receipt.add_argument("file", type=Path)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    try:
        if args.outbox_action == "import":
            return asyncio.run(import_file(args))
        path = _database(args)
        if args.outbox_action == "status":
            return asyncio.run(status(path, as_json=args.json))
        if args.outbox_action == "export":
            return asyncio.run(export(path, args))
        return asyncio.run(receipt(path, args))
    except errors.SyncError as exc:
        print(f"prepaid-gateway outbox: {exc}\n  {exc.info.remedy_en}\n  {exc.info.remedy_zh}")
        return 1
    except (ConfigError, OSError, ValueError) as exc:
        print(f"prepaid-gateway outbox: {exc}", file=sys.stderr)
        return 1


def _database(args: argparse.Namespace) -> Path:
    from gateway.store.config import resolve_database_path

    path = resolve_database_path(args.database, args.config)
    if not path.is_file():
        raise ConfigError("database", f"no database at {path}")
    return path


async def _open_existing(path: Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(f"file:{path}?mode=rw", uri=True)
    await conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def _identity(args: argparse.Namespace) -> tuple[str, str, bytes | None]:
    """Site id, gateway id and site key from options, else from [mqtt] in the config file."""
    mqtt: MqttConfig | None = load_mqtt_section(args.config)
    site = args.site or (mqtt.site_id if mqtt else None)
    gateway = args.gateway or (mqtt.gateway_id if mqtt else None)
    if not site or not gateway:
        raise ConfigError("mqtt", "give --site and --gateway, or a config file with [mqtt]")
    check_ident(site, "site")
    check_ident(gateway, "gateway")
    key: bytes | None = None
    if args.key_file is not None:
        key = read_site_key_file(args.key_file)
    elif mqtt is not None and mqtt.site_key_file:
        key = read_site_key_file(mqtt.site_key_file)
    return site, gateway, key


async def status(path: Path, *, as_json: bool) -> int:
    conn = await _open_existing(path)
    try:
        pos = await positions(conn)
        age = await oldest_unacked_age(conn, datetime.now(UTC))
    finally:
        await conn.close()
    data = {
        "streams": {
            s: {"seq": p.last_seq, "acked": p.acked_seq, "pending": p.depth} for s, p in pos.items()
        },
        "pending": sum(p.depth for p in pos.values()),
        "oldest_pending_s": None if age is None else int(age.total_seconds()),
    }
    if as_json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"{'stream':<14}{'last seq':>10}{'acked':>10}{'pending':>10}")
    for s in STREAMS:
        p = pos[s]
        print(f"{s:<14}{p.last_seq:>10}{p.acked_seq:>10}{p.depth:>10}")
    oldest = data["oldest_pending_s"]
    print(f"pending {data['pending']}" + (f", oldest {oldest} s" if oldest is not None else ""))
    return 0


async def export(path: Path, args: argparse.Namespace) -> int:
    site, gateway, key = _identity(args)
    if key is None and not args.unsigned:
        raise ConfigError("key-file", "no site key to sign with: give --key-file, or --unsigned")
    conn = await _open_existing(path)
    try:
        summary = await export_unacked(
            conn, args.file, site_id=site, gateway_id=gateway, key=key, now=datetime.now(UTC)
        )
    finally:
        await conn.close()
    ranges = ", ".join(f"{s} {a}..{b}" for s, (a, b) in summary.streams.items()) or "nothing"
    signed = "signed" if summary.signed else "UNSIGNED"
    print(f"wrote {summary.count} events ({ranges}) to {summary.path}, {signed}")
    print("The events stay pending here until the master station acknowledges them")
    print("(over MQTT, or with `prepaid-gateway outbox apply-receipt`).")
    return 0


async def import_file(args: argparse.Namespace) -> int:
    key = read_site_key_file(args.key_file) if args.key_file else None
    if key is None and not args.no_signature_check:
        raise ConfigError("key-file", "give the site's --key-file (or --no-signature-check)")
    exported = await asyncio.to_thread(
        read_export, args.file, key, require_signature=not args.no_signature_check
    )
    store = await MasterStore.open(args.database)
    try:
        result = await store.ingest(exported.events, via="file", now=datetime.now(UTC))
        acks = {
            s: store.contiguous((exported.site_id, exported.gateway_id, s))
            for s in STREAMS
            if store.contiguous((exported.site_id, exported.gateway_id, s))
        }
    finally:
        await store.close()
    print(
        f"{exported.site_id}/{exported.gateway_id}: {len(exported.events)} events in the file,"
        f" {result.stored} new, {result.duplicates} already stored, {result.conflicts} conflicts"
    )
    if result.held:
        print(f"{result.held} events wait for earlier ones (a gap): import the older file first")
    if args.receipt is not None:
        if key is None:
            raise ConfigError("key-file", "a receipt must be signed: give --key-file")
        body = make_receipt(
            site_id=exported.site_id,
            gateway_id=exported.gateway_id,
            acks=acks,
            key=key,
            now=datetime.now(UTC),
        )
        args.receipt.write_text(json.dumps(body, indent=2) + "\n")
        print(f"receipt for {sum(acks.values())} acknowledged events written to {args.receipt}")
    return 1 if result.conflicts else 0


async def receipt(path: Path, args: argparse.Namespace) -> int:
    site, gateway, key = _identity(args)
    if key is None:
        raise ConfigError("key-file", "the site key is needed to check the receipt")
    body = json.loads(args.file.read_text("utf-8"))
    conn = await _open_existing(path)
    try:
        acked = await apply_receipt(conn, body, key=key, site_id=site, gateway_id=gateway)
    finally:
        await conn.close()
    print("acknowledged: " + (", ".join(f"{s} up to {n}" for s, n in acked.items()) or "nothing"))
    return 0
