"""Cards the gateway wrote (F2.2, F2.10): user cards and the tool cards of F7.

Issuing a ``user_reissue`` card marks the account's earlier user cards as superseded (the only
change a card-issue row ever accepts, enforced by a trigger); the card layer refuses a
superseded card at the counter.
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
from gateway.store.errors import InvalidValueError, NotFoundError
from gateway.store.paging import Page, PageRequest, Where, contains_pattern, fetch_page


class CardKind(enum.StrEnum):
    USER_OPEN = "user_open"
    USER_PURCHASE = "user_purchase"
    USER_REISSUE = "user_reissue"
    USER_REPLACEMENT = "user_replacement"
    SETTINGS = "settings"
    QUERY = "query"
    RESET = "reset"
    RELAY = "relay"
    REFUND = "refund"
    METER_CHANGE = "meter_change"
    CLEAR = "clear"


USER_CARD_KINDS = frozenset(
    {CardKind.USER_OPEN, CardKind.USER_PURCHASE, CardKind.USER_REISSUE, CardKind.USER_REPLACEMENT}
)


@dataclass(frozen=True)
class NewCardIssue:
    card_serial: str
    kind: CardKind
    account_id: int | None = None
    vend_id: int | None = None
    operator_id: int | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", CardKind(self.kind))
        if not self.card_serial:
            raise InvalidValueError("card serial must not be empty")
        if self.kind in USER_CARD_KINDS and self.account_id is None:
            raise InvalidValueError("a user card belongs to an account")


@dataclass(frozen=True)
class CardIssue:
    id: int
    card_serial: str
    kind: CardKind
    account_id: int | None
    vend_id: int | None
    replaces_id: int | None
    superseded: bool
    operator_id: int | None
    detail: dict[str, Any]
    created_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> CardIssue:
        return cls(
            id=row["id"],
            card_serial=row["card_serial"],
            kind=CardKind(row["kind"]),
            account_id=row["account_id"],
            vend_id=row["vend_id"],
            replaces_id=row["replaces_id"],
            superseded=bool(row["superseded"]),
            operator_id=row["operator_id"],
            detail=canonical.loads(row["detail"]),
            created_at=row["created_at"],
        )


def current_user_card(c: Conn, account_id: int) -> CardIssue | None:
    row = c.one(
        "SELECT * FROM card_issues WHERE account_id = ? AND superseded = 0 AND kind IN "
        "('user_open', 'user_purchase', 'user_reissue', 'user_replacement') "
        "ORDER BY id DESC LIMIT 1",
        (account_id,),
    )
    return None if row is None else CardIssue.from_row(row)


def record_issue(c: Conn, new: NewCardIssue) -> CardIssue:
    """Record a written card; a reissue supersedes the account's earlier user cards."""
    replaces: int | None = None
    if new.kind is CardKind.USER_REISSUE:
        assert new.account_id is not None
        previous = current_user_card(c, new.account_id)
        replaces = None if previous is None else previous.id
        c.execute(
            "UPDATE card_issues SET superseded = 1 WHERE account_id = ? AND superseded = 0 "
            "AND kind IN ('user_open', 'user_purchase', 'user_reissue', 'user_replacement')",
            (new.account_id,),
        )
    issue_id = c.insert(
        "INSERT INTO card_issues (card_serial, kind, account_id, vend_id, replaces_id, "
        "operator_id, detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            new.card_serial,
            str(new.kind),
            new.account_id,
            new.vend_id,
            replaces,
            new.operator_id,
            canonical.dumps(dict(new.detail)),
            c.now_text(),
        ),
    )
    return get(c, issue_id)


def get(c: Conn, issue_id: int) -> CardIssue:
    row = c.one("SELECT * FROM card_issues WHERE id = ?", (issue_id,))
    if row is None:
        raise NotFoundError(f"card issue {issue_id}")
    return CardIssue.from_row(row)


def by_serial(c: Conn, card_serial: str) -> list[CardIssue]:
    """Everything written to one physical card, newest first."""
    return [
        CardIssue.from_row(r)
        for r in c.all(
            "SELECT * FROM card_issues WHERE card_serial = ? ORDER BY id DESC", (card_serial,)
        )
    ]


@dataclass(frozen=True)
class ReissueRow:
    issue: CardIssue
    customer_number: str
    customer_name: str
    meter_address: str
    replaced_serial: str | None
    operator_name: str | None


@dataclass(frozen=True)
class ReissueFilter:
    since: datetime | None = None
    until: datetime | None = None
    customer_number_prefix: str | None = None
    customer_name: str | None = None
    card_serial: str | None = None


def reissues(c: Conn, flt: ReissueFilter, page: PageRequest) -> Page[ReissueRow]:
    """F2.10 card-reissue query, newest first."""
    where = Where()
    where.add("ci.kind = 'user_reissue'")
    where.since_until("ci.created_at", flt.since, flt.until)
    if flt.customer_number_prefix:
        where.prefix("cu.number", flt.customer_number_prefix)
    if flt.customer_name:
        where.add("cu.name LIKE ? ESCAPE '\\'", contains_pattern(flt.customer_name))
    if flt.card_serial:
        where.add("ci.card_serial = ?", flt.card_serial)
    base = (
        " FROM card_issues AS ci JOIN accounts AS a ON a.id = ci.account_id"
        " JOIN customers AS cu ON cu.id = a.customer_id JOIN meters AS m ON m.id = a.meter_id"
        " LEFT JOIN card_issues AS old ON old.id = ci.replaces_id"
        " LEFT JOIN operators AS o ON o.id = ci.operator_id"
    )

    def build(row: sqlite3.Row) -> ReissueRow:
        return ReissueRow(
            CardIssue.from_row(row),
            row["customer_number"],
            row["customer_name"],
            row["meter_address"],
            row["replaced_serial"],
            row["operator_name"],
        )

    return fetch_page(
        c,
        "SELECT ci.*, cu.number AS customer_number, cu.name AS customer_name, "
        "m.address AS meter_address, old.card_serial AS replaced_serial, "
        f"o.name AS operator_name{base}{where.sql()} ORDER BY ci.created_at DESC, ci.id DESC",
        f"SELECT count(*){base}{where.sql()}",
        where.params,
        page=page,
        build=build,
    )
