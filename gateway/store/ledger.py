"""The ledger: every movement of value as an append-only, hash-chained row.

Sign convention: ``amount_fen`` and ``energy_cwh`` are the change of the value held for the
customer (+ credited: sale, compensation, emergency credit; - debited: refund paid out,
consumption, fee, recoveries). A correction is a new row (``reversal`` or ``adjustment``) whose
``refers_to`` names the row it corrects. Per-account totals (``account_balances``) are kept by a
trigger on insert and re-derived from the rows by ``db check``.

The chain: ``hash = sha256(prev_hash + '\\n' + canonical JSON of the row)``; ids are contiguous
(the insert trigger demands ``id = head + 1`` and ``prev_hash = head hash``), so an edited row
fails its hash, a removed row breaks the link after it, and a removed newest row no longer
matches the head kept in ``chain_heads``.
"""

from __future__ import annotations

import enum
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.store import canonical
from gateway.store.conn import Conn
from gateway.store.errors import InvalidValueError, NotFoundError


class LedgerKind(enum.StrEnum):
    SALE = "sale"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"
    REVERSAL = "reversal"
    FEE = "fee"
    CONSUMPTION_DEBIT = "consumption_debit"
    COMPENSATION = "compensation"
    EMERGENCY_CREDIT = "emergency_credit"
    EMERGENCY_RECOVERY = "emergency_recovery"
    FRIENDLY_DEBT = "friendly_debt"
    FRIENDLY_RECOVERY = "friendly_recovery"
    OPENING_BALANCE = "opening_balance"


# Kinds whose amount may not be positive / negative (mirrors the table's CHECKs, for a clear
# error before SQLite's).
_NOT_POSITIVE = {
    LedgerKind.REFUND,
    LedgerKind.FEE,
    LedgerKind.CONSUMPTION_DEBIT,
    LedgerKind.EMERGENCY_RECOVERY,
    LedgerKind.FRIENDLY_RECOVERY,
}
_NOT_NEGATIVE = {LedgerKind.COMPENSATION, LedgerKind.EMERGENCY_CREDIT}
_NEEDS_TARIFF = {LedgerKind.SALE, LedgerKind.CONSUMPTION_DEBIT}


def require_int(name: str, value: object, *, optional: bool = False) -> None:
    """Money and energy are ints; bool is an int in Python but never an amount."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValueError(f"{name} must be an integer, got {value!r}")


@dataclass(frozen=True)
class NewEntry:
    """One movement of value. ``tariff_snapshot`` defaults to the version's stored tariff."""

    account_id: int
    kind: LedgerKind
    amount_fen: int
    energy_cwh: int = 0
    meter_id: int | None = None
    remainder_fen: int | None = None
    tariff_version_id: int | None = None
    tariff_snapshot: Mapping[str, Any] | None = None
    vend_id: int | None = None
    refers_to: int | None = None
    operator_id: int | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        kind = LedgerKind(self.kind)
        object.__setattr__(self, "kind", kind)
        require_int("amount_fen", self.amount_fen)
        require_int("energy_cwh", self.energy_cwh)
        require_int("remainder_fen", self.remainder_fen, optional=True)
        if self.remainder_fen is not None and self.remainder_fen < 0:
            raise InvalidValueError(f"remainder_fen must be >= 0, got {self.remainder_fen}")
        if kind is LedgerKind.SALE and self.amount_fen <= 0:
            raise InvalidValueError(f"a sale must be a positive amount, got {self.amount_fen} fen")
        if kind in _NOT_POSITIVE and self.amount_fen > 0:
            raise InvalidValueError(f"{kind} must not be positive, got {self.amount_fen} fen")
        if kind in _NOT_NEGATIVE and self.amount_fen < 0:
            raise InvalidValueError(f"{kind} must not be negative, got {self.amount_fen} fen")
        if kind in _NEEDS_TARIFF and self.tariff_version_id is None:
            raise InvalidValueError(f"{kind} must record the tariff version it was priced with")
        if kind is LedgerKind.REVERSAL and self.refers_to is None:
            raise InvalidValueError("a reversal must name the row it reverses (refers_to)")
        if self.tariff_snapshot is not None and self.tariff_version_id is None:
            raise InvalidValueError("a tariff snapshot needs its tariff_version_id")


@dataclass(frozen=True)
class Entry:
    id: int
    created_at: str
    account_id: int
    meter_id: int | None
    kind: LedgerKind
    amount_fen: int
    energy_cwh: int
    remainder_fen: int | None
    tariff_version_id: int | None
    tariff_snapshot: dict[str, Any] | None
    vend_id: int | None
    refers_to: int | None
    operator_id: int | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Entry:
        snapshot = row["tariff_snapshot"]
        return cls(
            id=row["id"],
            created_at=row["created_at"],
            account_id=row["account_id"],
            meter_id=row["meter_id"],
            kind=LedgerKind(row["kind"]),
            amount_fen=row["amount_fen"],
            energy_cwh=row["energy_cwh"],
            remainder_fen=row["remainder_fen"],
            tariff_version_id=row["tariff_version_id"],
            tariff_snapshot=None if snapshot is None else canonical.loads(snapshot),
            vend_id=row["vend_id"],
            refers_to=row["refers_to"],
            operator_id=row["operator_id"],
            detail=canonical.loads(row["detail"]),
            prev_hash=row["prev_hash"],
            hash=row["hash"],
        )


