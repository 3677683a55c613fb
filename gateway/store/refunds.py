"""Refund and close records (F3.3): what was read from the meter and how the payout was made.

The payout itself is a ``refund`` ledger row (written first, in the same transaction); this row
keeps the figures behind it for the receipt and the closed-account query. Append-only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from gateway.store import canonical
from gateway.store.conn import Conn
from gateway.store.errors import InvalidValueError, NotFoundError
from gateway.store.ledger import require_int


@dataclass(frozen=True)
class NewRefund:
    account_id: int
    ledger_id: int
    refund_fen: int
    meter_remaining_fen: int = 0
    meter_remaining_cwh: int = 0
    unloaded_fen: int = 0
    overdraft_fen: int = 0
    fee_fen: int = 0
    vend_id: int | None = None
    operator_id: int | None = None
    valuation: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in (
            "refund_fen",
            "meter_remaining_fen",
            "meter_remaining_cwh",
            "unloaded_fen",
            "overdraft_fen",
            "fee_fen",
        ):
            require_int(name, getattr(self, name))
        for name in ("unloaded_fen", "overdraft_fen", "fee_fen"):
            if getattr(self, name) < 0:
                raise InvalidValueError(f"{name} must be >= 0")


@dataclass(frozen=True)
class Refund:
    id: int
    account_id: int
    vend_id: int | None
    ledger_id: int
    meter_remaining_fen: int
    meter_remaining_cwh: int
    unloaded_fen: int
    overdraft_fen: int
    fee_fen: int
    refund_fen: int
    valuation: dict[str, Any]
    operator_id: int | None
    created_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Refund:
        data = {f.name: row[f.name] for f in fields(cls)}
        data["valuation"] = canonical.loads(row["valuation"])
        return cls(**data)


def record(c: Conn, new: NewRefund) -> Refund:
    refund_id = c.insert(
        "INSERT INTO refunds (account_id, vend_id, ledger_id, meter_remaining_fen, "
        "meter_remaining_cwh, unloaded_fen, overdraft_fen, fee_fen, refund_fen, valuation, "
        "operator_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            new.account_id,
            new.vend_id,
            new.ledger_id,
            new.meter_remaining_fen,
            new.meter_remaining_cwh,
            new.unloaded_fen,
            new.overdraft_fen,
            new.fee_fen,
            new.refund_fen,
            canonical.dumps(dict(new.valuation)),
            new.operator_id,
            c.now_text(),
        ),
    )
    return get(c, refund_id)


def get(c: Conn, refund_id: int) -> Refund:
    row = c.one("SELECT * FROM refunds WHERE id = ?", (refund_id,))
    if row is None:
        raise NotFoundError(f"refund {refund_id}")
    return Refund.from_row(row)


def for_account(c: Conn, account_id: int) -> list[Refund]:
    return [
        Refund.from_row(r)
        for r in c.all("SELECT * FROM refunds WHERE account_id = ? ORDER BY id", (account_id,))
    ]
