"""`prepaid-gateway run`: the gateway service (what systemd starts)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from gateway.app import config as gateway_config
from gateway.typedconfig import ConfigError

EX_CONFIG = 78


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "run",
        help="run the gateway (web UI, buses, vending, sync)",
        description="Run the gateway service with the given configuration file.",
    )
    parser.add_argument(
        "--config",
        default=gateway_config.DEFAULT_PATH,
        help=f"TOML configuration (default {gateway_config.DEFAULT_PATH}; "
        "see docs/gateway.example.toml)",
    )
    parser.add_argument("--check", action="store_true", help="validate the configuration and exit")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        config = gateway_config.load(args.config)
    except (ConfigError, OSError) as exc:
        print(f"E001C configuration: {exc}", file=sys.stderr)
        print("  fix the file and run `prepaid-gateway run --check --config FILE`", file=sys.stderr)
        # EX_CONFIG: the unit's RestartPreventExitStatus stops systemd from restarting (and at
        # the start limit, rebooting) a gateway that can only fail the same way again.
        return EX_CONFIG
    if args.check:
        print(f"{args.config}: ok ({len(config.buses)} bus(es))")
        return 0
    from gateway.app.runtime import Gateway
    from gateway.siteclock import SiteClock

    gateway = Gateway(config, clock=SiteClock(config.site.timezone))
    asyncio.run(gateway.run_until_signalled())
    return 0
