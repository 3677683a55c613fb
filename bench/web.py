"""Web benchmark: server time of the customer list page (F2.8) with concurrent clients, on a
database of 10,000 customers and 1,000,000 sales (built with bench/ledger.py's bulk loader).

Prints one JSON object:
  customer_list_ms_p99     p99 server time of GET /query/customers (various filters and pages)
  customer_list_ms_median  its median
  requests, clients        how many requests, by how many concurrent clients
  build_s                  time to build the database
Target: customer_list_ms_p99 < 100 while the poller reads 500 simulated meters; the poller
load is started by :func:`background_load`, a hook that does nothing until the poller exists.

Usage: python bench/web.py [--customers N] [--sales N] [--clients N] [--requests N] [--dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import ledger as ledger_bench
from aiohttp import ClientSession, web

from gateway.store import Database
from web.app import create_app
from web.config import WebConfig
from web.keys import SESSIONS
from web.security.sessions import COOKIE

QUERIES = (
    "",
    "?offset=50",
    "?offset=5000",
    "?name=王",
    "?number=C00",
    "?status=open",
    "?meter=0000000001",
    "?phone=139",
)


@contextlib.asynccontextmanager
async def background_load(app: web.Application) -> AsyncIterator[None]:
    """Hook: start polling 500 simulated meters here once the poller exists (the lead)."""
    yield


def timing(samples: list[float]) -> web.middleware:  # type: ignore[valid-type]
    @web.middleware
    async def measure(request: web.Request, handler: web.Handler) -> web.StreamResponse:  # type: ignore[name-defined]
        started = time.perf_counter()
        try:
            return await handler(request)
        finally:
            if request.path == "/query/customers":
                samples.append((time.perf_counter() - started) * 1000)

    return measure


async def client_loop(base: str, token: str, count: int, offset: int) -> None:
    async with ClientSession(cookies={COOKIE: token}) as session:
        for index in range(count):
            query = QUERIES[(index + offset) % len(QUERIES)]
            async with session.get(f"{base}/query/customers{query}") as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"{query}: HTTP {response.status}")


async def clients_process(base: str, token: str, clients: int, per_client: int) -> None:
    """The load, from another process so the server's loop times only the server's work."""
    await asyncio.gather(*(client_loop(base, token, per_client, i) for i in range(clients)))


async def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--as-clients":
        base, token, clients, per_client = sys.argv[2:6]
        await clients_process(base, token, int(clients), int(per_client))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--sales", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="bench-web-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        db = await Database.open(folder / "gateway.sqlite", clock=ledger_bench.BenchClock())
        started = time.perf_counter()
        await db.write(ledger_bench.build, args.customers, args.sales, 7)
        build_s = time.perf_counter() - started
        samples: list[float] = []
        config = WebConfig(tls=False, host="127.0.0.1", port=8080)
        app = create_app(db, config=config, work_dir=folder)
        app.middlewares.insert(0, timing(samples))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        token = app[SESSIONS].create(1, "zh").token  # op1 of the bulk load holds no rights
        await db.write(
            lambda c: c.execute(
                "INSERT INTO operator_permissions (operator_id, permission) VALUES (1, ?)",
                ("queries.view",),
            )
        )
        async with background_load(app):
            await client_loop(base, token, len(QUERIES), 0)  # warm the caches
            samples.clear()
            per_client = max(1, args.requests // args.clients)
            load = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--as-clients",
                base,
                token,
                str(args.clients),
                str(per_client),
            )
            if await load.wait() != 0:
                raise RuntimeError("the client process failed")
        await runner.cleanup()
        await db.close()
        ordered = sorted(samples)
        p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)]
        print(
            json.dumps(
                {
                    "customer_list_ms_p99": round(p99, 2),
                    "customer_list_ms_median": round(statistics.median(ordered), 2),
                    "requests": len(ordered),
                    "clients": args.clients,
                    "customers": args.customers,
                    "sales": args.sales,
                    "build_s": round(build_s, 1),
                    "target_ms": 100,
                    "ok": p99 < 100,
                }
            )
        )
    finally:
        if args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