@dataclass(frozen=True)
class Balance:
    """Derived totals of one account (all zero before its first ledger row)."""

    account_id: int
    balance_fen: int = 0
    energy_cwh: int = 0
    purchased_fen: int = 0
    purchased_cwh: int = 0
    purchases: int = 0
    remainder_fen: int = 0
    entries: int = 0
    last_entry_id: int | None = None


_COLUMNS = (
    "id, created_at, account_id, meter_id, kind, amount_fen, energy_cwh, remainder_fen, "
    "tariff_version_id, tariff_snapshot, vend_id, refers_to, operator_id, detail, prev_hash, hash"
)


def _payload(row: Any) -> dict[str, Any]:
    """The hashed fields of a row (a dict or an sqlite3.Row); JSON columns as stored text."""
    return {
        "id": row["id"],
        "created_at": row["created_at"],
        "account_id": row["account_id"],
        "meter_id": row["meter_id"],
        "kind": str(row["kind"]),
        "amount_fen": row["amount_fen"],
        "energy_cwh": row["energy_cwh"],
        "remainder_fen": row["remainder_fen"],
        "tariff_version_id": row["tariff_version_id"],
        "tariff_snapshot": row["tariff_snapshot"],
        "vend_id": row["vend_id"],
        "refers_to": row["refers_to"],
        "operator_id": row["operator_id"],
        "detail": row["detail"],
    }


