"""The writes that finish a money operation, each one synchronous function = one transaction.

A confirmed vend, its ledger rows, its receipt, its operation-log entry and its outbox event
are committed together or not at all (DESIGN invariants 2, 3 and 8).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.billing.units import format_yuan
from gateway.services import crashpoints
from gateway.services.actor import Actor
from gateway.services.context import AccountContext, load
from gateway.services.errors import ServiceError
from gateway.siteclock import SiteClock
from gateway.store import customers, ledger, oplog, receipts, replacements, siteinfo, vends
from gateway.store.conn import Conn
from gateway.store.ledger import LedgerKind, NewEntry
from gateway.store.receipts import NewReceipt, ReceiptKind
from gateway.store.replacements import NewReplacement
from gateway.store.vends import Vend, VendChannel, VendKind, VendState
from gateway.sync.outbox import add_event

CHANNELS = {"web": "web", "panel": "panel", "cloud": "mqtt", "system": "web"}


@dataclass(frozen=True)
class SaleRecord:
    """What a sale wrote: the caller shows it and prints the receipt."""

    vend_id: int
    ledger_id: int
    receipt_number: int


def receipt_content(
    c: Conn,
    ctx: AccountContext,
    actor: Actor,
    *,
    kind: str,
    amount_fen: int,
    energy_cwh: int = 0,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The facts printed on a receipt; the template (F5.3) decides the layout."""
    org = siteinfo.get_organisation(c)
    balance = ledger.balance(c, ctx.account.id)
    content: dict[str, Any] = {
        "kind": kind,
        "organisation": org.name,
        "organisation_address": org.address,
        "organisation_phone": org.phone,
        "customer_number": ctx.customer.number,
        "customer_name": ctx.customer.name,
        "customer_address": ctx.customer.address,
        "meter_address": ctx.meter.address,
        "meter_number": ctx.meter.meter_number,
        "tariff_version": ctx.version.id,
        "amount_fen": amount_fen,
        "amount_yuan": format_yuan(amount_fen),
        "energy_cwh": energy_cwh,
        "purchased_total_fen": balance.purchased_fen,
        "purchases": balance.purchases,
        "operator": actor.name,
        "issued_at": c.now_text(),
    }
    content.update(extra or {})
    return content


def create_vend(c: Conn, new: vends.NewVend) -> tuple[Vend, bool]:
    """Persist a vend before anything is sent; refuse a second live vend for one meter count.

    The per-meter lock in the service already serialises vends; this is the database's own
    guard, so that two paths (web and cloud, or a restart racing a retry) can never both credit
    purchase count n+1 and book it twice.
    """
    if new.meter_id is not None and new.count_target is not None:
        # An unsettled vend on the meter may own the next count (its outcome is not known
        # yet): no new vend until it is settled. A settled vend with the same target count is
        # no clash: after a reset the meter's count starts again, and the count read under the
        # meter lock just before this is what the new vend targets.
        clash = c.one(
            "SELECT id, idempotency_key FROM vends WHERE meter_id = ? "
            "AND channel <> 'gateway_wallet' AND idempotency_key <> ? "
            "AND state IN ('pending', 'sent', 'uncertain')",
            (new.meter_id, new.idempotency_key),
        )
        if clash is not None:
            raise ServiceError(
                "E506",
                f"vend {clash['id']} on this meter is not settled yet (it may own purchase "
                f"count {new.count_target}); it is settled when the meter answers",
                vend_id=int(clash["id"]),
            )
    return vends.create(c, new)


def unfinished_for_meter(c: Conn, meter_id: int) -> list[Vend]:
    """Comm and card vends on a meter whose outcome is not settled yet, oldest first."""
    return [
        v
        for v in vends.unfinished(c)
        if v.meter_id == meter_id and v.channel is not VendChannel.GATEWAY_WALLET
    ]


def mark(c: Conn, /, vend_id: int, to: VendState, error: str | None = None, **result: Any) -> Vend:
    return vends.transition(c, vend_id, to, error=error, result=result or None)


