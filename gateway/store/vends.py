"""Vends: the persisted exactly-once state machine (DESIGN invariant 3).

A vend row is committed *before* any byte goes to a meter or a card::

    pending --> sent --> confirmed
       |          |----> failed
       |          '----> uncertain --> confirmed | failed | sent (resend after reading the count)
       '--> failed

The allowed transitions are enforced by a trigger as well as here; every state change is also
appended to ``vend_events`` by a trigger. What a vend asked for (kind, channel, account, meter,
amounts, counts, request) can never change after creation. An idempotency key (web form nonce,
MQTT command id) that repeats returns the first vend; the same key with a different request is
an error (E308).
"""

from __future__ import annotations

import enum
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack

from gateway.store import canonical
from gateway.store.conn import Conn
from gateway.store.errors import (
    IdempotencyConflictError,
    IllegalVendTransitionError,
    InvalidValueError,
    NotFoundError,
)
from gateway.store.ledger import require_int


class VendState(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    UNCERTAIN = "uncertain"


class VendKind(enum.StrEnum):
    OPEN = "open"
    DAILY = "daily"
    REPLACEMENT = "replacement"
    REFUND = "refund"
    RESET = "reset"
    RECLOSE = "reclose"  # gateway wallet: the relay reclose after a purchase, exactly once
    EMERGENCY = "emergency"
    CARD_REISSUE = "card_reissue"
    CARD_REFUND = "card_refund"
    CARD_METER_CHANGE = "card_meter_change"


class VendChannel(enum.StrEnum):
    COMM = "comm"
    CARD = "card"
    GATEWAY_WALLET = "gateway_wallet"
    CLOUD = "cloud"


TRANSITIONS: Mapping[VendState, frozenset[VendState]] = {
    VendState.PENDING: frozenset({VendState.SENT, VendState.FAILED}),
    VendState.SENT: frozenset({VendState.CONFIRMED, VendState.FAILED, VendState.UNCERTAIN}),
    VendState.UNCERTAIN: frozenset({VendState.CONFIRMED, VendState.FAILED, VendState.SENT}),
    VendState.CONFIRMED: frozenset(),
    VendState.FAILED: frozenset(),
}
UNFINISHED = (VendState.PENDING, VendState.SENT, VendState.UNCERTAIN)


@dataclass(frozen=True)
class NewVend:
    idempotency_key: str
    kind: VendKind
    channel: VendChannel
    account_id: int
    amount_fen: int
    energy_cwh: int = 0
    meter_id: int | None = None
    operator_id: int | None = None
    count_before: int | None = None
    count_target: int | None = None
    request: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", VendKind(self.kind))
        object.__setattr__(self, "channel", VendChannel(self.channel))
        if not self.idempotency_key or len(self.idempotency_key) > 200:
            raise InvalidValueError("idempotency key must be 1..200 characters")
        require_int("amount_fen", self.amount_fen)
        require_int("energy_cwh", self.energy_cwh)
        require_int("count_before", self.count_before, optional=True)
        require_int("count_target", self.count_target, optional=True)


@dataclass(frozen=True)
class Vend:
    id: int
    idempotency_key: str
    kind: VendKind
    channel: VendChannel
    account_id: int
    meter_id: int | None
    operator_id: int | None
    amount_fen: int
    energy_cwh: int
    count_before: int | None
    count_target: int | None
    count_after: int | None
    state: VendState
    error: str | None
    request: dict[str, Any]
    result: dict[str, Any]
    created_at: str
    updated_at: str

    @property
    def finished(self) -> bool:
        return self.state in (VendState.CONFIRMED, VendState.FAILED)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Vend:
        return cls(
            id=row["id"],
            idempotency_key=row["idempotency_key"],
            kind=VendKind(row["kind"]),
            channel=VendChannel(row["channel"]),
            account_id=row["account_id"],
            meter_id=row["meter_id"],
            operator_id=row["operator_id"],
            amount_fen=row["amount_fen"],
            energy_cwh=row["energy_cwh"],
            count_before=row["count_before"],
            count_target=row["count_target"],
            count_after=row["count_after"],
            state=VendState(row["state"]),
            error=row["error"],
            request=canonical.loads(row["request"]),
            result=canonical.loads(row["result"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True)
class VendEvent:
    vend_id: int
    seq: int
    from_state: VendState | None
    to_state: VendState
    at: str
    error: str | None


_COLUMNS = (
    "id, idempotency_key, kind, channel, account_id, meter_id, operator_id, amount_fen, "
    "energy_cwh, count_before, count_target, count_after, state, error, request, result, "
    "created_at, updated_at"
)


def _same_request(existing: Vend, new: NewVend, request_text: str) -> bool:
    return (
        existing.kind == new.kind
        and existing.channel == new.channel
        and existing.account_id == new.account_id
        and existing.meter_id == new.meter_id
        and existing.amount_fen == new.amount_fen
        and existing.energy_cwh == new.energy_cwh
        and existing.count_before == new.count_before
        and existing.count_target == new.count_target
        and canonical.dumps(existing.request) == request_text
    )


def create(c: Conn, new: NewVend) -> tuple[Vend, bool]:
    """Persist a pending vend; ``(vend, True)`` if new, ``(first vend, False)`` on a repeat."""
    request_text = canonical.dumps(dict(new.request))
    existing = get_by_key(c, new.idempotency_key)
    if existing is not None:
        if not _same_request(existing, new, request_text):
            raise IdempotencyConflictError(
                f"key {new.idempotency_key!r} was used for vend {existing.id} with other values"
            )
        return existing, False
    now = c.now_text()
    rows = c.all(
        "INSERT INTO vends (idempotency_key, kind, channel, account_id, meter_id, operator_id, "
        "amount_fen, energy_cwh, count_before, count_target, state, request, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?) "
        f"RETURNING {_COLUMNS}",
        (
            new.idempotency_key,
            str(new.kind),
            str(new.channel),
            new.account_id,
            new.meter_id,
            new.operator_id,
            new.amount_fen,
            new.energy_cwh,
            new.count_before,
            new.count_target,
            request_text,
            now,
            now,
        ),
    )
    return Vend.from_row(rows[0]), True


class Changes(TypedDict, total=False):
    """What a transition may set besides the state."""

    error: str | None
    count_after: int | None
    result: Mapping[str, Any] | None  # merged into the stored result (JSON merge patch)


def transition(c: Conn, vend_id: int, to: VendState, **changes: Unpack[Changes]) -> Vend:
    """Move a vend to ``to`` (E307 if not allowed). ``result`` is merged into the stored
    result document (JSON merge patch: a key set to None is removed)."""
    rows = _update(c, vend_id, to, changes, f"RETURNING {_COLUMNS}")
    return Vend.from_row(rows[0])


def advance(c: Conn, vend_id: int, to: VendState, **changes: Unpack[Changes]) -> None:
    """``transition`` for a writer that does not need the row back (a sale's commit: reading
    and parsing the row again is a noticeable part of it)."""
    _update(c, vend_id, to, changes, "RETURNING id")


def _update(
    c: Conn, vend_id: int, to: VendState, changes: Changes, returning: str
) -> list[sqlite3.Row]:
    error = changes.get("error")
    count_after = changes.get("count_after")
    result = changes.get("result")
    target = VendState(to)
    require_int("count_after", count_after, optional=True)
    try:
        rows = c.all(
            "UPDATE vends SET state = ?, error = ?, count_after = coalesce(?, count_after), "
            f"result = json_patch(result, ?), updated_at = ? WHERE id = ? {returning}",
            (
                str(target),
                error,
                count_after,
                canonical.dumps(dict(result or {})),
                c.now_text(),
                vend_id,
            ),
        )
    except IllegalVendTransitionError:
        before = get(c, vend_id)
        raise IllegalVendTransitionError(
            f"vend {vend_id} cannot go from {before.state} to {target}"
        ) from None
    if not rows:
        raise NotFoundError(f"vend {vend_id}")
    return rows


def get(c: Conn, vend_id: int) -> Vend:
    row = c.one(f"SELECT {_COLUMNS} FROM vends WHERE id = ?", (vend_id,))
    if row is None:
        raise NotFoundError(f"vend {vend_id}")
    return Vend.from_row(row)


def get_by_key(c: Conn, idempotency_key: str) -> Vend | None:
    row = c.one(f"SELECT {_COLUMNS} FROM vends WHERE idempotency_key = ?", (idempotency_key,))
    return None if row is None else Vend.from_row(row)


def unfinished(c: Conn) -> list[Vend]:
    """Vends to recover at start-up (pending, sent, uncertain), oldest first."""
    return [
        Vend.from_row(r)
        for r in c.all(
            f"SELECT {_COLUMNS} FROM vends WHERE state IN ('pending', 'sent', 'uncertain') "
            "ORDER BY id"
        )
    ]


def for_account(c: Conn, account_id: int, *, limit: int = 100) -> list[Vend]:
    """The account's latest vends, newest first."""
    return [
        Vend.from_row(r)
        for r in c.all(
            f"SELECT {_COLUMNS} FROM vends WHERE account_id = ? ORDER BY id DESC LIMIT ?",
            (account_id, limit),
        )
    ]


def events(c: Conn, vend_id: int) -> list[VendEvent]:
    return [
        VendEvent(
            vend_id=r["vend_id"],
            seq=r["seq"],
            from_state=None if r["from_state"] is None else VendState(r["from_state"]),
            to_state=VendState(r["to_state"]),
            at=r["at"],
            error=r["error"],
        )
        for r in c.all(
            "SELECT vend_id, seq, from_state, to_state, at, error FROM vend_events "
            "WHERE vend_id = ? ORDER BY seq",
            (vend_id,),
        )
    ]


def verify(c: Conn) -> list[str]:
    """Money moves only for confirmed vends; every vend's history matches its state."""
    problems = [
        f"ledger row {r['id']} belongs to vend {r['vend_id']} which is {r['state']}, not confirmed"
        for r in c.all(
            "SELECT l.id, l.vend_id, v.state FROM ledger AS l JOIN vends AS v ON v.id = l.vend_id "
            "WHERE v.state <> 'confirmed' LIMIT 50"
        )
    ]
    problems += [
        f"vend {r['id']} is {r['state']} but its last recorded event says {r['last_event']}"
        for r in c.all(
            "SELECT v.id, v.state, (SELECT e.to_state FROM vend_events AS e "
            "WHERE e.vend_id = v.id ORDER BY e.seq DESC LIMIT 1) AS last_event FROM vends AS v "
            "WHERE last_event IS NOT v.state LIMIT 50"
        )
    ]
    return problems
