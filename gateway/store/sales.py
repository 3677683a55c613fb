"""The sales query (F3.5) and sales totals: ledger rows of kind ``sale`` with who, where, how.

Indexes that keep these fast on a million sales: ``ledger(kind, created_at, operator_id,
amount_fen, energy_cwh)`` covers date ranges, operator filters and totals without reading the
rows; ``ledger(account_id, id)`` serves one customer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from gateway.store.conn import Conn
from gateway.store.paging import Page, PageRequest, Where, fetch_page
from gateway.store.vends import VendChannel, VendKind


@dataclass(frozen=True)
class SaleRow:
    ledger_id: int
    created_at: str
    receipt_number: int | None
    customer_id: int
    customer_number: str
    customer_name: str
    account_id: int
    meter_id: int | None
    meter_address: str | None
    vend_id: int | None
    vend_kind: VendKind | None
    channel: VendChannel | None
    amount_fen: int
    energy_cwh: int
    remainder_fen: int | None
    tariff_version_id: int | None
    operator_id: int | None
    operator_name: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> SaleRow:
        return cls(
            ledger_id=row["ledger_id"],
            created_at=row["created_at"],
            receipt_number=row["receipt_number"],
            customer_id=row["customer_id"],
            customer_number=row["customer_number"],
            customer_name=row["customer_name"],
            account_id=row["account_id"],
            meter_id=row["meter_id"],
            meter_address=row["meter_address"],
            vend_id=row["vend_id"],
            vend_kind=None if row["vend_kind"] is None else VendKind(row["vend_kind"]),
            channel=None if row["channel"] is None else VendChannel(row["channel"]),
            amount_fen=row["amount_fen"],
            energy_cwh=row["energy_cwh"],
            remainder_fen=row["remainder_fen"],
            tariff_version_id=row["tariff_version_id"],
            operator_id=row["operator_id"],
            operator_name=row["operator_name"],
        )


@dataclass(frozen=True)
class SalesFilter:
    """F3.5 conditions (``since <= created_at < until``), combined with AND."""

    since: datetime | None = None
    until: datetime | None = None
    operator_id: int | None = None
    customer_id: int | None = None
    account_id: int | None = None
    meter_id: int | None = None
    vend_kind: VendKind | None = None
    channel: VendChannel | None = None

    def where(self) -> Where:
        where = Where()
        if self.customer_id is None and self.account_id is None:
            where.add("l.kind = 'sale'")
        else:
            # One customer's few rows: go through ledger(account_id, id), not the date index
            # (the unary + keeps the planner from choosing the kind index).
            where.add("+l.kind = 'sale'")
        where.since_until("l.created_at", self.since, self.until)
        if self.operator_id is not None:
            where.add("l.operator_id = ?", self.operator_id)
        if self.customer_id is not None:
            where.add(
                "l.account_id IN (SELECT id FROM accounts WHERE customer_id = ?)", self.customer_id
            )
        if self.account_id is not None:
            where.add("l.account_id = ?", self.account_id)
        if self.meter_id is not None:
            where.add("l.meter_id = ?", self.meter_id)
        if self.vend_kind is not None:
            where.add("v.kind = ?", str(VendKind(self.vend_kind)))
        if self.channel is not None:
            where.add("v.channel = ?", str(VendChannel(self.channel)))
        return where


_FROM = (
    " FROM ledger AS l JOIN accounts AS a ON a.id = l.account_id"
    " JOIN customers AS cu ON cu.id = a.customer_id"
    " LEFT JOIN meters AS m ON m.id = l.meter_id"
    " LEFT JOIN vends AS v ON v.id = l.vend_id"
    " LEFT JOIN operators AS o ON o.id = l.operator_id"
)
_SELECT = (
    "SELECT l.id AS ledger_id, l.created_at, "
    "(SELECT r.number FROM receipts AS r WHERE r.ledger_id = l.id ORDER BY r.number LIMIT 1) "
    "AS receipt_number, cu.id AS customer_id, cu.number AS customer_number, "
    "cu.name AS customer_name, l.account_id, l.meter_id, m.address AS meter_address, l.vend_id, "
    "v.kind AS vend_kind, v.channel, l.amount_fen, l.energy_cwh, l.remainder_fen, "
    "l.tariff_version_id, l.operator_id, o.name AS operator_name" + _FROM
)
_ORDER = " ORDER BY l.created_at DESC, l.id DESC"


def query(c: Conn, flt: SalesFilter, page: PageRequest) -> Page[SaleRow]:
    """F3.5 sales query, newest first."""
    where = flt.where()
    count_from = _FROM if (flt.vend_kind or flt.channel) else " FROM ledger AS l"
    return fetch_page(
        c,
        f"{_SELECT}{where.sql()}{_ORDER}",
        f"SELECT count(*){count_from}{where.sql()}",
        where.params,
        page=page,
        build=SaleRow.from_row,
    )


def iterate(c: Conn, flt: SalesFilter) -> Iterator[SaleRow]:
    """Every matching sale, streamed, newest first (exports)."""
    where = flt.where()
    for row in c.iterate(f"{_SELECT}{where.sql()}{_ORDER}", where.params):
        yield SaleRow.from_row(row)


@dataclass(frozen=True)
class SalesTotals:
    count: int
    amount_fen: int
    energy_cwh: int


def totals(c: Conn, flt: SalesFilter) -> SalesTotals:
    where = flt.where()
    joins = " LEFT JOIN vends AS v ON v.id = l.vend_id" if (flt.vend_kind or flt.channel) else ""
    row = c.one(
        "SELECT count(*), coalesce(sum(l.amount_fen), 0), coalesce(sum(l.energy_cwh), 0) "
        f"FROM ledger AS l{joins}{where.sql()}",
        where.params,
    )
    assert row is not None
    return SalesTotals(int(row[0]), int(row[1]), int(row[2]))


@dataclass(frozen=True)
class OperatorTotals:
    operator_id: int | None
    operator_name: str | None
    count: int
    amount_fen: int


def totals_by_operator(c: Conn, since: datetime, until: datetime) -> list[OperatorTotals]:
    """Sales per operator in ``[since, until)`` (the dashboard's "today by operator")."""
    where = SalesFilter(since=since, until=until).where()
    return [
        OperatorTotals(r[0], r[1], int(r[2]), int(r[3]))
        for r in c.all(
            "SELECT l.operator_id, o.name, count(*), sum(l.amount_fen) FROM ledger AS l "
            f"LEFT JOIN operators AS o ON o.id = l.operator_id{where.sql()} "
            "GROUP BY l.operator_id ORDER BY sum(l.amount_fen) DESC",
            where.params,
        )
    ]
