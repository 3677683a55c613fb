"""A stand-in gateway process for crash tests: sells into a real SQLite file and syncs it.

    python -m tests.integration.mqtt.gateway_proc --db FILE --port N --count N

Sells (ledger row + event, one transaction each) until the ledger holds ``count`` rows, keeps
syncing, and stops cleanly on SIGTERM. The test SIGKILLs it mid-publish and starts it again.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from gateway.sync.client import SyncClient
from tests.integration.mqtt.helpers import gateway_config, open_gateway_db, sell


async def main(args: argparse.Namespace) -> None:
    sync_db = await open_gateway_db(Path(args.db))
    sales_db = await open_gateway_db(Path(args.db))
    client = SyncClient(
        gateway_config("127.0.0.1", args.port, resend_after_s=3.0), sync_db, poll_interval_s=0.05
    )
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: loop.create_task(client.stop()))
    runner = asyncio.create_task(client.run())
    async with sales_db.execute("SELECT count(*) FROM test_ledger") as cur:
        row = await cur.fetchone()
    n = int(row[0]) if row else 0
    while n < args.count:
        n += 1
        await sell(sales_db, n, "sales" if n % 5 else "refunds")
        client.notify()
        if n % 50 == 0:
            await asyncio.sleep(0)  # let the publisher interleave with the sales
    print(f"produced {n}", flush=True)
    await runner
    await sync_db.close()
    await sales_db.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
