"""``prepaid-gateway operator``: help for a locked-out site.

    prepaid-gateway operator reset-password NAME [--password PW]
    prepaid-gateway operator list

reset-password sets a temporary password (asked twice on the terminal unless --password is
given), unlocks the operator and forces a change at the next login; it is written to the
operation log. Exit codes: 0 ok, 1 refused (code and remedy printed), 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from pathlib import Path

from gateway.store import auth, operators
from gateway.store.config import resolve_database_path
from gateway.store.database import Database
from gateway.store.errors import StoreError
from gateway.typedconfig import ConfigError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "operator",
        help="operators: reset a password, list",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--database", metavar="PATH", help="the SQLite database file")
    common.add_argument("--config", type=Path, metavar="FILE", help="gateway.toml ([database])")
    actions = parser.add_subparsers(dest="operator_action", metavar="ACTION", required=True)
    reset = actions.add_parser(
        "reset-password", parents=[common], help="set a temporary password and unlock"
    )
    reset.add_argument("name")
    reset.add_argument("--password", help="the temporary password (else asked on the terminal)")
    actions.add_parser("list", parents=[common], help="list operators")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    try:
        path = resolve_database_path(args.database, args.config)
    except ConfigError as exc:
        print(f"prepaid-gateway operator: {exc}", file=sys.stderr)
        return 2
    try:
        if args.operator_action == "list":
            return asyncio.run(_list(path))
        password = args.password
        if password is None:
            password = getpass.getpass(f"New temporary password for {args.name}: ")
            if getpass.getpass("Again: ") != password:
                print("the two passwords differ; nothing changed", file=sys.stderr)
                return 1
        return asyncio.run(_reset(path, args.name, password))
    except StoreError as exc:
        print(exc.describe(), file=sys.stderr)
        return 1


async def _reset(path: Path, name: str, password: str) -> int:
    async with await Database.open(path) as db:
        done = await auth.reset_password(db, name, password, via="cli")
    print(
        f"password of '{done.name}' reset and unlocked; it must be changed at the next login "
        "/ 已重置，下次登录须修改密码"
    )
    return 0


async def _list(path: Path) -> int:
    async with await Database.open(path) as db:
        everyone = await db.read(operators.list_all, include_inactive=True)
    for op in everyone:
        flags = [
            flag
            for flag, on in (
                ("inactive", not op.active),
                ("locked", op.locked),
                ("must-change-password", op.must_change_password),
            )
            if on
        ]
        print(f"{op.name}\t{len(op.permissions)} permissions\t{' '.join(flags)}")
    return 0
