"""Money rows cannot be changed or removed: the database itself refuses (triggers), not only
the code, and a refused statement changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.store import Conn, Database, ledger, oplog, tariffs
from gateway.store.errors import AppendOnlyError, IllegalVendTransitionError
from tests.integration.store.support import START, Site, sell

REFUSED = [
    "UPDATE ledger SET amount_fen = amount_fen * 2",
    "UPDATE ledger SET created_at = '2020-01-01T00:00:00.000000Z'",
    "DELETE FROM ledger",
    "DELETE FROM ledger WHERE id = (SELECT max(id) FROM ledger)",
    "UPDATE receipts SET content = '{}'",
    "DELETE FROM receipts",
    "UPDATE vend_events SET to_state = 'failed'",
    "DELETE FROM vend_events",
    "DELETE FROM vends",
    "UPDATE vends SET amount_fen = 1 WHERE id = 1",
    "UPDATE vends SET idempotency_key = 'other' WHERE id = 1",
    "UPDATE oplog SET detail = '{}'",
    "DELETE FROM oplog",
    'UPDATE price_versions SET tariff = \'{"kind": "flat", "price": 1}\'',
    "DELETE FROM price_versions",
    "UPDATE sequences SET value = 0 WHERE name = 'receipt'",
    "DELETE FROM sequences",
    "DELETE FROM accounts",
]


@pytest.mark.parametrize("sql", REFUSED)
async def test_database_refuses_changes_to_money_rows(db: Database, site: Site, sql: str) -> None:
    await db.write(sell, site, site.account_ids[0], 5000, "k1")
    before = await db.read(lambda c: [tuple(r) for r in c.all("SELECT * FROM ledger")])
    with pytest.raises((AppendOnlyError, IllegalVendTransitionError)) as refused:
        await db.write(lambda c: c.execute(sql))
    assert refused.value.code in ("E309", "E307")
    after = await db.read(lambda c: [tuple(r) for r in c.all("SELECT * FROM ledger")])
    assert after == before
    assert (await db.read(ledger.balance, site.account_ids[0])).balance_fen == 5000


async def test_a_correction_is_a_new_row_that_refers_to_the_old(db: Database, site: Site) -> None:
    account = site.account_ids[0]
    await db.write(sell, site, account, 5000, "k1")

    def correct(c: Conn) -> ledger.Entry:
        sale = ledger.for_account(c, account)[0]
        return ledger.append(
            c,
            ledger.NewEntry(
                account,
                ledger.LedgerKind.REVERSAL,
                -sale.amount_fen,
                refers_to=sale.id,
                operator_id=site.operator_id,
                detail={"reason": "keyed twice"},
            ),
        )

    reversal = await db.write(correct)
    rows = await db.read(ledger.for_account, account)
    assert [(r.kind, r.amount_fen, r.refers_to) for r in rows] == [
        ("sale", 5000, None),
        ("reversal", -5000, rows[0].id),
    ]
    assert reversal.prev_hash == rows[0].hash
    balance = await db.read(ledger.balance, account)
    assert (balance.balance_fen, balance.purchased_fen, balance.entries) == (0, 5000, 2)


async def test_price_versions_are_appended_not_edited(db: Database, site: Site) -> None:
    newer = await db.write(
        tariffs.add_version, site.price_type_id, {"kind": "flat", "price": 6100}, START
    )
    assert newer.version_no == 2
    at_old = await db.read(tariffs.version_at, site.price_type_id, START - timedelta(seconds=1))
    at_new = await db.read(tariffs.version_at, site.price_type_id, START)
    assert at_old is not None and at_old.tariff["price"] == 5880
    assert at_new is not None and at_new.tariff["price"] == 6100
    # The same version from the cloud twice is stored once.
    first = await db.write(
        tariffs.add_version, site.price_type_id, {"price": 1}, START, source="cloud", cloud_ref="v9"
    )
    again = await db.write(
        tariffs.add_version, site.price_type_id, {"price": 1}, START, source="cloud", cloud_ref="v9"
    )
    assert first.id == again.id


async def test_oplog_rows_are_refused_even_through_the_async_transaction(
    db: Database, site: Site
) -> None:
    await db.write(oplog.append, "customer.save", operator_id=site.operator_id)

    async def log_then_tamper() -> None:
        async with db.transaction() as tx:
            await tx.run(oplog.append, "customer.save", operator_id=site.operator_id)
            await tx.execute("UPDATE oplog SET action = 'nothing happened'")

    with pytest.raises(AppendOnlyError):
        await log_then_tamper()
    # The whole transaction rolled back, including the row appended before the refusal.
    count = await db.read(lambda c: c.scalar("SELECT count(*) FROM oplog"))
    assert count == 1
