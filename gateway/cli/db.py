"""``prepaid-gateway db``: create, upgrade, check, back up and restore the ledger database.

    prepaid-gateway db init                 create (or upgrade) and add the default operator
    prepaid-gateway db migrate              upgrade the schema to this release
    prepaid-gateway db check [--quick]      integrity, schema, hash chains, derived balances
    prepaid-gateway db backup FILE          consistent copy while the gateway keeps selling
    prepaid-gateway db restore FILE --yes   validate FILE, keep the current database, restore

The database is ``--database PATH``, else ``$PREPAID_GATEWAY_DB``, else ``[database] path`` in the
config file, else /var/lib/prepaid-gateway/gateway.sqlite.
Exit codes: 0 ok, 1 refused or problems found (code and remedy printed), 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from gateway.store import auth
from gateway.store.check import check_file
from gateway.store.config import resolve_database_path
from gateway.store.database import Database
from gateway.store.errors import StoreError
from gateway.store.migrations import LATEST_VERSION
from gateway.typedconfig import ConfigError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "db",
        help="the ledger database: init, migrate, check, backup, restore",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--database", metavar="PATH", help="the SQLite database file")
    common.add_argument("--config", type=Path, metavar="FILE", help="gateway.toml ([database])")
    actions = parser.add_subparsers(dest="db_action", metavar="ACTION", required=True)
    actions.add_parser("init", parents=[common], help="create/upgrade and add the default operator")
    actions.add_parser("migrate", parents=[common], help="upgrade the schema to this release")
    check = actions.add_parser("check", parents=[common], help="verify the database")
    check.add_argument("--quick", action="store_true", help="quick_check, no chain walks")
    backup = actions.add_parser("backup", parents=[common], help="write a consistent copy")
    backup.add_argument("file", type=Path)
    backup.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    restore = actions.add_parser("restore", parents=[common], help="restore from a backup file")
    restore.add_argument("file", type=Path)
    restore.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    try:
        path = resolve_database_path(args.database, args.config)
    except ConfigError as exc:
        print(f"prepaid-gateway db: {exc}", file=sys.stderr)
        return 2
    if args.db_action == "restore" and not args.yes:
        if not sys.stdin.isatty():
            print("restore replaces the database: add --yes to confirm", file=sys.stderr)
            return 2
        answer = input(f"Replace {path} with {args.file}? Type yes: ")
        if answer.strip().lower() != "yes":
            print("not restored")
            return 1
    handlers: dict[str, Callable[[Path, argparse.Namespace], Coroutine[Any, Any, int]]] = {
        "init": _init,
        "migrate": _migrate,
        "check": _check,
        "backup": _backup,
        "restore": _restore,
    }
    try:
        return asyncio.run(handlers[args.db_action](path, args))
    except StoreError as exc:
        print(exc.describe(), file=sys.stderr)
        return 1


async def _init(path: Path, _: argparse.Namespace) -> int:
    async with await Database.open(path) as db:
        created = await auth.initialise(db)
        if db.schema_before_open == 0:
            print(f"created {path} (schema {LATEST_VERSION})")
        elif db.schema_before_open < LATEST_VERSION:
            print(f"upgraded {path} from schema {db.schema_before_open} to {LATEST_VERSION}")
        else:
            print(f"{path} is at schema {LATEST_VERSION}")
        if created is not None:
            print(
                f"added operator '{created.name}' with the factory password 00000000; "
                "it must be changed at first login / 初始密码须在首次登录时修改"
            )
        else:
            print("operators already exist: none added")
    return 0


async def _migrate(path: Path, _: argparse.Namespace) -> int:
    async with await Database.open(path) as db:
        before = db.schema_before_open
    if before == LATEST_VERSION:
        print(f"{path} is already at schema {LATEST_VERSION}")
    else:
        print(f"{path}: schema {before} -> {LATEST_VERSION}")
    return 0


async def _check(path: Path, args: argparse.Namespace) -> int:
    if not await asyncio.to_thread(path.is_file):
        print(f"{path}: no such database file", file=sys.stderr)
        return 1
    report = await check_file(path, quick=args.quick)
    for problem in report.problems:
        print(f"{problem.area}: {problem.message}")
    if report.ok:
        counts = ", ".join(f"{k} {v}" for k, v in report.counts.items())
        print(f"ok: {path} (schema {report.schema_version}; {counts})")
        return 0
    print(f"{len(report.problems)} problem(s) in {path}", file=sys.stderr)
    return 1


async def _backup(path: Path, args: argparse.Namespace) -> int:
    async with await Database.open(path) as db:
        result = await db.backup(args.file, overwrite=args.overwrite)
    print(f"wrote {result.path} ({result.size_bytes} bytes, schema {result.schema_version})")
    return 0


async def _restore(path: Path, args: argparse.Namespace) -> int:
    async with await Database.open(path) as db:
        result = await db.restore(args.file)
    print(f"restored {path} from {result.restored_from} (schema {result.schema_version_in_file}")
    print(f"  -> {result.schema_version_now}); the previous database is kept at")
    print(f"  {result.previous_copy}")
    print("restart the gateway service so it reads the restored data")
    return 0
