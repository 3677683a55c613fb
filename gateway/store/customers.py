"""Customers and their accounts (F2.1, F2.3, F2.4, F2.8, F2.9).

A customer is a person or business (number, name, contact). An account is that customer on one
meter for a period: it opens with the first purchase and closes with a refund or a
deregistration, never to reopen (a returning customer gets a new account). At most one open
account per meter (a unique index). Replacement moves an open account to a new meter. Wallet
model and value kind are copied from the meter type when the account opens.
"""

from __future__ import annotations

import enum
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import datetime

from gateway.store.conn import Conn
from gateway.store.errors import (
    AccountClosedError,
    DuplicateError,
    InvalidValueError,
    MeterHasOpenAccountError,
    NotFoundError,
)
from gateway.store.ledger import require_int
from gateway.store.metertypes import ValueKind, WalletModel
from gateway.store.paging import Page, PageRequest, Where, contains_pattern, fetch_page


class AccountStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class CloseReason(enum.StrEnum):
    REFUND = "refund"  # F3.3 refund and close
    DEREGISTERED = "deregistered"  # F2.4


class EmergencyState(enum.StrEnum):
    NONE = "none"
    ACTIVE = "active"


@dataclass(frozen=True)
class CustomerSpec:
    number: str
    name: str
    phone: str = ""
    address: str = ""
    id_number: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "number", self.number.strip())
        object.__setattr__(self, "name", self.name.strip())
        if not self.number:
            raise InvalidValueError("customer number must not be empty")
        if not self.name:
            raise InvalidValueError("customer name must not be empty")
        if len(self.number) > 32:
            raise InvalidValueError("customer number is longer than 32 characters")


