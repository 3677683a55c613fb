"""Meter replacements (F4.1/F4.2) with the compensation carried from the old meter.

The compensation and any purchase are ledger rows (``compensation``, ``sale``) written in the
same transaction; this row ties them to the old and new meter and keeps what the old meter
reported. Append-only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from gateway.store import canonical
from gateway.store.conn import Conn
from gateway.store.errors import InvalidValueError, NotFoundError
from gateway.store.ledger import require_int
from gateway.store.paging import Page, PageRequest, Where, contains_pattern, fetch_page


@dataclass(frozen=True)
class NewReplacement:
    account_id: int
    old_meter_id: int
    new_meter_id: int
    compensation_fen: int = 0
    compensation_cwh: int = 0
    vend_id: int | None = None
    compensation_ledger_id: int | None = None
    sale_ledger_id: int | None = None
    operator_id: int | None = None
    old_meter_state: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_int("compensation_fen", self.compensation_fen)
        require_int("compensation_cwh", self.compensation_cwh)
        if self.compensation_fen < 0 or self.compensation_cwh < 0:
            raise InvalidValueError("compensation must not be negative")
        if self.old_meter_id == self.new_meter_id:
            raise InvalidValueError("the new meter must differ from the old one")


@dataclass(frozen=True)
class Replacement:
    id: int
    account_id: int
    old_meter_id: int
    new_meter_id: int
    vend_id: int | None
    compensation_fen: int
    compensation_cwh: int
    old_meter_state: dict[str, Any]
    compensation_ledger_id: int | None
    sale_ledger_id: int | None
    operator_id: int | None
    created_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Replacement:
        data = {f.name: row[f.name] for f in fields(cls)}
        data["old_meter_state"] = canonical.loads(row["old_meter_state"])
        return cls(**data)


def record(c: Conn, new: NewReplacement) -> Replacement:
    replacement_id = c.insert(
        "INSERT INTO replacements (account_id, old_meter_id, new_meter_id, vend_id, "
        "compensation_fen, compensation_cwh, old_meter_state, compensation_ledger_id, "
        "sale_ledger_id, operator_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            new.account_id,
            new.old_meter_id,
            new.new_meter_id,
            new.vend_id,
            new.compensation_fen,
            new.compensation_cwh,
            canonical.dumps(dict(new.old_meter_state)),
            new.compensation_ledger_id,
            new.sale_ledger_id,
            new.operator_id,
            c.now_text(),
        ),
    )
    return get(c, replacement_id)


def get(c: Conn, replacement_id: int) -> Replacement:
    row = c.one("SELECT * FROM replacements WHERE id = ?", (replacement_id,))
    if row is None:
        raise NotFoundError(f"replacement {replacement_id}")
    return Replacement.from_row(row)


@dataclass(frozen=True)
class ReplacementRow:
    replacement: Replacement
    customer_number: str
    customer_name: str
    old_meter_address: str
    new_meter_address: str
    sale_fen: int | None
    operator_name: str | None


@dataclass(frozen=True)
class ReplacementFilter:
    since: datetime | None = None
    until: datetime | None = None
    customer_number_prefix: str | None = None
    customer_name: str | None = None
    meter_address_prefix: str | None = None  # old or new meter
    operator_id: int | None = None


def query(c: Conn, flt: ReplacementFilter, page: PageRequest) -> Page[ReplacementRow]:
    """F4.2 replacement query, newest first."""
    where = Where()
    where.since_until("x.created_at", flt.since, flt.until)
    if flt.customer_number_prefix:
        where.prefix("cu.number", flt.customer_number_prefix)
    if flt.customer_name:
        where.add("cu.name LIKE ? ESCAPE '\\'", contains_pattern(flt.customer_name))
    if flt.meter_address_prefix:
        end = flt.meter_address_prefix + "\U0010ffff"
        where.add(
            "((mo.address >= ? AND mo.address < ?) OR (mn.address >= ? AND mn.address < ?))",
            flt.meter_address_prefix,
            end,
            flt.meter_address_prefix,
            end,
        )
    if flt.operator_id is not None:
        where.add("x.operator_id = ?", flt.operator_id)
    base = (
        " FROM replacements AS x JOIN accounts AS a ON a.id = x.account_id"
        " JOIN customers AS cu ON cu.id = a.customer_id"
        " JOIN meters AS mo ON mo.id = x.old_meter_id JOIN meters AS mn ON mn.id = x.new_meter_id"
        " LEFT JOIN ledger AS s ON s.id = x.sale_ledger_id"
        " LEFT JOIN operators AS o ON o.id = x.operator_id"
    )

    def build(row: sqlite3.Row) -> ReplacementRow:
        return ReplacementRow(
            Replacement.from_row(row),
            row["customer_number"],
            row["customer_name"],
            row["old_meter_address"],
            row["new_meter_address"],
            row["sale_fen"],
            row["operator_name"],
        )

    return fetch_page(
        c,
        "SELECT x.*, cu.number AS customer_number, cu.name AS customer_name, "
        "mo.address AS old_meter_address, mn.address AS new_meter_address, "
        f"s.amount_fen AS sale_fen, o.name AS operator_name{base}{where.sql()} "
        "ORDER BY x.created_at DESC, x.id DESC",
        f"SELECT count(*){base}{where.sql()}",
        where.params,
        page=page,
        build=build,
    )
