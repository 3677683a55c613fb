"""Receipt numbers never repeat (rollback, clear-all); clear-all removes customer data only."""

from __future__ import annotations

import pytest

from gateway.store import (
    Conn,
    Database,
    clearall,
    customers,
    ledger,
    metertypes,
    network,
    operators,
    oplog,
    receipts,
    siteinfo,
    tariffs,
)
from gateway.store.check import check_file
from gateway.store.errors import AppendOnlyError
from gateway.store.paging import PageRequest
from gateway.store.receipts import ReceiptFilter
from tests.integration.store.support import ManualClock, Site, sell


class PrinterOnFireError(Exception):
    pass


async def test_receipt_numbers_are_unique_and_survive_rollback_and_clear_all(
    db: Database, site: Site, clock: ManualClock
) -> None:
    numbers = [await db.write(sell, site, site.account_ids[0], 1000, f"k{i}") for i in range(3)]
    assert numbers == [1, 2, 3]

    def sale_that_fails(c: Conn) -> None:
        sell(c, site, site.account_ids[1], 2000, "doomed")
        raise PrinterOnFireError("printer on fire")

    with pytest.raises(PrinterOnFireError):
        await db.write(sale_that_fails)
    assert await db.read(receipts.by_number, 4) is None  # nothing of the failed sale is left
    assert await db.read(lambda c: c.scalar("SELECT count(*) FROM vends")) == 3

    numbers.append(await db.write(sell, site, site.account_ids[1], 2000, "retried"))
    await db.write(clearall.clear_customer_data, operator_id=site.operator_id)
    assert await db.read(lambda c: c.scalar("SELECT count(*) FROM receipts")) == 0

    again = await db.write(build_customer_and_sell, site)
    numbers.append(again)
    assert numbers == [1, 2, 3, 4, 5]
    assert len(set(numbers)) == len(numbers)
    with pytest.raises(AppendOnlyError):
        await db.write(lambda c: c.execute("UPDATE sequences SET value = 1"))


def build_customer_and_sell(c: Conn, site: Site) -> int:
    """After a clear: the same customer number and meter can be used again."""
    customer = customers.create_customer(c, customers.CustomerSpec("C0001", "新用户"))
    account = customers.open_account(
        c, customers.NewAccount(customer.id, site.meter_ids[0], site.price_type_id)
    )
    return sell(c, site, account.id, 3000, "after-clear")


async def test_reprints_are_logged_as_copies(db: Database, site: Site) -> None:
    number = await db.write(sell, site, site.account_ids[2], 4200, "k")
    await db.write(receipts.record_print, number, operator_id=site.operator_id, copy=False)
    await db.write(receipts.record_print, number, operator_id=site.operator_id, copy=True)
    history = await db.read(receipts.prints, number)
    assert [p.copy for p in history] == [False, True]
    found = await db.read(
        receipts.query, ReceiptFilter(customer_number_prefix="C0003"), PageRequest()
    )
    assert [(r.receipt.number, r.customer_name, r.times_printed) for r in found.items] == [
        (number, "用户3", 2)
    ]
    assert found.items[0].receipt.content == {"amount_fen": 4200}


async def test_clear_all_keeps_settings_operators_and_master_data(
    db: Database, site: Site, clock: ManualClock
) -> None:
    for i in range(6):
        clock.advance(minutes=1)
        await db.write(sell, site, site.account_ids[i % 3], 500 * (i + 1), f"k{i}")

    def configure(c: Conn) -> None:
        siteinfo.set_setting(c, "receipt.prefix", "GW")
        siteinfo.save_organisation(c, siteinfo.Organisation(name="城东供电所", phone="0571-1"))
        siteinfo.save_receipt_template(c, {"paper": "80mm", "fields": ["amount"]})
        customers.close_account(c, site.account_ids[2], customers.CloseReason.DEREGISTERED)

    await db.write(configure)
    clock.advance(hours=1)
    result = await db.write(clearall.clear_customer_data, operator_id=site.operator_id)
    assert result.removed["customers"] == 3
    assert result.removed["ledger"] == 6
    assert result.removed["vend_events"] == 18

    def survivors(c: Conn) -> dict[str, object]:
        return {
            "customers": c.scalar("SELECT count(*) FROM customers"),
            "accounts": c.scalar("SELECT count(*) FROM accounts"),
            "vends": c.scalar("SELECT count(*) FROM vends"),
            "balances": c.scalar("SELECT count(*) FROM account_balances"),
            "setting": siteinfo.get_setting(c, "receipt.prefix"),
            "organisation": siteinfo.get_organisation(c).name,
            "template": siteinfo.get_receipt_template(c),
            "operator": operators.get(c, site.operator_id).name,
            "lines": len(network.list_lines(c)),
            "types": len(metertypes.list_all(c)),
            "meters": c.scalar("SELECT count(*) FROM meters"),
            "tariff": tariffs.get_version(c, site.version_id).tariff,
        }

    assert await db.read(survivors) == {
        "customers": 0,
        "accounts": 0,
        "vends": 0,
        "balances": 0,
        "setting": "GW",
        "organisation": "城东供电所",
        "template": {"paper": "80mm", "fields": ["amount"]},
        "operator": "clerk",
        "lines": 1,
        "types": 1,
        "meters": 3,
        "tariff": {"kind": "flat", "price": 5880},
    }
    entry = (
        await db.read(oplog.query, oplog.OpLogFilter(action_prefix="system."), PageRequest())
    ).items[0]
    assert entry.action == "system.clear_all"
    assert entry.operator_name == "clerk"
    assert entry.detail["removed"]["ledger"] == 6
    assert entry.detail["ledger_base_id"] == 6
    # The guard row is gone again: the append-only rules hold as before.
    assert await db.read(lambda c: c.scalar("SELECT count(*) FROM maintenance_guard")) == 0
    await db.write(build_customer_and_sell, site)
    assert [e.id for e in await db.read(lambda c: list(ledger.iterate_all(c)))] == [7]
    with pytest.raises(AppendOnlyError):
        await db.write(lambda c: c.execute("DELETE FROM ledger"))
    await db.close()
    report = await check_file(db.path)
    assert report.ok, report.problems
