"""Two sales to one energy account at the same moment (the web and the cloud) price in turn.

Found while running the crash test with two concurrent sellers: the per-meter lock serialises
the wire, but the account snapshot that prices the sale (tier position, carried remainder) is
read before the lock is taken, so the second sale is priced as if the first had not happened.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.permissions import KEYS
from gateway.services.actor import Actor
from tests.support.site import running_site

CLERK = Actor(1, "operator", KEYS)


async def test_concurrent_sales_to_one_energy_account_walk_the_tiers_in_turn(
    tmp_path: Path,
) -> None:
    async with running_site(tmp_path) as site:
        address, account = site.meter("energy")
        assert account is not None
        # Tiers: 0.5600 yuan/kWh up to 230 kWh, then 0.6100. 120.00 yuan buys 214.28 kWh.
        opened = await site.vending.open_purchase(CLERK, account, 12000, "open")
        assert opened.energy_cwh == 21428
        first, second = await asyncio.gather(
            site.vending.daily_purchase(CLERK, account, 5000, "web"),
            site.vending.daily_purchase(CLERK, account, 5000, "cloud"),
        )
        # In turn: 15.72 kWh at 0.56 (8.8032 yuan) + 67.53 kWh at 0.61 = 83.25 kWh, then
        # 50.00 yuan all at 0.61 = 81.96 kWh. Both at the first price would be 2 x 83.25.
        assert sorted([first.energy_cwh, second.energy_cwh]) == [8196, 8325]
        assert site.meters[address].remaining == 21428 + 8325 + 8196
        assert (await site.balance(account)).energy_cwh == 21428 + 8325 + 8196
