"""Run card workflows in a process whose pcsc-lite cannot reach any pcscd.

``python -m tests.integration.card_workflows.no_pcscd_child DIR`` with PCSCLITE_CSOCK_NAME set
to a missing socket: a seeded ledger in DIR, the services with a card reader, three workflows.
Prints one JSON line: the error codes and how many vends and sales were recorded.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from gateway.cards import CardReaderConfig, CardReaderService
from gateway.cards.errors import CardError
from gateway.demo.seed import seed_site
from gateway.link.registry import Buses
from gateway.permissions import KEYS
from gateway.services import Services
from gateway.services.actor import Actor
from gateway.services.meter_access import BusMeterAccess
from gateway.siteclock import SiteClock
from gateway.store import auth
from gateway.store.database import Database


async def main(directory: Path) -> dict[str, object]:
    clock = SiteClock("Asia/Shanghai")
    db = await Database.open(directory / "child.sqlite", clock=clock.now)
    try:
        await auth.initialise(db)
        seeded = await db.write(seed_site, bus="line1")
        account = next(m.account_id for m in seeded.meters if m.account_id is not None)
        services = Services(db, BusMeterAccess(Buses([])), clock)
        services.cards.use_reader(
            CardReaderService(CardReaderConfig(site_key="secret:child-secret"))
        )
        clerk = Actor(1, "operator", KEYS)
        codes: list[str] = []
        for call in (
            services.cards.open_purchase(clerk, account, 1000, "open"),
            services.cards.daily_purchase(clerk, account, 1000, "daily"),
            services.cards.read_card(clerk),
        ):
            try:
                await call
                codes.append("ok")
            except CardError as exc:
                codes.append(exc.code)
        vends = await db.read(lambda c: int(c.scalar("SELECT count(*) FROM vends")))
        sales = await db.read(lambda c: int(c.scalar("SELECT count(*) FROM ledger")))
        return {"codes": codes, "vends": vends, "sales": sales}
    finally:
        await db.close()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(Path(sys.argv[1])))))
