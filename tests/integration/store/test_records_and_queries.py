"""What the services record (refunds, replacements, cards) and what the UI's queries return."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.store import (
    Conn,
    Database,
    cards,
    customers,
    ledger,
    meters,
    network,
    refunds,
    replacements,
    sales,
    tariffs,
)
from gateway.store.cards import CardKind, NewCardIssue, ReissueFilter
from gateway.store.customers import (
    AccountStatus,
    ClosedFilter,
    CloseReason,
    CustomerFilter,
    CustomerSpec,
)
from gateway.store.errors import (
    AccountClosedError,
    DuplicateError,
    InUseError,
    MeterHasOpenAccountError,
    StoreError,
)
from gateway.store.ledger import LedgerKind, NewEntry
from gateway.store.paging import PageRequest
from gateway.store.replacements import NewReplacement, ReplacementFilter
from gateway.store.sales import SalesFilter
from tests.integration.store.support import START, ManualClock, Site, sell


async def test_money_in_equals_money_out_plus_balance(db: Database, site: Site) -> None:
    account = site.account_ids[0]
    await db.write(sell, site, account, 10000, "k1")
    await db.write(sell, site, account, 2550, "k2")

    def refund_and_close(c: Conn) -> refunds.Refund:
        paid_out = ledger.append(
            c,
            NewEntry(
                account,
                LedgerKind.REFUND,
                -8000,
                operator_id=site.operator_id,
                tariff_version_id=site.version_id,
                detail={"meter_remaining_fen": 8300},
            ),
        )
        fee = ledger.append(c, NewEntry(account, LedgerKind.FEE, -300, refers_to=paid_out.id))
        record = refunds.record(
            c,
            refunds.NewRefund(
                account,
                paid_out.id,
                8000,
                meter_remaining_fen=8300,
                fee_fen=300,
                operator_id=site.operator_id,
            ),
        )
        assert fee.prev_hash == paid_out.hash
        customers.close_account(c, account, CloseReason.REFUND)
        return record

    record = await db.write(refund_and_close)
    assert (record.refund_fen, record.fee_fen) == (8000, 300)
    rows = await db.read(ledger.for_account, account)
    money_in = sum(r.amount_fen for r in rows if r.amount_fen > 0)
    money_out = -sum(r.amount_fen for r in rows if r.amount_fen < 0)
    balance = await db.read(ledger.balance, account)
    assert money_in == money_out + balance.balance_fen == 12550
    assert (balance.balance_fen, balance.purchased_fen, balance.purchases) == (4250, 12550, 2)
    with pytest.raises(AccountClosedError):
        await db.write(customers.close_account, account, CloseReason.DEREGISTERED)
    closed = await db.read(customers.closed_accounts, ClosedFilter(), PageRequest(with_total=True))
    assert closed.total == 1
    row = closed.items[0]
    assert (row.number, row.close_reason, row.refund_fen, row.refund_operator) == (
        "C0001",
        CloseReason.REFUND,
        8000,
        "clerk",
    )


@pytest.mark.parametrize(
    "entry",
    [
        lambda s: NewEntry(s.account_ids[0], LedgerKind.SALE, 1000),  # no tariff version
        lambda s: NewEntry(s.account_ids[0], LedgerKind.SALE, -5, tariff_version_id=s.version_id),
        lambda s: NewEntry(s.account_ids[0], LedgerKind.REFUND, 100),
        lambda s: NewEntry(s.account_ids[0], LedgerKind.REVERSAL, -100),
        lambda s: NewEntry(s.account_ids[0], LedgerKind.ADJUSTMENT, 10.5),
        lambda s: NewEntry(s.account_ids[0], LedgerKind.ADJUSTMENT, True),
        lambda s: NewEntry(s.account_ids[0], LedgerKind.ADJUSTMENT, 1, detail={"kwh": 1.5}),
        lambda s: NewEntry(s.account_ids[0], "gift", 100),
        lambda s: NewEntry(s.account_ids[0], LedgerKind.SALE, 100, tariff_version_id=999),
        lambda s: NewEntry(999, LedgerKind.ADJUSTMENT, 100),
    ],
    ids=[
        "sale-without-tariff",
        "negative-sale",
        "positive-refund",
        "reversal-without-target",
        "float-amount",
        "bool-amount",
        "float-in-detail",
        "unknown-kind",
        "unknown-tariff",
        "unknown-account",
    ],
)
async def test_bad_ledger_rows_are_refused_and_change_nothing(
    db: Database, site: Site, entry: object
) -> None:
    await db.write(sell, site, site.account_ids[0], 1000, "k")
    before = await db.read(lambda c: c.all("SELECT hash FROM ledger"))

    def attempt(c: Conn) -> None:
        ledger.append(c, entry(site))  # type: ignore[operator]

    with pytest.raises((StoreError, ValueError)) as refused:
        await db.write(attempt)
    if isinstance(refused.value, StoreError):
        assert refused.value.code in ("E310", "E321")
    assert [tuple(r) for r in await db.read(lambda c: c.all("SELECT hash FROM ledger"))] == [
        tuple(r) for r in before
    ]


async def test_sales_record_the_tariff_they_were_priced_with(db: Database, site: Site) -> None:
    await db.write(sell, site, site.account_ids[0], 1000, "before")
    await db.write(tariffs.add_version, site.price_type_id, {"kind": "flat", "price": 9999}, START)
    entry = (await db.read(ledger.for_account, site.account_ids[0]))[0]
    assert entry.tariff_version_id == site.version_id
    assert entry.tariff_snapshot == {"kind": "flat", "price": 5880}


async def test_replacement_moves_the_account_and_keeps_the_compensation(
    db: Database, site: Site
) -> None:
    account = site.account_ids[0]
    await db.write(sell, site, account, 5000, "k1")

    def replace(c: Conn) -> replacements.Replacement:
        new_meter = meters.create(c, meters.MeterSpec("000000000099", site.money_type_id, "M0099"))
        old = customers.get_account(c, account).meter_id
        moved = customers.move_to_meter(c, account, new_meter.id)
        comp = ledger.append(
            c,
            NewEntry(
                account,
                LedgerKind.COMPENSATION,
                0,
                energy_cwh=0,
                meter_id=new_meter.id,
                detail={"old_remaining_fen": 1234},
            ),
        )
        return replacements.record(
            c,
            NewReplacement(
                account,
                old,
                moved.meter_id,
                compensation_fen=1234,
                compensation_ledger_id=comp.id,
                operator_id=site.operator_id,
                old_meter_state={"remaining_fen": 1234, "purchase_count": 1},
            ),
        )

    done = await db.write(replace)
    assert done.old_meter_state == {"remaining_fen": 1234, "purchase_count": 1}
    page = await db.read(
        replacements.query, ReplacementFilter(meter_address_prefix="00000000009"), PageRequest()
    )
    assert [(r.customer_number, r.old_meter_address, r.new_meter_address) for r in page.items] == [
        ("C0001", "000000000001", "000000000099")
    ]
    # The old meter is free for a new account, the new one is taken.
    with pytest.raises(MeterHasOpenAccountError):
        await db.write(customers.move_to_meter, site.account_ids[1], done.new_meter_id)
    old_meter_rows = await db.read(ledger.for_meter, done.old_meter_id)
    assert [r.amount_fen for r in old_meter_rows] == [5000]


async def test_card_reissue_supersedes_the_old_card(
    db: Database, site: Site, clock: ManualClock
) -> None:
    account = site.account_ids[1]
    first = await db.write(cards.record_issue, NewCardIssue("CARD-1", CardKind.USER_OPEN, account))
    clock.advance(days=3)
    second = await db.write(
        cards.record_issue,
        NewCardIssue("CARD-2", CardKind.USER_REISSUE, account, operator_id=site.operator_id),
    )
    assert second.replaces_id == first.id
    assert (await db.read(cards.get, first.id)).superseded
    current = await db.read(cards.current_user_card, account)
    assert current is not None and current.card_serial == "CARD-2"
    page = await db.read(cards.reissues, ReissueFilter(since=START), PageRequest(with_total=True))
    assert page.total == 1
    row = page.items[0]
    assert (row.customer_number, row.replaced_serial, row.operator_name) == (
        "C0002",
        "CARD-1",
        "clerk",
    )
    with pytest.raises(Exception, match="E309"):
        await db.write(lambda c: c.execute("UPDATE card_issues SET card_serial = 'X'"))


async def test_customer_query_filters_and_pages(db: Database, site: Site) -> None:
    def more(c: Conn) -> None:
        other_line = network.create_line(c, "西线")
        box = network.create_box(c, network.BoxSpec(other_line.id, "B01", "remote"))
        for i in range(4, 61):
            meter = meters.create(
                c, meters.MeterSpec(f"{i:012d}", site.money_type_id, box_id=box.id)
            )
            cust = customers.create_customer(c, CustomerSpec(f"C{i:04d}", f"王{i}"))
            if i % 2:
                customers.open_account(
                    c, customers.NewAccount(cust.id, meter.id, site.price_type_id)
                )

    await db.write(more)
    await db.write(sell, site, site.account_ids[0], 300, "low")
    everyone = await db.read(
        customers.search, CustomerFilter(), PageRequest(limit=25, with_total=True)
    )
    assert (everyone.total, len(everyone.items), everyone.has_more) == (60, 25, True)
    assert everyone.items[0].number == "C0001" and everyone.items[0].line_name == "东线"
    last = await db.read(customers.search, CustomerFilter(), PageRequest(offset=50, limit=25))
    assert (len(last.items), last.has_more) == (10, False)
    by_name = await db.read(
        customers.search, CustomerFilter(name="王1"), PageRequest(with_total=True)
    )
    assert by_name.total == 10  # 王10..王19 (customers 1..3 are called 用户n)
    by_number = await db.read(customers.search, CustomerFilter(number_prefix="C005"), PageRequest())
    assert [r.number for r in by_number.items] == [f"C005{i}" for i in range(10)]
    by_meter = await db.read(customers.search, CustomerFilter(meter="M0002"), PageRequest())
    assert [r.number for r in by_meter.items] == ["C0002"]
    west_open = await db.read(
        customers.search,
        CustomerFilter(line_id=site.line_id + 1, status=AccountStatus.OPEN),
        PageRequest(with_total=True),
    )
    assert west_open.total == 28
    no_account = await db.read(
        customers.search, CustomerFilter(without_account=True), PageRequest(with_total=True)
    )
    assert no_account.total == 29
    low = await db.read(
        customers.search, CustomerFilter(balance_below_fen=1000), PageRequest(limit=100)
    )
    assert "C0001" in [r.number for r in low.items]
    assert all(r.balance_fen < 1000 for r in low.items)
    with pytest.raises(DuplicateError):
        await db.write(customers.create_customer, CustomerSpec("C0001", "重复"))
    with pytest.raises(InUseError):
        await db.write(network.delete_line, site.line_id)


async def test_sales_query_by_date_operator_and_customer(
    db: Database, site: Site, clock: ManualClock
) -> None:
    for day in range(5):
        for i, account in enumerate(site.account_ids):
            clock.advance(hours=1)
            await db.write(sell, site, account, 1000 * (i + 1), f"d{day}-{i}")
        clock.advance(hours=21)
    day3 = START + timedelta(days=3)
    page = await db.read(
        sales.query,
        SalesFilter(since=day3, until=day3 + timedelta(days=1)),
        PageRequest(with_total=True),
    )
    assert page.total == 3
    assert [r.amount_fen for r in page.items] == [3000, 2000, 1000]  # newest first
    assert all(r.operator_name == "clerk" and r.receipt_number for r in page.items)
    assert page.items[0].vend_kind == "daily" and page.items[0].channel == "comm"
    mine = await db.read(
        sales.query, SalesFilter(customer_id=site.customer_ids[1]), PageRequest(with_total=True)
    )
    assert (mine.total, {r.customer_number for r in mine.items}) == (5, {"C0002"})
    totals = await db.read(sales.totals, SalesFilter(operator_id=site.operator_id))
    assert (totals.count, totals.amount_fen) == (15, 30000)
    by_operator = await db.read(sales.totals_by_operator, START, START + timedelta(days=10))
    assert [(o.operator_name, o.count, o.amount_fen) for o in by_operator] == [("clerk", 15, 30000)]
    nobody = await db.read(
        sales.query, SalesFilter(operator_id=site.operator_id + 1), PageRequest()
    )
    assert nobody.items == () and not nobody.has_more
