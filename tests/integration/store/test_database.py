"""The Database's promises: readers see committed data only, writers are serialised, a failed
transaction leaves nothing behind, a closed database says so."""

from __future__ import annotations

import asyncio

import pytest

from gateway.store import Conn, Database, ledger, network, oplog
from gateway.store.errors import StoreError
from tests.integration.store.support import Site, sell


async def test_readers_do_not_see_an_open_transaction(db: Database) -> None:
    async with db.transaction() as tx:
        await tx.run(network.create_line, "未提交")
        seen_inside = await tx.run(network.list_lines)
        seen_outside = await db.read(network.list_lines)
        assert [line.name for line in seen_inside] == ["未提交"]
        assert seen_outside == []
    assert [line.name for line in await db.read(network.list_lines)] == ["未提交"]


async def test_concurrent_sales_are_serialised_and_all_kept(db: Database, site: Site) -> None:
    amounts = [100 * (i + 1) for i in range(40)]
    numbers = await asyncio.gather(
        *(
            db.write(sell, site, site.account_ids[i % 3], amount, f"k{i}")
            for i, amount in enumerate(amounts)
        ),
        *(db.read(ledger.balance, site.account_ids[0]) for _ in range(10)),
    )
    receipts = sorted(n for n in numbers[:40] if isinstance(n, int))
    assert receipts == list(range(1, 41))
    balances = [await db.read(ledger.balance, a) for a in site.account_ids]
    assert sum(b.balance_fen for b in balances) == sum(amounts)
    assert await db.read(ledger.verify_chain) == []
    assert await db.read(ledger.verify_balances) == []


async def test_an_exception_rolls_the_whole_transaction_back(db: Database, site: Site) -> None:
    def half_a_sale(c: Conn) -> None:
        sell(c, site, site.account_ids[0], 5000, "k")
        oplog.append(c, "sale.daily", operator_id=999_999)  # no such operator

    with pytest.raises(StoreError):
        await db.write(half_a_sale)
    counts = await db.read(
        lambda c: [
            c.scalar(f"SELECT count(*) FROM {t}")
            for t in ("vends", "vend_events", "ledger", "receipts", "oplog", "account_balances")
        ]
    )
    assert counts == [0, 0, 0, 0, 0, 0]
    assert (await db.write(sell, site, site.account_ids[0], 5000, "k")) == 1


async def test_a_closed_database_refuses_work(db: Database) -> None:
    await db.close()
    with pytest.raises(StoreError, match="closed"):
        await db.read(network.list_lines)
    await db.close()  # closing twice is harmless
