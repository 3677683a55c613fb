"""A vend the restart could not resolve must still end exactly once.

Found by reading the recovery rules for the crash test: a vend left ``sent`` by a power cut
after the meter credited it, whose meter does not answer at the restart, stays ``sent``. The
next sale to that meter is allowed (it reads count n+1 and targets n+2), and when the first vend
is finally resolved the meter's count is n+2: neither its target nor its start, so it is marked
failed. The meter keeps the money of a sale the ledger no longer has.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from gateway.permissions import KEYS
from gateway.services.actor import Actor
from gateway.services.errors import ServiceError
from gateway.services.vending import SaleResult
from gateway.simulator.faults import Faults
from gateway.store import vends
from tests.support.site import running_site

CLERK = Actor(1, "operator", KEYS)


async def test_sale_after_an_unresolved_credited_vend_loses_no_money(tmp_path: Path) -> None:
    async with running_site(tmp_path) as site:
        address, account = site.meter("money")
        assert account is not None
        meter = site.meters[address]
        await site.vending.open_purchase(CLERK, account, 1000, "open")

        # Power cut after the meter credited 5.00 yuan, before the ledger committed it.
        async def power_cut(vend_id: int, count_after: int | None) -> SaleResult:
            raise SystemExit("power cut")

        confirm = site.vending._confirm
        site.vending._confirm = power_cut  # type: ignore[method-assign]
        with contextlib.suppress(SystemExit):
            await site.vending.daily_purchase(CLERK, account, 500, "cut")
        site.vending._confirm = confirm  # type: ignore[method-assign]
        assert (meter.purchase_count, meter.remaining) == (2, 1500)

        # The restart's recovery cannot reach the meter (a loose RS485 wire, a DTU offline).
        meter.faults = Faults(silent=True)
        site.vending.settle_reads = 1  # one read (with the bus's retries) is enough to fail
        await site.vending.recover()
        cut = await site.db.read(vends.get_by_key, "cut")
        assert cut is not None
        assert str(cut.state) == "sent"

        # The wire is fixed; the customer comes back for another 3.00 yuan.
        meter.faults = Faults()
        # Refusing this sale until the first vend is resolved would be correct too.
        with contextlib.suppress(ServiceError):
            await site.vending.daily_purchase(CLERK, account, 300, "next")
        await site.vending.recover()

        # Whatever happened, the ledger must hold every sale the meter holds.
        balance = await site.balance(account)
        assert balance.purchased_fen == meter.remaining
        assert balance.purchases == meter.purchase_count
        assert not await site.db.read(vends.unfinished)