@dataclass(frozen=True)
class Customer:
    id: int
    number: str
    name: str
    phone: str
    address: str
    id_number: str
    note: str
    current_account_id: int | None
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Customer:
        return cls(**{f.name: row[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class AccountLimits:
    """Per-account thresholds in fen; None = the meter type's default."""

    alarm1_fen: int | None = None
    alarm2_fen: int | None = None
    overdraft_limit_fen: int | None = None
    hoarding_limit_fen: int | None = None
    close_allowed_fen: int | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            require_int(f.name, getattr(self, f.name), optional=True)
        for name in ("overdraft_limit_fen", "hoarding_limit_fen"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise InvalidValueError(f"{name} must be >= 0, got {value}")


@dataclass(frozen=True)
class NewAccount:
    customer_id: int
    meter_id: int
    price_type_id: int
    limits: AccountLimits = AccountLimits()
    keep_power: bool = False
    friendly_credit: bool = True


@dataclass(frozen=True)
class Account:
    id: int
    customer_id: int
    meter_id: int
    price_type_id: int
    wallet_model: WalletModel
    value_kind: ValueKind
    status: AccountStatus
    opened_at: str
    closed_at: str | None
    close_reason: CloseReason | None
    limits: AccountLimits
    keep_power: bool
    friendly_credit: bool
    emergency_state: EmergencyState
    updated_at: str

    @property
    def is_open(self) -> bool:
        return self.status is AccountStatus.OPEN

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Account:
        return cls(
            id=row["id"],
            customer_id=row["customer_id"],
            meter_id=row["meter_id"],
            price_type_id=row["price_type_id"],
            wallet_model=WalletModel(row["wallet_model"]),
            value_kind=ValueKind(row["value_kind"]),
            status=AccountStatus(row["status"]),
            opened_at=row["opened_at"],
            closed_at=row["closed_at"],
            close_reason=None if row["close_reason"] is None else CloseReason(row["close_reason"]),
            limits=AccountLimits(
                alarm1_fen=row["alarm1_fen"],
                alarm2_fen=row["alarm2_fen"],
                overdraft_limit_fen=row["overdraft_limit_fen"],
                hoarding_limit_fen=row["hoarding_limit_fen"],
                close_allowed_fen=row["close_allowed_fen"],
            ),
            keep_power=bool(row["keep_power"]),
            friendly_credit=bool(row["friendly_credit"]),
            emergency_state=EmergencyState(row["emergency_state"]),
            updated_at=row["updated_at"],
        )


# ---- customers ---------------------------------------------------------------------------


def create_customer(c: Conn, spec: CustomerSpec) -> Customer:
    """F2.1 "save customer". A number already in use is E305."""
    now = c.now_text()
    try:
        customer_id = c.insert(
            "INSERT INTO customers (number, name, phone, address, id_number, note, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (spec.number, spec.name, spec.phone, spec.address, spec.id_number, spec.note, now, now),
        )
    except DuplicateError:
        raise DuplicateError(f"customer number {spec.number} is already in use") from None
    return get_customer(c, customer_id)


def update_customer(c: Conn, customer_id: int, spec: CustomerSpec) -> Customer:
    """F2.3 "maintain customer"."""
    try:
        changed = c.execute(
            "UPDATE customers SET number = ?, name = ?, phone = ?, address = ?, id_number = ?, "
            "note = ?, updated_at = ? WHERE id = ?",
            (
                spec.number,
                spec.name,
                spec.phone,
                spec.address,
                spec.id_number,
                spec.note,
                c.now_text(),
                customer_id,
            ),
        )
    except DuplicateError:
        raise DuplicateError(f"customer number {spec.number} is already in use") from None
    if not changed:
        raise NotFoundError(f"customer {customer_id}")
    return get_customer(c, customer_id)


def get_customer(c: Conn, customer_id: int) -> Customer:
    row = c.one("SELECT * FROM customers WHERE id = ?", (customer_id,))
    if row is None:
        raise NotFoundError(f"customer {customer_id}")
    return Customer.from_row(row)


def customer_by_number(c: Conn, number: str) -> Customer | None:
    row = c.one("SELECT * FROM customers WHERE number = ?", (number.strip(),))
    return None if row is None else Customer.from_row(row)


def delete_customer(c: Conn, customer_id: int) -> None:
    """Only a customer who never had an account (else E306: deregister instead)."""
    if not c.execute("DELETE FROM customers WHERE id = ?", (customer_id,)):
        raise NotFoundError(f"customer {customer_id}")


# ---- accounts ----------------------------------------------------------------------------


def open_account(c: Conn, new: NewAccount) -> Account:
    """F2.1: a new open account; the meter must not belong to another open account (E311)."""
    get_customer(c, new.customer_id)
    meter = c.one(
        "SELECT t.wallet_model, t.value_kind FROM meters AS m "
        "JOIN meter_types AS t ON t.id = m.type_id WHERE m.id = ?",
        (new.meter_id,),
    )
    if meter is None:
        raise NotFoundError(f"meter {new.meter_id}")
    holder = open_account_for_meter(c, new.meter_id)
    if holder is not None:
        raise MeterHasOpenAccountError(f"meter {new.meter_id} belongs to open account {holder.id}")
    archived = c.scalar("SELECT archived FROM price_types WHERE id = ?", (new.price_type_id,))
    if archived is None:
        raise NotFoundError(f"price type {new.price_type_id}")
    if archived:
        raise InvalidValueError(f"price type {new.price_type_id} is archived")
    now = c.now_text()
    lim = new.limits
    account_id = c.insert(
        "INSERT INTO accounts (customer_id, meter_id, price_type_id, wallet_model, value_kind, "
        "status, opened_at, alarm1_fen, alarm2_fen, overdraft_limit_fen, hoarding_limit_fen, "
        "close_allowed_fen, keep_power, friendly_credit, updated_at) "
        "VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            new.customer_id,
            new.meter_id,
            new.price_type_id,
            meter["wallet_model"],
            meter["value_kind"],
            now,
            lim.alarm1_fen,
            lim.alarm2_fen,
            lim.overdraft_limit_fen,
            lim.hoarding_limit_fen,
            lim.close_allowed_fen,
            int(new.keep_power),
            int(new.friendly_credit),
            now,
        ),
    )
    c.execute(
        "UPDATE customers SET current_account_id = ?, updated_at = ? WHERE id = ?",
        (account_id, now, new.customer_id),
    )
    return get_account(c, account_id)


def close_account(c: Conn, account_id: int, reason: CloseReason) -> Account:
    """F3.3 (reason refund) or F2.4 (reason deregistered). Closing twice is E312."""
    account = get_account(c, account_id)
    if not account.is_open:
        raise AccountClosedError(f"account {account_id} was closed at {account.closed_at}")
    now = c.now_text()
    c.execute(
        "UPDATE accounts SET status = 'closed', closed_at = ?, close_reason = ?, updated_at = ? "
        "WHERE id = ?",
        (now, str(CloseReason(reason)), now, account_id),
    )
    return get_account(c, account_id)


def move_to_meter(c: Conn, account_id: int, new_meter_id: int) -> Account:
    """F4.1: the open account now lives on ``new_meter_id`` (free of other open accounts)."""
    account = get_account(c, account_id)
    if not account.is_open:
        raise AccountClosedError(f"account {account_id} is closed")
    if account.meter_id == new_meter_id:
        raise InvalidValueError("the new meter is the account's current meter")
    if c.scalar("SELECT 1 FROM meters WHERE id = ?", (new_meter_id,)) is None:
        raise NotFoundError(f"meter {new_meter_id}")
    holder = open_account_for_meter(c, new_meter_id)
    if holder is not None:
        raise MeterHasOpenAccountError(f"meter {new_meter_id} belongs to open account {holder.id}")
    c.execute(
        "UPDATE accounts SET meter_id = ?, updated_at = ? WHERE id = ?",
        (new_meter_id, c.now_text(), account_id),
    )
    return get_account(c, account_id)


def update_account(
    c: Conn,
    account_id: int,
    *,
    price_type_id: int | None = None,
    limits: AccountLimits | None = None,
    keep_power: bool | None = None,
    friendly_credit: bool | None = None,
    emergency_state: EmergencyState | None = None,
) -> Account:
    """Change an open account's settings; arguments left as None stay as they are."""
    account = get_account(c, account_id)
    if not account.is_open:
        raise AccountClosedError(f"account {account_id} is closed")
    if price_type_id is not None and price_type_id != account.price_type_id:
        archived = c.scalar("SELECT archived FROM price_types WHERE id = ?", (price_type_id,))
        if archived is None:
            raise NotFoundError(f"price type {price_type_id}")
        if archived:
            raise InvalidValueError(f"price type {price_type_id} is archived")
    lim = limits or account.limits
    c.execute(
        "UPDATE accounts SET price_type_id = ?, alarm1_fen = ?, alarm2_fen = ?, "
        "overdraft_limit_fen = ?, hoarding_limit_fen = ?, close_allowed_fen = ?, keep_power = ?, "
        "friendly_credit = ?, emergency_state = ?, updated_at = ? WHERE id = ?",
        (
            account.price_type_id if price_type_id is None else price_type_id,
            lim.alarm1_fen,
            lim.alarm2_fen,
            lim.overdraft_limit_fen,
            lim.hoarding_limit_fen,
            lim.close_allowed_fen,
            int(account.keep_power if keep_power is None else keep_power),
            int(account.friendly_credit if friendly_credit is None else friendly_credit),
            str(account.emergency_state if emergency_state is None else emergency_state),
            c.now_text(),
            account_id,
        ),
    )
    return get_account(c, account_id)


def get_account(c: Conn, account_id: int) -> Account:
    row = c.one("SELECT * FROM accounts WHERE id = ?", (account_id,))
    if row is None:
        raise NotFoundError(f"account {account_id}")
    return Account.from_row(row)


def open_account_for_meter(c: Conn, meter_id: int) -> Account | None:
    row = c.one("SELECT * FROM accounts WHERE meter_id = ? AND status = 'open'", (meter_id,))
    return None if row is None else Account.from_row(row)


def accounts_of(c: Conn, customer_id: int) -> list[Account]:
    return [
        Account.from_row(r)
        for r in c.all("SELECT * FROM accounts WHERE customer_id = ? ORDER BY id", (customer_id,))
    ]


def open_accounts(c: Conn, wallet_model: WalletModel | None = None) -> list[Account]:
    """Every open account (the poller's gateway-wallet enforcement walks these)."""
    if wallet_model is None:
        rows = c.all("SELECT * FROM accounts WHERE status = 'open' ORDER BY id")
    else:
        rows = c.all(
            "SELECT * FROM accounts WHERE status = 'open' AND wallet_model = ? ORDER BY id",
            (str(WalletModel(wallet_model)),),
        )
    return [Account.from_row(r) for r in rows]


# ---- queries (F2.8, F2.9) ------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerRow:
    """One line of the customer list: the customer with their current account and totals."""

    customer_id: int
    number: str
    name: str
    phone: str
    address: str
    id_number: str
    account_id: int | None
    account_status: AccountStatus | None
    opened_at: str | None
    closed_at: str | None
    meter_id: int | None
    meter_address: str | None
    meter_number: str | None
    box_name: str | None
    line_id: int | None
    line_name: str | None
    price_type_name: str | None
    wallet_model: WalletModel | None
    value_kind: ValueKind | None
    balance_fen: int
    energy_cwh: int
    purchased_fen: int
    purchased_cwh: int
    purchases: int
    remainder_fen: int

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> CustomerRow:
        return cls(
            customer_id=row["customer_id"],
            number=row["number"],
            name=row["name"],
            phone=row["phone"],
            address=row["address"],
            id_number=row["id_number"],
            account_id=row["account_id"],
            account_status=None if row["status"] is None else AccountStatus(row["status"]),
            opened_at=row["opened_at"],
            closed_at=row["closed_at"],
            meter_id=row["meter_id"],
            meter_address=row["meter_address"],
            meter_number=row["meter_number"],
            box_name=row["box_name"],
            line_id=row["line_id"],
            line_name=row["line_name"],
            price_type_name=row["price_type_name"],
            wallet_model=None if row["wallet_model"] is None else WalletModel(row["wallet_model"]),
            value_kind=None if row["value_kind"] is None else ValueKind(row["value_kind"]),
            balance_fen=row["balance_fen"],
            energy_cwh=row["energy_cwh"],
            purchased_fen=row["purchased_fen"],
            purchased_cwh=row["purchased_cwh"],
            purchases=row["purchases"],
            remainder_fen=row["remainder_fen"],
        )


@dataclass(frozen=True)
class CustomerFilter:
    """F2.8 conditions; all optional, combined with AND."""

    number_prefix: str | None = None
    name: str | None = None  # contained anywhere
    phone_prefix: str | None = None
    meter: str | None = None  # address prefix or exact meter number
    line_id: int | None = None
    box_id: int | None = None
    status: AccountStatus | None = None
    without_account: bool = False
    wallet_model: WalletModel | None = None
    balance_below_fen: int | None = None  # low-balance list on the dashboard


# The optional joins, each with the alias it needs first. A page picks its customer ids through
# only the joins its conditions use, so ordering, OFFSET and COUNT run over a few indexes
# instead of the seven-table row (a full join for 10,000 customers cost more than the page).
_JOINS = (
    ("a", "", " LEFT JOIN accounts AS a ON a.id = cu.current_account_id"),
    ("m", "a", " LEFT JOIN meters AS m ON m.id = a.meter_id"),
    ("b", "m", " LEFT JOIN boxes AS b ON b.id = m.box_id"),
    ("l", "b", " LEFT JOIN lines AS l ON l.id = b.line_id"),
    ("p", "a", " LEFT JOIN price_types AS p ON p.id = a.price_type_id"),
    ("ab", "a", " LEFT JOIN account_balances AS ab ON ab.account_id = a.id"),
)
_CUSTOMER_FROM = " FROM customers AS cu" + "".join(join for _, _, join in _JOINS)
_CUSTOMER_COLUMNS = (
    "SELECT cu.id AS customer_id, cu.number, cu.name, cu.phone, cu.address, cu.id_number, "
    "a.id AS account_id, a.status, a.opened_at, a.closed_at, a.meter_id, "
    "m.address AS meter_address, m.meter_number, b.name AS box_name, l.id AS line_id, "
    "l.name AS line_name, p.name AS price_type_name, a.wallet_model, a.value_kind, "
    "coalesce(ab.balance_fen, 0) AS balance_fen, coalesce(ab.energy_cwh, 0) AS energy_cwh, "
    "coalesce(ab.purchased_fen, 0) AS purchased_fen, "
    "coalesce(ab.purchased_cwh, 0) AS purchased_cwh, coalesce(ab.purchases, 0) AS purchases, "
    "coalesce(ab.remainder_fen, 0) AS remainder_fen"
)
_CUSTOMER_SELECT = _CUSTOMER_COLUMNS + _CUSTOMER_FROM


def _joins_for(conditions: str) -> str:
    """The joins the conditions refer to (with the ones those depend on), in join order."""
    needed = {alias for alias, _, _ in _JOINS if re.search(rf"\b{alias}\.", conditions)}
    for alias, before, _ in reversed(_JOINS):
        if alias in needed and before:
            needed.add(before)
    return "".join(join for alias, _, join in _JOINS if alias in needed)


def _customer_where(flt: CustomerFilter) -> Where:
    where = Where()
    if flt.number_prefix:
        where.prefix("cu.number", flt.number_prefix.strip())
    if flt.name:
        where.add("cu.name LIKE ? ESCAPE '\\'", contains_pattern(flt.name.strip()))
    if flt.phone_prefix:
        where.prefix("cu.phone", flt.phone_prefix.strip())
    if flt.meter:
        text = flt.meter.strip()
        where.add(
            "((m.address >= ? AND m.address < ?) OR m.meter_number = ?)",
            text,
            text + "\U0010ffff",
            text,
        )
    if flt.line_id is not None:
        where.add("b.line_id = ?", flt.line_id)
    if flt.box_id is not None:
        where.add("m.box_id = ?", flt.box_id)
    if flt.status is not None:
        # "+": not through the accounts_closed index, which drives the join from 9,800 open
        # accounts and sorts them all by number; walking customers in number order stops early
        where.add("+a.status = ?", str(AccountStatus(flt.status)))
    if flt.without_account:
        where.add("cu.current_account_id IS NULL")
    if flt.wallet_model is not None:
        where.add("a.wallet_model = ?", str(WalletModel(flt.wallet_model)))
    if flt.balance_below_fen is not None:
        where.add("a.status = 'open' AND coalesce(ab.balance_fen, 0) < ?", flt.balance_below_fen)
    return where


def search(c: Conn, flt: CustomerFilter, page: PageRequest) -> Page[CustomerRow]:
    """F2.8 customer query, ordered by customer number."""
    where = _customer_where(flt)
    conditions = where.sql()
    picked = f" FROM customers AS cu{_joins_for(conditions)}{conditions}"
    rows = c.all(
        f"WITH pick AS (SELECT cu.id, cu.number{picked} ORDER BY cu.number LIMIT ? OFFSET ?)"
        f" {_CUSTOMER_COLUMNS} FROM pick JOIN customers AS cu ON cu.id = pick.id"
        f"{''.join(join for _, _, join in _JOINS)} ORDER BY pick.number",
        [*where.params, page.limit + 1, page.offset],
    )
    total = int(c.scalar(f"SELECT count(*){picked}", where.params)) if page.with_total else None
    items = tuple(CustomerRow.from_row(row) for row in rows[: page.limit])
    return Page(items, page.offset, page.limit, len(rows) > page.limit, total)


def iterate(c: Conn, flt: CustomerFilter) -> Iterator[CustomerRow]:
    """Every matching row, streamed (exports)."""
    where = _customer_where(flt)
    for row in c.iterate(f"{_CUSTOMER_SELECT}{where.sql()} ORDER BY cu.number", where.params):
        yield CustomerRow.from_row(row)


@dataclass(frozen=True)
class ClosedAccountRow:
    account_id: int
    customer_id: int
    number: str
    name: str
    phone: str
    meter_address: str
    opened_at: str
    closed_at: str
    close_reason: CloseReason
    purchased_fen: int
    purchased_cwh: int
    refund_fen: int | None
    refund_operator: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ClosedAccountRow:
        return cls(
            account_id=row["account_id"],
            customer_id=row["customer_id"],
            number=row["number"],
            name=row["name"],
            phone=row["phone"],
            meter_address=row["meter_address"],
            opened_at=row["opened_at"],
            closed_at=row["closed_at"],
            close_reason=CloseReason(row["close_reason"]),
            purchased_fen=row["purchased_fen"],
            purchased_cwh=row["purchased_cwh"],
            refund_fen=row["refund_fen"],
            refund_operator=row["refund_operator"],
        )


@dataclass(frozen=True)
class ClosedFilter:
    """F2.9 conditions on closed accounts (``since <= closed_at < until``)."""

    since: datetime | None = None
    until: datetime | None = None
    number_prefix: str | None = None
    name: str | None = None
    reason: CloseReason | None = None


def closed_accounts(c: Conn, flt: ClosedFilter, page: PageRequest) -> Page[ClosedAccountRow]:
    """F2.9 closed-account query, newest closure first."""
    where = Where()
    where.add("a.status = 'closed'")
    where.since_until("a.closed_at", flt.since, flt.until)
    if flt.number_prefix:
        where.prefix("cu.number", flt.number_prefix.strip())
    if flt.name:
        where.add("cu.name LIKE ? ESCAPE '\\'", contains_pattern(flt.name.strip()))
    if flt.reason is not None:
        where.add("a.close_reason = ?", str(CloseReason(flt.reason)))
    base = (
        " FROM accounts AS a JOIN customers AS cu ON cu.id = a.customer_id"
        " JOIN meters AS m ON m.id = a.meter_id"
        " LEFT JOIN account_balances AS ab ON ab.account_id = a.id"
        " LEFT JOIN refunds AS r ON r.id = (SELECT max(id) FROM refunds WHERE account_id = a.id)"
        " LEFT JOIN operators AS o ON o.id = r.operator_id"
    )
    return fetch_page(
        c,
        "SELECT a.id AS account_id, cu.id AS customer_id, cu.number, cu.name, cu.phone, "
        "m.address AS meter_address, a.opened_at, a.closed_at, a.close_reason, "
        "coalesce(ab.purchased_fen, 0) AS purchased_fen, "
        "coalesce(ab.purchased_cwh, 0) AS purchased_cwh, r.refund_fen, "
        f"o.name AS refund_operator{base}{where.sql()} ORDER BY a.closed_at DESC, a.id DESC",
        f"SELECT count(*){base}{where.sql()}",
        where.params,
        page=page,
        build=ClosedAccountRow.from_row,
    )
