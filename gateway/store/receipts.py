"""Receipts (F3.4) with numbers that never repeat, and their print history.

Numbers come from ``sequences('receipt')``, taken inside the transaction that records the sale,
so numbering is gapless and each number belongs to exactly one receipt: a transaction that rolls
back leaves no receipt behind (its number is given to the next one, and was never shown to
anybody, because receipts are printed from committed rows). The sequence survives "clear all"
and can never go backwards (trigger), so a number is never printed twice in the site's life.
A receipt stores the content it was printed with; a reprint is logged in ``receipt_prints``
with ``copy = 1`` and must be marked as a copy on paper.
"""

from __future__ import annotations

import enum
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.store import canonical
from gateway.store.conn import Conn
from gateway.store.errors import NotFoundError
from gateway.store.paging import Page, PageRequest, Where, contains_pattern, fetch_page


class ReceiptKind(enum.StrEnum):
    OPEN = "open"
    SALE = "sale"
    REFUND = "refund"
    REPLACEMENT = "replacement"
    REISSUE = "reissue"
    OTHER = "other"


@dataclass(frozen=True)
class NewReceipt:
    kind: ReceiptKind
    account_id: int | None = None
    vend_id: int | None = None
    ledger_id: int | None = None
    operator_id: int | None = None
    content: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ReceiptKind(self.kind))


@dataclass(frozen=True)
class Receipt:
    number: int
    kind: ReceiptKind
    account_id: int | None
    vend_id: int | None
    ledger_id: int | None
    operator_id: int | None
    content: dict[str, Any]
    created_at: str

    @property
    def id(self) -> int:
        """A receipt is identified by its number (the table's key)."""
        return self.number

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Receipt:
        return cls(
            number=row["number"],
            kind=ReceiptKind(row["kind"]),
            account_id=row["account_id"],
            vend_id=row["vend_id"],
            ledger_id=row["ledger_id"],
            operator_id=row["operator_id"],
            content=canonical.loads(row["content"]),
            created_at=row["created_at"],
        )


@dataclass(frozen=True)
class ReceiptPrint:
    id: int
    receipt_number: int
    printed_at: str
    operator_id: int | None
    copy: bool


def next_number(c: Conn) -> int:
    """Take the next receipt number (inside the caller's transaction)."""
    rows = c.all("UPDATE sequences SET value = value + 1 WHERE name = 'receipt' RETURNING value")
    return int(rows[0][0])


def issue(c: Conn, new: NewReceipt) -> Receipt:
    number = next_number(c)
    content = canonical.dumps(dict(new.content))
    now = c.now_text()
    c.execute(
        "INSERT INTO receipts (number, kind, account_id, vend_id, ledger_id, operator_id, "
        "content, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            number,
            str(new.kind),
            new.account_id,
            new.vend_id,
            new.ledger_id,
            new.operator_id,
            content,
            now,
        ),
    )
    return Receipt(
        number,
        new.kind,
        new.account_id,
        new.vend_id,
        new.ledger_id,
        new.operator_id,
        canonical.loads(content),
        now,
    )


def get(c: Conn, number: int) -> Receipt:
    row = c.one("SELECT * FROM receipts WHERE number = ?", (number,))
    if row is None:
        raise NotFoundError(f"receipt {number}")
    return Receipt.from_row(row)


def by_number(c: Conn, number: int) -> Receipt | None:
    row = c.one("SELECT * FROM receipts WHERE number = ?", (number,))
    return None if row is None else Receipt.from_row(row)


def for_vend(c: Conn, vend_id: int) -> list[Receipt]:
    """Receipts of one vend (found through its account; there is no vend index)."""
    return [
        Receipt.from_row(r)
        for r in c.all(
            "SELECT * FROM receipts WHERE account_id = (SELECT account_id FROM vends WHERE id = ?) "
            "AND vend_id = ? ORDER BY number",
            (vend_id, vend_id),
        )
    ]


def record_print(c: Conn, number: int, *, operator_id: int | None, copy: bool) -> ReceiptPrint:
    """Log a print; ``copy`` is True for every reprint (the paper must say so)."""
    get(c, number)
    now = c.now_text()
    print_id = c.insert(
        "INSERT INTO receipt_prints (receipt_number, printed_at, operator_id, copy) "
        "VALUES (?, ?, ?, ?)",
        (number, now, operator_id, int(copy)),
    )
    return ReceiptPrint(print_id, number, now, operator_id, copy)


def prints(c: Conn, number: int) -> list[ReceiptPrint]:
    return [
        ReceiptPrint(
            r["id"], r["receipt_number"], r["printed_at"], r["operator_id"], bool(r["copy"])
        )
        for r in c.all(
            "SELECT * FROM receipt_prints WHERE receipt_number = ? ORDER BY id", (number,)
        )
    ]


@dataclass(frozen=True)
class ReceiptRow:
    """One line of the F3.4 reprint query."""

    receipt: Receipt
    customer_number: str | None
    customer_name: str | None
    operator_name: str | None
    times_printed: int


@dataclass(frozen=True)
class ReceiptFilter:
    number: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    kind: ReceiptKind | None = None
    account_id: int | None = None
    customer_number_prefix: str | None = None
    customer_name: str | None = None
    operator_id: int | None = None


def query(c: Conn, flt: ReceiptFilter, page: PageRequest) -> Page[ReceiptRow]:
    """F3.4: receipts matching the conditions, newest first."""
    where = Where()
    if flt.number is not None:
        where.add("r.number = ?", flt.number)
    where.since_until("r.created_at", flt.since, flt.until)
    if flt.kind is not None:
        where.add("r.kind = ?", str(ReceiptKind(flt.kind)))
    if flt.account_id is not None:
        where.add("r.account_id = ?", flt.account_id)
    if flt.customer_number_prefix:
        where.prefix("cu.number", flt.customer_number_prefix)
    if flt.customer_name:
        where.add("cu.name LIKE ? ESCAPE '\\'", contains_pattern(flt.customer_name))
    if flt.operator_id is not None:
        where.add("r.operator_id = ?", flt.operator_id)
    base = (
        " FROM receipts AS r LEFT JOIN accounts AS a ON a.id = r.account_id"
        " LEFT JOIN customers AS cu ON cu.id = a.customer_id"
        " LEFT JOIN operators AS o ON o.id = r.operator_id"
    )

    def build(row: sqlite3.Row) -> ReceiptRow:
        return ReceiptRow(
            Receipt.from_row(row),
            row["customer_number"],
            row["customer_name"],
            row["operator_name"],
            row["times_printed"],
        )

    return fetch_page(
        c,
        "SELECT r.*, cu.number AS customer_number, cu.name AS customer_name, "
        "o.name AS operator_name, "
        "(SELECT count(*) FROM receipt_prints AS p WHERE p.receipt_number = r.number) "
        "AS times_printed"
        f"{base}{where.sql()} ORDER BY r.number DESC",
        f"SELECT count(*){base}{where.sql()}",
        where.params,
        page=page,
        build=build,
    )
