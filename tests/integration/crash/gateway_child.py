"""One life of a gateway in the crash test: start like a real gateway, sell, and get killed.

    python -m tests.integration.crash.gateway_child --db FILE --site FILE --port PORT MODE

Modes:
  --setup           create the ledger (operators, the demo site's meters and customers) and
                    write the site description (meter address → ids) to --site
  --runs K          recover every unfinished vend (as a restart does), resubmit the requests
                    given by --retry, then make K purchases with unique keys on random meters:
                    an open-account purchase while the account has no sale, else a daily one
  --final           only recovery, repeated until no vend is left unfinished

Every step is one JSON line on stdout, flushed at once, so the parent knows what this life did
up to the instant it died: ``unfinished`` (what recovery found), ``recovered``, ``ready``,
``begin`` (a request is about to be submitted), ``result`` (what the operator was shown),
``error`` (what the operator was shown instead), ``unexpected`` (an exception no service may
raise; the harness counts it as a mismatch) and ``done``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import traceback
from pathlib import Path
from typing import Any

from gateway.demo.seed import seed_site
from gateway.link.config import BusConfig
from gateway.link.errors import LinkError
from gateway.link.registry import Buses
from gateway.permissions import KEYS
from gateway.services import records
from gateway.services.actor import Actor
from gateway.services.errors import ServiceError
from gateway.services.meter_access import BusMeterAccess
from gateway.services.vending import SaleResult, Vending
from gateway.siteclock import SiteClock
from gateway.store import auth, ledger, vends
from gateway.store.database import Database

BUS = "line1"
CLERK = Actor(1, "operator", KEYS)
FINAL_PASSES = 10


async def _recover_by_failing(self: Vending) -> list[SaleResult]:
    """Wrong: declares every unfinished vend failed without asking the meter."""
    for vend in await self.db.read(vends.unfinished):
        await self.db.write(records.fail, vend.id, "E000 mutant", records.actor_of(vend), "mutant")
    return []


async def _recover_by_confirming(self: Vending) -> list[SaleResult]:
    """Wrong: declares every unfinished vend confirmed without asking the meter."""
    for vend in await self.db.read(vends.unfinished):
        await self.db.write(records.confirm, vend.id, self.clock, count_after=vend.count_target)
    return []


MUTANTS = {"fail-unfinished": _recover_by_failing, "confirm-unfinished": _recover_by_confirming}


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}, sort_keys=True), flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="gateway_child", description=__doc__)
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--site", type=Path, required=True)
    p.add_argument("--port", type=int, default=0, help="the simulator's TCP port")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--setup", action="store_true")
    mode.add_argument("--runs", type=int)
    mode.add_argument("--final", action="store_true")
    p.add_argument("--money-meters", type=int, default=3)
    p.add_argument("--energy-meters", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--key-prefix", default="k")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--max-fen", type=int, default=20_000)
    p.add_argument("--reply-window-ms", type=int, default=300)
    p.add_argument(
        "--mutant",
        choices=sorted(MUTANTS),
        help="replace recovery by a wrong one (proves the harness notices lost or false sales)",
    )
    p.add_argument(
        "--retry",
        action="append",
        default=[],
        metavar="KEY:ACCOUNT:AMOUNT:KIND",
        help="a request the previous life submitted without showing a result: submit it again",
    )
    return p.parse_args(argv)


async def setup(args: argparse.Namespace, clock: SiteClock) -> None:
    db = await Database.open(args.db, clock=clock.now)
    try:
        await auth.initialise(db)
        seeded = await db.write(
            seed_site,
            bus=BUS,
            money_meters=args.money_meters,
            energy_meters=args.energy_meters,
            gateway_meters=0,
            spare_meters=0,
        )
    finally:
        await db.close()
    site = [
        {"address": m.address, "meter_id": m.meter_id, "kind": m.kind, "account_id": m.account_id}
        for m in seeded.meters
    ]
    args.site.write_text(json.dumps(site, indent=1), encoding="utf-8")
    emit("done", meters=len(site))


def describe(vend: vends.Vend) -> dict[str, Any]:
    return {
        "id": vend.id,
        "key": vend.idempotency_key,
        "state": str(vend.state),
        "meter_id": vend.meter_id,
        "count_before": vend.count_before,
        "count_target": vend.count_target,
    }


class Seller:
    """The operator at the counter: submits purchases and reports what the screen showed."""

    def __init__(self, vending: Vending, db: Database) -> None:
        self.vending = vending
        self.db = db

    async def sell(self, key: str, account: int, amount: int, kind: str) -> None:
        emit("begin", key=key, account=account, amount=amount, kind=kind)
        try:
            if kind == "open":
                result = await self.vending.open_purchase(CLERK, account, amount, key)
            else:
                result = await self.vending.daily_purchase(CLERK, account, amount, key)
        except ServiceError as exc:
            emit("error", key=key, account=account, code=exc.code, message=str(exc))
        except LinkError as exc:  # the bus itself failed: the operator sees it, no money moved
            emit("error", key=key, account=account, code=exc.code, message=str(exc))
        except Exception as exc:  # the harness counts these: a service must not raise them
            emit(
                "unexpected",
                key=key,
                account=account,
                type=type(exc).__name__,
                message=str(exc),
                trace=traceback.format_exc(),
            )
        else:
            emit("result", key=key, account=account, **result.to_json())

    async def kind_for(self, account: int) -> str:
        balance = await self.db.read(ledger.balance, account)
        return "daily" if balance.purchases else "open"


async def serve(args: argparse.Namespace, clock: SiteClock) -> None:
    site = json.loads(args.site.read_text(encoding="utf-8"))
    accounts = [int(m["account_id"]) for m in site if m["account_id"] is not None]
    db = await Database.open(args.db, clock=clock.now)
    buses = Buses(
        [
            BusConfig(
                name=BUS,
                kind="tcp",
                port=f"127.0.0.1:{args.port}",
                reply_window_ms=args.reply_window_ms,
            )
        ]
    )
    await buses.start()
    vending = Vending(db, BusMeterAccess(buses, clock=clock.local_now), clock, settle_pause_s=0.05)
    try:
        unfinished = await db.read(vends.unfinished)
        emit("unfinished", vends=[describe(v) for v in unfinished])
        results = await vending.recover()
        emit("recovered", results=[r.to_json() for r in results])
        if args.final:
            for _ in range(FINAL_PASSES):
                if not await db.read(vends.unfinished):
                    break
                await asyncio.sleep(0.2)
                results = await vending.recover()
                emit("recovered", results=[r.to_json() for r in results])
            left = await db.read(vends.unfinished)
            emit("done", unfinished=[describe(v) for v in left])
            return
        seller = Seller(vending, db)
        for item in args.retry:
            key, account, amount, kind = item.split(":")
            await seller.sell(key, int(account), int(amount), kind)
        emit("ready")
        rng = random.Random(args.seed)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(args.runs):
            queue.put_nowait(i)

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                account = rng.choice(accounts)
                amount = rng.randint(1, args.max_fen)
                kind = await seller.kind_for(account)
                await seller.sell(f"{args.key_prefix}-{i}", account, amount, kind)

        await asyncio.gather(*(worker() for _ in range(max(1, args.concurrency))))
        emit("done")
    finally:
        await buses.close()
        await db.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    clock = SiteClock("Asia/Shanghai")
    if args.mutant:
        Vending.recover = MUTANTS[args.mutant]  # type: ignore[method-assign]
    if args.setup:
        asyncio.run(setup(args, clock))
    else:
        asyncio.run(serve(args, clock))
    return 0


if __name__ == "__main__":
    sys.exit(main())