def append(c: Conn, new: NewEntry) -> Entry:
    """Append one row in the caller's transaction and return it."""
    head = c.one(
        "SELECT last_id, last_hash, (SELECT tariff FROM price_versions WHERE id = ?) AS tariff "
        "FROM chain_heads WHERE name = 'ledger'",
        (new.tariff_version_id,),
    )
    assert head is not None
    snapshot: str | None = None
    if new.tariff_version_id is not None:
        if head["tariff"] is None:
            raise InvalidValueError(f"tariff version {new.tariff_version_id} does not exist")
        # The stored version text is canonical already (tariffs.add_version wrote it).
        snapshot = (
            str(head["tariff"])
            if new.tariff_snapshot is None
            else canonical.dumps(dict(new.tariff_snapshot))
        )
    row: dict[str, Any] = {
        "id": head["last_id"] + 1,
        "created_at": c.now_text(),
        "account_id": new.account_id,
        "meter_id": new.meter_id,
        "kind": str(new.kind),
        "amount_fen": new.amount_fen,
        "energy_cwh": new.energy_cwh,
        "remainder_fen": new.remainder_fen,
        "tariff_version_id": new.tariff_version_id,
        "tariff_snapshot": snapshot,
        "vend_id": new.vend_id,
        "refers_to": new.refers_to,
        "operator_id": new.operator_id,
        "detail": canonical.dumps(dict(new.detail)),
    }
    row["prev_hash"] = str(head["last_hash"])
    row["hash"] = canonical.link(row["prev_hash"], _payload(row))
    c.execute(
        f"INSERT INTO ledger ({_COLUMNS}) VALUES (:id, :created_at, :account_id, :meter_id, "
        ":kind, :amount_fen, :energy_cwh, :remainder_fen, :tariff_version_id, :tariff_snapshot, "
        ":vend_id, :refers_to, :operator_id, :detail, :prev_hash, :hash)",
        row,
    )
    return Entry(
        id=row["id"],
        created_at=row["created_at"],
        account_id=new.account_id,
        meter_id=new.meter_id,
        kind=new.kind,
        amount_fen=new.amount_fen,
        energy_cwh=new.energy_cwh,
        remainder_fen=new.remainder_fen,
        tariff_version_id=new.tariff_version_id,
        tariff_snapshot=None if snapshot is None else canonical.loads(snapshot),
        vend_id=new.vend_id,
        refers_to=new.refers_to,
        operator_id=new.operator_id,
        detail=canonical.loads(row["detail"]),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


def get(c: Conn, entry_id: int) -> Entry:
    row = c.one(f"SELECT {_COLUMNS} FROM ledger WHERE id = ?", (entry_id,))
    if row is None:
        raise NotFoundError(f"ledger row {entry_id}")
    return Entry.from_row(row)


def for_account(c: Conn, account_id: int, *, after_id: int = 0) -> list[Entry]:
    """The account's rows in order (refund valuation walks these first-in first-out)."""
    return [
        Entry.from_row(r)
        for r in c.all(
            f"SELECT {_COLUMNS} FROM ledger WHERE account_id = ? AND id > ? ORDER BY id",
            (account_id, after_id),
        )
    ]


def for_meter(c: Conn, meter_id: int, *, after_id: int = 0) -> list[Entry]:
    """Rows whose value went to one meter (reconciliation of its registers)."""
    accounts = (
        "SELECT id FROM accounts WHERE meter_id = :m UNION SELECT account_id FROM replacements "
        "WHERE old_meter_id = :m OR new_meter_id = :m"
    )
    return [
        Entry.from_row(r)
        for r in c.all(
            f"SELECT {_COLUMNS} FROM ledger WHERE account_id IN ({accounts}) "
            "AND meter_id = :m AND id > :after ORDER BY id",
            {"m": meter_id, "after": after_id},
        )
    ]


def balance(c: Conn, account_id: int) -> Balance:
    row = c.one(
        "SELECT account_id, balance_fen, energy_cwh, purchased_fen, purchased_cwh, purchases, "
        "remainder_fen, entries, last_entry_id FROM account_balances WHERE account_id = ?",
        (account_id,),
    )
    if row is None:
        return Balance(account_id)
    return Balance(**{key: row[key] for key in row.keys()})  # noqa: SIM118 (sqlite3.Row)


def verify_chain(c: Conn) -> list[str]:
    """Recompute every link; name the first rows where the chain breaks."""
    problems: list[str] = []
    head = c.one(
        "SELECT base_id, base_hash, last_id, last_hash FROM chain_heads WHERE name = 'ledger'"
    )
    if head is None:
        return ["ledger chain head is missing"]
    prev, covered = str(head["base_hash"]), int(head["base_id"])
    if c.scalar("SELECT count(*) FROM ledger WHERE id <= ?", (covered,)):
        problems.append(f"ledger holds rows at or before the chain base {covered}")
    for row in c.iterate(f"SELECT {_COLUMNS} FROM ledger WHERE id > ? ORDER BY id", (covered,)):
        row_id = int(row["id"])
        if row_id != covered + 1 or row["prev_hash"] != prev:
            problems.append(
                f"ledger row {row_id}: chain broken (rows {covered + 1}..{row_id - 1} removed, "
                f"or an earlier row altered)"
            )
        if canonical.link(str(row["prev_hash"]), _payload(row)) != row["hash"]:
            problems.append(f"ledger row {row_id} was altered after it was written")
        prev, covered = str(row["hash"]), row_id
        if len(problems) > 50:
            problems.append("ledger: more problems not listed")
            return problems
    if covered != head["last_id"] or prev != head["last_hash"]:
        problems.append(
            f"ledger ends at row {covered} but its head says {head['last_id']}: "
            f"the newest rows were removed or altered"
        )
    return problems


def verify_balances(c: Conn) -> list[str]:
    """Compare the trigger-kept totals with totals derived from the rows."""
    fields = (
        "balance_fen",
        "energy_cwh",
        "purchased_fen",
        "purchased_cwh",
        "purchases",
        "remainder_fen",
        "entries",
        "last_entry_id",
    )
    kept = {
        int(row["account_id"]): row
        for row in c.all(f"SELECT account_id, {', '.join(fields)} FROM account_balances")
    }
    derived = c.iterate(
        "SELECT account_id, sum(amount_fen) AS balance_fen, sum(energy_cwh) AS energy_cwh, "
        "sum(CASE WHEN kind = 'sale' THEN amount_fen ELSE 0 END) AS purchased_fen, "
        "sum(CASE WHEN kind = 'sale' THEN energy_cwh ELSE 0 END) AS purchased_cwh, "
        "sum(kind = 'sale') AS purchases, count(*) AS entries, max(id) AS last_entry_id, "
        "coalesce((SELECT r.remainder_fen FROM ledger AS r WHERE r.account_id = l.account_id "
        "AND r.remainder_fen IS NOT NULL ORDER BY r.id DESC LIMIT 1), 0) AS remainder_fen "
        "FROM ledger AS l GROUP BY account_id"
    )
    problems: list[str] = []
    for row in derived:
        account = int(row["account_id"])
        mine = kept.pop(account, None)
        if mine is None:
            problems.append(f"account {account}: has ledger rows but no derived balance")
            continue
        wrong = [f for f in fields if row[f] != mine[f]]
        if wrong:
            problems.append(
                f"account {account}: derived balance differs from the ledger in "
                + ", ".join(f"{f} (kept {mine[f]}, ledger {row[f]})" for f in wrong)
            )
    for account in sorted(kept):
        problems.append(f"account {account}: has a derived balance but no ledger rows")
    return problems[:50]


def iterate_all(c: Conn) -> Iterator[Entry]:
    for row in c.iterate(f"SELECT {_COLUMNS} FROM ledger ORDER BY id"):
        yield Entry.from_row(row)