def fail(c: Conn, vend_id: int, error: str, actor: Actor, action: str) -> Vend:
    vend = vends.transition(c, vend_id, VendState.FAILED, error=error)
    oplog.append(
        c,
        action,
        operator_id=actor.operator_id,
        operator_name=actor.name,
        target=f"vend:{vend_id}",
        detail={"error": error},
        result="error",
        error_code=error.split(" ", 1)[0][:8] if error else None,
    )
    return vend


def _event_channel(vend_channel: str, actor_channel: str) -> str:
    """How the sale reached the meter (bus or card), else who asked (web, panel, cloud)."""
    if vend_channel in ("comm", "card"):
        return vend_channel
    return CHANNELS.get(actor_channel, "web")


def actor_of(vend: Vend) -> Actor:
    """The actor recorded with a vend (recovery confirms in the original operator's name)."""
    req = vend.request
    return Actor(
        vend.operator_id,
        str(req.get("actor", "system")),
        frozenset(),
        str(req.get("actor_channel", "system")),
    )


_RECEIPT_KIND = {
    VendKind.OPEN: ReceiptKind.OPEN,
    VendKind.DAILY: ReceiptKind.SALE,
    VendKind.REPLACEMENT: ReceiptKind.REPLACEMENT,
}
_ACTION = {
    VendKind.OPEN: "sale.open",
    VendKind.DAILY: "sale.daily",
    VendKind.REPLACEMENT: "sale.replacement",
}


def confirm(c: Conn, vend_id: int, clock: SiteClock, *, count_after: int | None) -> SaleRecord:
    """vend → confirmed with its ledger rows, receipt, log entry and events, atomically.

    Everything comes from the persisted vend (its request document), never from the caller:
    a vend confirmed by recovery after a crash books exactly what the live path would have.
    """
    vend = vends.get(c, vend_id)
    if vend.state is VendState.CONFIRMED:
        return existing_record(c, vend)  # a second resolution (recovery racing a retry)
    req = vend.request
    actor = actor_of(vend)
    ctx = load(
        c,
        vend.account_id,
        clock,
        require_open=False,
        version_id=int(req["tariff_version_id"]),
        period_use=False,
    )
    if vend.state is VendState.PENDING:
        vends.advance(c, vend_id, VendState.SENT)
    remainder = req.get("remainder_fen")
    receipt_extra: dict[str, Any] = {}
    if vend.kind is VendKind.REPLACEMENT:
        receipt_extra = _book_replacement(c, vend, ctx, actor)
    sale_id: int | None = None
    if vend.amount_fen > 0:
        sale = ledger.append(
            c,
            NewEntry(
                account_id=ctx.account.id,
                kind=LedgerKind.SALE,
                amount_fen=vend.amount_fen,
                energy_cwh=vend.energy_cwh,
                meter_id=int(req.get("meter_id", ctx.meter.id)),
                remainder_fen=None if remainder is None else int(remainder),
                tariff_version_id=ctx.version.id,
                vend_id=vend_id,
                operator_id=actor.operator_id,
                detail={"channel": str(vend.channel), "kind": str(vend.kind)},
            ),
        )
        sale_id = sale.id
        crashpoints.reached("confirm.sale_row")
    content = receipt_content(
        c,
        ctx,
        actor,
        kind=str(_RECEIPT_KIND[vend.kind]),
        amount_fen=vend.amount_fen,
        energy_cwh=vend.energy_cwh,
        extra={
            "purchase_count": count_after,
            "previous_remainder_fen": int(req.get("previous_remainder_fen", 0)),
            "current_remainder_fen": int(remainder or 0),
            "meter_address": req.get("meter_address", ctx.meter.address),
            **receipt_extra,
        },
    )
    receipt = receipts.issue(
        c,
        NewReceipt(
            kind=_RECEIPT_KIND[vend.kind],
            account_id=ctx.account.id,
            vend_id=vend_id,
            ledger_id=sale_id,
            operator_id=actor.operator_id,
            content=content,
        ),
    )
    crashpoints.reached("confirm.receipt")
    vends.advance(
        c,
        vend_id,
        VendState.CONFIRMED,
        count_after=count_after,
        result={
            "ledger_id": sale_id or 0,
            "receipt_number": receipt.number,
        },
    )
    crashpoints.reached("confirm.state")
    oplog.append(
        c,
        _ACTION[vend.kind],
        operator_id=actor.operator_id,
        operator_name=actor.name,
        target=f"account:{ctx.account.id}",
        detail={
            "vend_id": vend_id,
            "amount_fen": vend.amount_fen,
            "energy_cwh": vend.energy_cwh,
            "meter": content["meter_address"],
            "receipt_number": receipt.number,
        },
    )
    if sale_id is not None:
        payload: dict[str, Any] = {
            "sale_id": str(sale_id),
            "account_id": str(ctx.account.id),
            "customer_id": str(ctx.customer.id),
            "meter": str(content["meter_address"]),
            "amount_fen": vend.amount_fen,
            "energy_ckwh": vend.energy_cwh,
            "remainder_fen": int(remainder or 0),
            "tariff_version": str(ctx.version.id),
            "channel": _event_channel(str(vend.channel), actor.channel),
            "state": "confirmed",
            "operator": actor.name,
            "sold_at": c.now_text(),
        }
        if count_after is not None:
            payload["purchase_count"] = count_after
        if req.get("command_id"):
            payload["command_id"] = str(req["command_id"])
        add_event(c, "sales", payload, c.now())
    crashpoints.reached("confirm.events")
    return SaleRecord(vend_id, sale_id or 0, receipt.number)


