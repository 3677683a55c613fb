"""`prepaid-gateway demo`: the whole gateway on this computer with simulated meters.

No hardware, no cloud: the product's own meter simulator serves a TCP "serial server" with a
site's worth of meters (money-, energy- and gateway-wallet types, some consuming), the ledger
is a SQLite file under --dir, and the web UI listens on http://127.0.0.1:PORT (plain HTTP on
the loopback address only). State survives restarts; delete --dir to start over.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "demo",
        help="run the gateway with simulated meters on localhost (no hardware)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dir", default="var/demo", help="where the demo keeps its files")
    parser.add_argument("--port", type=int, default=8080, help="web UI port (default 8080)")
    parser.add_argument(
        "--accelerate", type=int, default=60, help="meter time runs N times faster (default 60)"
    )
    parser.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from gateway.demo.run import run_demo

    logging.getLogger().setLevel(logging.INFO)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_demo(Path(args.dir), args.port, args.accelerate))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(
                f"port {args.port} is already in use (another demo?): stop it, or choose "
                f"another port with --port",
                file=sys.stderr,
            )
            return 1
        raise
    return 0
