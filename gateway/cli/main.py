"""Entry point: builds the parser from the subcommand modules listed in COMMANDS.

Each module exposes ``register(subparsers) -> None``; it sets ``func`` on its parser to a
callable taking the parsed namespace and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys
from collections.abc import Callable, Sequence
from typing import cast

from gateway import __version__

# Module names under gateway.cli; each adds one or more subcommands.
COMMANDS: tuple[str, ...] = (
    "run",
    "demo",
    "meter",
    "simulate",
    "db",
    "operator",
    "outbox",
    "master_sim",
    "update",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prepaid-gateway",
        description="Edge gateway for prepaid electricity metering.",
    )
    parser.add_argument("--version", action="version", version=f"prepaid-gateway {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if importlib.util.find_spec(f"gateway.cli.{name}") is None:
            continue  # a subcommand not built into this version
        module = importlib.import_module(f"gateway.cli.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(cast(Callable[[argparse.Namespace], int], func)(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
