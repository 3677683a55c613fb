"""Helpers for the store tests: a clock the test moves, a seeded site, a purchase as the
services write it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gateway.store import (
    Conn,
    customers,
    ledger,
    meters,
    metertypes,
    network,
    oplog,
    receipts,
    tariffs,
    vends,
)
from gateway.store.ledger import LedgerKind, NewEntry
from gateway.store.receipts import NewReceipt, ReceiptKind
from gateway.store.vends import NewVend, VendChannel, VendKind, VendState

START = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
FLAT = {"kind": "flat", "price": 5880}


class ManualClock:
    """The store's clock in tests: time moves only when the test says so."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass(frozen=True)
class Site:
    operator_id: int
    line_id: int
    box_id: int
    money_type_id: int
    price_type_id: int
    version_id: int
    meter_ids: tuple[int, ...]
    customer_ids: tuple[int, ...]
    account_ids: tuple[int, ...]


def build_site(c: Conn, n_accounts: int = 3) -> Site:
    """Line, box, a money meter type, meters, a flat tariff, customers with open accounts."""
    operator = c.insert(
        "INSERT INTO operators (name, password_hash, must_change_password, created_at, "
        "updated_at) VALUES ('clerk', 'not-a-hash', 0, ?, ?)",
        (c.now_text(), c.now_text()),
    )
    line = network.create_line(c, "东线", "feeder 1")
    box = network.create_box(c, network.BoxSpec(line.id, "A01", "rs485", meter_count=8, bus="bus0"))
    money = metertypes.create(
        c, metertypes.MeterTypeSpec("DDSY666", "dlt645-2007", "meter", "money", 1)
    )
    price = tariffs.create_type(c, "居民")
    version = tariffs.add_version(c, price.id, FLAT, START - timedelta(days=30))
    meter_ids, customer_ids, account_ids = [], [], []
    for i in range(1, n_accounts + 1):
        meter = meters.create(c, meters.MeterSpec(f"{i:012d}", money.id, f"M{i:04d}", box.id))
        customer = customers.create_customer(
            c, customers.CustomerSpec(f"C{i:04d}", f"用户{i}", phone=f"1380000{i:04d}")
        )
        account = customers.open_account(c, customers.NewAccount(customer.id, meter.id, price.id))
        meter_ids.append(meter.id)
        customer_ids.append(customer.id)
        account_ids.append(account.id)
    return Site(
        operator,
        line.id,
        box.id,
        money.id,
        price.id,
        version.id,
        tuple(meter_ids),
        tuple(customer_ids),
        tuple(account_ids),
    )


def sell(c: Conn, site: Site, account_id: int, amount_fen: int, key: str) -> int:
    """A confirmed daily purchase the way the services write it; returns the receipt number."""
    account = customers.get_account(c, account_id)
    vend, _ = vends.create(
        c,
        NewVend(
            key,
            VendKind.DAILY,
            VendChannel.COMM,
            account_id,
            amount_fen,
            meter_id=account.meter_id,
            operator_id=site.operator_id,
        ),
    )
    vends.transition(c, vend.id, VendState.SENT)
    vends.transition(c, vend.id, VendState.CONFIRMED)
    entry = ledger.append(
        c,
        NewEntry(
            account_id,
            LedgerKind.SALE,
            amount_fen,
            meter_id=account.meter_id,
            tariff_version_id=site.version_id,
            vend_id=vend.id,
            operator_id=site.operator_id,
        ),
    )
    receipt = receipts.issue(
        c,
        NewReceipt(
            ReceiptKind.SALE,
            account_id,
            vend.id,
            entry.id,
            site.operator_id,
            {"amount_fen": amount_fen},
        ),
    )
    oplog.append(c, "sale.daily", operator_id=site.operator_id, target=f"account:{account_id}")
    return receipt.number
