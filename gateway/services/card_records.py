"""The database side of the card workflows: each function runs inside one transaction.

A card sale is booked like a comm sale (records.confirm: ledger row, receipt, operation log,
"sales" event) in the same transaction as the card's own record (card_issues row, "cards" event,
"card.*" log entry): the sale exists if and only if the card carrying it was verified.

The card image a vend writes is stored in the vend's request when the vend is created, so a
retry after a pulled card or a crash writes the very same bytes (same serial, same issue time).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.cards import UserCard, UserCardKind
from gateway.cards.format import normalise_number
from gateway.services import records
from gateway.services.actor import Actor
from gateway.services.context import load
from gateway.services.errors import ServiceError
from gateway.siteclock import SiteClock
from gateway.store import cards, customers, oplog, receipts, vends
from gateway.store.cards import CardKind, NewCardIssue
from gateway.store.conn import Conn
from gateway.store.meters import Meter
from gateway.store.receipts import NewReceipt, ReceiptKind
from gateway.store.vends import NewVend, Vend, VendChannel, VendKind, VendState
from gateway.sync.outbox import add_event

# The outbox's card kinds (payload-cards.json) for each card_issues kind.
EVENT_KIND = {
    CardKind.USER_OPEN: "user",
    CardKind.USER_PURCHASE: "user",
    CardKind.USER_REISSUE: "user",
    CardKind.USER_REPLACEMENT: "user",
    CardKind.SETTINGS: "settings",
    CardKind.QUERY: "query",
    CardKind.RESET: "reset",
    CardKind.RELAY: "relay",
    CardKind.REFUND: "refund",
    CardKind.METER_CHANGE: "meter_change",
}
SALE_CARD_KIND = {
    VendKind.OPEN: CardKind.USER_OPEN,
    VendKind.DAILY: CardKind.USER_PURCHASE,
    VendKind.REPLACEMENT: CardKind.USER_REPLACEMENT,
    VendKind.CARD_REISSUE: CardKind.USER_REISSUE,
}


def meter_number(meter: Meter) -> str:
    """The number a card names the meter by: its nameplate number, else its address."""
    return normalise_number(meter.meter_number or meter.address, "meter number")


# ---- card images in vend requests -----------------------------------------------------------
def card_to_json(card: UserCard) -> dict[str, Any]:
    return {
        "kind": int(card.kind),
        "serial": card.serial,
        "meter_number": card.meter_number,
        "customer_number": card.customer_number,
        "issued_at": card.issued_at.isoformat(),
        "purchase_count": card.purchase_count,
        "amount": card.amount_fen,
    }


def card_from_json(data: Mapping[str, Any]) -> UserCard:
    return UserCard(
        serial=int(data["serial"]),
        meter_number=str(data["meter_number"]),
        customer_number=str(data["customer_number"]),
        issued_at=dt.datetime.fromisoformat(str(data["issued_at"])),
        kind=UserCardKind(int(data["kind"])),
        purchase_count=int(data["purchase_count"]),
        amount_fen=int(data["amount"]),
    )


def intended_card(vend: Vend) -> UserCard:
    return card_from_json(vend.request["card"])


# ---- serials, counts, accounts --------------------------------------------------------------
def next_serial(c: Conn) -> int:
    """A card serial never used at this site: strictly increasing, even across "clear all"
    (meters remember serials; a reissue card must beat the serial a meter holds)."""
    c.execute(
        "INSERT INTO sequences (name, value) VALUES ('card_serial', 0) "
        "ON CONFLICT (name) DO NOTHING"
    )
    floor = int(
        c.scalar("SELECT coalesce(max(CAST(card_serial AS INTEGER)), 0) FROM card_issues") or 0
    )
    rows = c.all(
        "UPDATE sequences SET value = max(value, ?) + 1 WHERE name = 'card_serial' RETURNING value",
        (floor,),
    )
    return int(rows[0][0])


def known_count(c: Conn, account_id: int, meter_id: int) -> int:
    """The highest purchase count this account's sales gave this meter (0: none yet).

    Counts of every channel: a comm sale moves the meter's count as much as a card does.
    """
    value = c.scalar(
        "SELECT max(coalesce(count_after, count_target)) FROM vends WHERE account_id = ? "
        "AND meter_id = ? AND state = 'confirmed' AND channel <> 'gateway_wallet'",
        (account_id, meter_id),
    )
    return int(value or 0)


def last_sale(c: Conn, account_id: int, meter_id: int, count: int) -> Vend | None:
    """The confirmed sale that gave this meter purchase count ``count``."""
    row = c.one(
        "SELECT id FROM vends WHERE account_id = ? AND meter_id = ? AND state = 'confirmed' "
        "AND coalesce(count_after, count_target) = ? AND channel <> 'gateway_wallet' "
        "ORDER BY id DESC LIMIT 1",
        (account_id, meter_id, count),
    )
    return None if row is None else vends.get(c, int(row["id"]))


def unloaded_sales(c: Conn, account_id: int, meter_id: int, loaded_count: int) -> list[Vend]:
    """Confirmed sales on the meter whose count it has not reached: sold, not loaded yet."""
    rows = c.all(
        "SELECT id FROM vends WHERE account_id = ? AND meter_id = ? AND state = 'confirmed' "
        "AND count_target > ? AND channel <> 'gateway_wallet' ORDER BY id",
        (account_id, meter_id, loaded_count),
    )
    return [vends.get(c, int(r["id"])) for r in rows]


def load_value(vend: Vend) -> int:
    """What a sale put on the meter: fen, or 0.01 kWh for an energy account."""
    return int(vend.request.get("load_value", vend.amount_fen))


def current_serial(c: Conn, account_id: int) -> int | None:
    issue = cards.current_user_card(c, account_id)
    return None if issue is None else int(issue.card_serial)


def account_of_serial(c: Conn, serial: int) -> int | None:
    """The account a card serial was issued for, if any."""
    for issue in cards.by_serial(c, str(serial)):
        if issue.account_id is not None:
            return issue.account_id
    return None


def unfinished_card_vends(c: Conn, *, account_id: int | None = None) -> list[Vend]:
    return [
        v
        for v in vends.unfinished(c)
        if v.channel is VendChannel.CARD and (account_id is None or v.account_id == account_id)
    ]


def vend_for_serial(c: Conn, serial: int) -> Vend | None:
    """An unfinished card vend that writes (or clears) the card with this serial."""
    for vend in unfinished_card_vends(c):
        if int(vend.request.get("card_serial", -1)) == serial:
            return vend
    return None


def create_vend(c: Conn, new: NewVend, *, superseding: bool = False) -> tuple[Vend, bool]:
    """Persist a card vend before the card is touched; refuse one that could clash.

    Like records.create_vend, with two differences that matter for cards: the clash on a
    purchase count is per account (a meter super-reset for its next customer starts again at
    count 1), and an unfinished *card* vend is named with E520, so the operator knows the way
    out is to repeat or abandon that card operation. ``superseding`` (a reissue) lets the
    account's own unfinished card vends stand: the reissue fails them when it is confirmed.
    """
    existing = vends.get_by_key(c, new.idempotency_key)
    if existing is not None:
        return vends.create(c, new)  # same request: the first vend; else E308
    if new.meter_id is not None:
        clash = c.one(
            "SELECT id, channel FROM vends WHERE meter_id = ? AND channel <> 'gateway_wallet' "
            "AND ((state IN ('pending', 'sent', 'uncertain') "
            "AND NOT (? AND channel = 'card' AND account_id = ?)) "
            "OR (account_id = ? AND count_target = ? AND state <> 'failed'))",
            (new.meter_id, superseding, new.account_id, new.account_id, new.count_target),
        )
        if clash is not None:
            vend_id = int(clash["id"])
            if clash["channel"] == str(VendChannel.CARD):
                raise ServiceError(
                    "E520",
                    f"card operation {vend_id} on this meter is not finished: insert its card and "
                    "repeat it, or abandon it",
                    vend_id=vend_id,
                )
            raise ServiceError(
                "E506", f"vend {vend_id} on this meter is not settled yet", vend_id=vend_id
            )
    return vends.create(c, new)


# ---- booking --------------------------------------------------------------------------------
@dataclass(frozen=True)
class CardRecord:
    """What a card write put on record."""

    card_serial: int
    issue_id: int
    receipt_number: int | None = None
    ledger_id: int | None = None


def record_card(
    c: Conn,
    actor: Actor,
    *,
    kind: CardKind,
    action: str,
    serial: int,
    account_id: int | None = None,
    meter_address: str | None = None,
    vend_id: int | None = None,
    purchase_count: int | None = None,
    amount: int | None = None,
    detail: Mapping[str, Any] | None = None,
    event_action: str = "written",
    event_kind: str | None = None,
) -> CardRecord:
    """The card's record, its log entry and its event, in the caller's transaction."""
    issue = cards.record_issue(
        c,
        NewCardIssue(
            card_serial=str(serial),
            kind=kind,
            account_id=account_id,
            vend_id=vend_id,
            operator_id=actor.operator_id,
            detail={
                **(detail or {}),
                **({"meter": meter_address} if meter_address else {}),
                **({"purchase_count": purchase_count} if purchase_count is not None else {}),
                **({"amount": amount} if amount is not None else {}),
            },
        ),
    )
    oplog.append(
        c,
        action,
        operator_id=actor.operator_id,
        operator_name=actor.name,
        target=f"account:{account_id}" if account_id is not None else f"card:{serial}",
        detail={"card_serial": serial, "kind": str(kind), "vend_id": vend_id,
                "meter": meter_address, **(detail or {})},
    )  # fmt: skip
    card_kind = event_kind or EVENT_KIND.get(kind)
    if card_kind is not None:
        payload: dict[str, Any] = {
            "card_kind": card_kind,
            "action": event_action,
            "card_serial": str(serial),
            "operator": actor.name,
        }
        if account_id is not None:
            payload["account_id"] = str(account_id)
        if meter_address:
            payload["meter"] = meter_address
        if purchase_count is not None:
            payload["purchase_count"] = purchase_count
        if amount is not None:
            payload["amount_fen"] = amount
        add_event(c, "cards", payload, c.now())
    return CardRecord(serial, issue.id)


def confirm_sale(c: Conn, vend_id: int, clock: SiteClock) -> CardRecord:
    """A verified user card carrying a sale: the sale and the card, booked together."""
    vend = vends.get(c, vend_id)
    if vend.state is VendState.CONFIRMED:
        existing = records.existing_record(c, vend)
        return CardRecord(int(vend.request["card_serial"]), 0, existing.receipt_number)
    card = intended_card(vend)
    req = vend.request
    sale = records.confirm(c, vend_id, clock, count_after=card.purchase_count or None)
    kind = SALE_CARD_KIND[vend.kind]
    rec = record_card(
        c,
        records.actor_of(vend),
        kind=kind,
        action=f"card.{kind}",
        serial=card.serial,
        account_id=vend.account_id,
        meter_address=str(req.get("meter_address", "")) or None,
        vend_id=vend_id,
        purchase_count=card.purchase_count,
        amount=card.amount_fen,
        event_action="issued" if vend.kind is VendKind.OPEN else "written",
    )
    return CardRecord(card.serial, rec.issue_id, sale.receipt_number, sale.ledger_id or None)


def confirm_reissue(c: Conn, vend_id: int, clock: SiteClock) -> CardRecord:
    """F2.2: the new card supersedes the old ones; no money moves.

    Unfinished card sales on the superseded serial are failed here: the old card can no longer
    load anything into the meter (its serial is lower than the one the meter now adopts), so the
    purchase they were writing can never reach it and must not be booked.
    """
    vend = vends.get(c, vend_id)
    card = intended_card(vend)
    if vend.state is VendState.CONFIRMED:
        return CardRecord(card.serial, 0, vend.result.get("receipt_number"))
    actor = records.actor_of(vend)
    for other in unfinished_card_vends(c, account_id=vend.account_id):
        if other.id != vend_id and int(other.request.get("card_serial", -1)) != card.serial:
            records.fail(
                c, other.id, f"E524 card {other.request.get('card_serial')} was replaced by "
                f"reissued card {card.serial}", actor, "card.superseded",
            )  # fmt: skip
    if vend.state is VendState.PENDING:
        vends.transition(c, vend_id, VendState.SENT)
    ctx = load(c, vend.account_id, clock, require_open=False, period_use=False)
    rec = record_card(
        c,
        actor,
        kind=CardKind.USER_REISSUE,
        action="card.user_reissue",
        serial=card.serial,
        account_id=vend.account_id,
        meter_address=ctx.meter.address,
        vend_id=vend_id,
        purchase_count=card.purchase_count,
        amount=card.amount_fen,
        detail={"replaces": vend.request.get("replaces_serial")},
        event_action="reissued",
    )
    content = records.receipt_content(
        c,
        ctx,
        actor,
        kind="reissue",
        amount_fen=0,
        extra={"card_serial": str(card.serial), "purchase_count": card.purchase_count,
               "replaces_serial": vend.request.get("replaces_serial")},
    )  # fmt: skip
    receipt = receipts.issue(
        c,
        NewReceipt(
            kind=ReceiptKind.REISSUE,
            account_id=vend.account_id,
            vend_id=vend_id,
            operator_id=actor.operator_id,
            content=content,
        ),
    )
    vends.transition(
        c,
        vend_id,
        VendState.CONFIRMED,
        count_after=card.purchase_count or None,
        result={"receipt_number": receipt.number, "card_issue_id": rec.issue_id},
    )
    return CardRecord(card.serial, rec.issue_id, receipt.number)


def open_account_on(c: Conn, meter_id: int) -> customers.Account | None:
    return customers.open_account_for_meter(c, meter_id)