def _book_replacement(c: Conn, vend: Vend, ctx: AccountContext, actor: Actor) -> dict[str, Any]:
    """The old meter's value moves to the new one: two rows that net to zero, and the record."""
    req = vend.request
    old_meter, new_meter = int(req["old_meter_id"]), int(req["meter_id"])
    comp_fen, comp_cwh = int(req.get("compensation_fen", 0)), int(req.get("compensation_cwh", 0))
    comp_id: int | None = None
    if comp_fen or comp_cwh:
        ledger.append(
            c,
            NewEntry(
                account_id=ctx.account.id,
                kind=LedgerKind.ADJUSTMENT,
                amount_fen=-comp_fen,
                energy_cwh=-comp_cwh,
                meter_id=old_meter,
                vend_id=vend.id,
                operator_id=actor.operator_id,
                detail={"reason": "replacement: value left on the old meter moved to the new one"},
            ),
        )
        comp_id = ledger.append(
            c,
            NewEntry(
                account_id=ctx.account.id,
                kind=LedgerKind.COMPENSATION,
                amount_fen=comp_fen,
                energy_cwh=comp_cwh,
                meter_id=new_meter,
                vend_id=vend.id,
                operator_id=actor.operator_id,
                detail={"source": str(req.get("compensation_source", "meter"))},
            ),
        ).id
    if ctx.account.meter_id != new_meter:
        customers.move_to_meter(c, ctx.account.id, new_meter)
    replacement = replacements.record(
        c,
        NewReplacement(
            account_id=ctx.account.id,
            old_meter_id=old_meter,
            new_meter_id=new_meter,
            compensation_fen=comp_fen,
            compensation_cwh=comp_cwh,
            vend_id=vend.id,
            compensation_ledger_id=comp_id,
            operator_id=actor.operator_id,
            old_meter_state=dict(req.get("old_meter_state", {})),
        ),
    )
    add_event(
        c,
        "replacements",
        {
            "replacement_id": str(replacement.id),
            "account_id": str(ctx.account.id),
            "old_meter": str(req.get("old_meter_address", "")),
            "new_meter": str(req.get("meter_address", "")),
            "compensation_fen": comp_fen,
            "compensation_ckwh": comp_cwh,
            "operator": actor.name,
        },
        c.now(),
    )
    return {
        "compensation_fen": comp_fen,
        "compensation_cwh": comp_cwh,
        "old_meter_address": req.get("old_meter_address", ""),
    }


def existing_record(c: Conn, vend: Vend) -> SaleRecord:
    result = vend.result
    return SaleRecord(
        vend.id,
        int(result.get("ledger_id", 0)),
        int(result.get("receipt_number", 0)),
    )
