"""F3.3 by card: make the refund card (制作退费卡), the meter reads out and closes, then the
refund-close clear card (退费销户清卡) pays the customer, exactly once.

The refund card is the customer's user card rewritten (same serial). The meter writes its state
*before* closing into the return file; back at the gateway that read-out, plus any purchase
sold but never loaded into the meter, less the overdraft and fees, is the refund. The valuation
is committed in a *pending* refund vend before the card is cleared; the refund row, the refund
record, the closed account, the receipt and the events are committed only after the card reads
back blank (refunds.confirm_refund, the same booking as the comm refund). A repeated request
with the same key finishes an interrupted one; the account can be closed only once.
"""

from __future__ import annotations

from typing import Any

from gateway.billing import Lot, energy_refund, money_refund
from gateway.cards import MeterOutcome, RefundCard, ReturnArea, UserCard
from gateway.cards.errors import CardError, NotAUserCardError, ReturnNotWrittenError, WrongCardError
from gateway.services import card_records, records
from gateway.services.actor import Actor
from gateway.services.card_desk import CardDesk, CardWriteResult
from gateway.services.card_records import meter_number
from gateway.services.card_sales import NOTHING_WRITTEN
from gateway.services.context import AccountContext
from gateway.services.errors import ServiceError
from gateway.services.refunds import RefundResult, confirm_refund
from gateway.siteclock import SiteClock
from gateway.store import ledger, vends
from gateway.store.cards import CardKind
from gateway.store.conn import Conn
from gateway.store.ledger import LedgerKind
from gateway.store.vends import NewVend, Vend, VendChannel, VendKind, VendState


def refund_result(vend: Vend, *, repeated: bool = False) -> RefundResult:
    number = vend.result.get("receipt_number")
    return RefundResult(
        vend.id,
        str(vend.state),
        vend.amount_fen,
        int(vend.request.get("owed_fen", 0)),
        int(number) if number else None,
        repeated,
    )


class RefundCards(CardDesk):
    async def make_refund_card(self, actor: Actor, account_id: int) -> CardWriteResult:
        """【制作退费卡（IC卡）】: the customer's user card becomes a refund card for their meter.

        No money moves. Making it again with the refund card in the reader changes nothing.
        """
        actor.require("sales.refund")
        async with self.lock:
            ctx = await self.context(account_id)
            current = await self.db.read(card_records.current_serial, account_id)
            probe = await self.probe()
            content = probe.content
            if current is None or probe.serial != current:
                if probe.serial is None:
                    raise NotAUserCardError("insert the customer's user card")
                raise ServiceError("E524", f"card {probe.serial}; the account's card is {current}")
            pending = await self.db.read(card_records.vend_for_serial, current)
            if pending is not None:
                raise ServiceError(
                    "E520", f"card operation {pending.id} on this card is not finished",
                    vend_id=pending.id,
                )  # fmt: skip
            if content is not None:
                issue = content.issue
                if isinstance(issue, RefundCard) and issue.meter_number == meter_number(ctx.meter):
                    return CardWriteResult(current, str(CardKind.REFUND), content, repeated=True)
                if not isinstance(issue, UserCard):
                    raise NotAUserCardError(f"this is a {issue.card_type.name.lower()} card")
                if issue.customer_number != ctx.meter_customer_number:
                    raise ServiceError("E524", f"card of customer {issue.customer_number}")
            # An unfinished write of this very card (no vend owns it) is simply written again.
            card = RefundCard(
                serial=current,
                meter_number=meter_number(ctx.meter),
                customer_number=ctx.meter_customer_number,
                issued_at=self.now(),
            )
            written = await self.reader.write(card, expect_serial=current)
            await self.db.write(_record_refund_card, actor, account_id, current, ctx.meter.address)
            return CardWriteResult(current, str(CardKind.REFUND), written)

    async def refund_close(
        self, actor: Actor, account_id: int, key: str, *, fee_fen: int = 0
    ) -> RefundResult:
        """【退费销户清卡】: the refund card back from the meter → refund, account closed, the
        card cleared, a receipt."""
        actor.require("sales.refund")
        existing = await self.db.read(vends.get_by_key, key)
        if existing is not None:
            if (
                existing.channel is not VendChannel.CARD
                or existing.kind is not VendKind.CARD_REFUND
            ):
                raise ServiceError(
                    "E513", f"key {key!r} belongs to vend {existing.id}", vend_id=existing.id
                )
            if existing.finished:
                return refund_result(existing, repeated=True)
            return await self._settle_refund(existing.id, repeated=True)
        if isinstance(fee_fen, bool) or not isinstance(fee_fen, int) or fee_fen < 0:
            raise ServiceError("E502", "fee must be whole fen, not negative", field="fee")
        async with self.lock:
            ctx = await self.context(account_id)
            current = await self.db.read(card_records.current_serial, account_id)
            probe = await self.probe()
            content = probe.content
            if content is None or current is None or probe.serial != current:
                raise ServiceError(
                    "E524", f"insert the customer's refund card (card {current}); the reader "
                    f"holds {'a blank card' if probe.blank else probe.serial}",
                )  # fmt: skip
            if isinstance(content.issue, UserCard):
                raise ServiceError(
                    "E502", "this is still the user card: make the refund card first (F3.3)"
                )
            if not isinstance(content.issue, RefundCard):
                raise NotAUserCardError(f"this is a {content.issue.card_type.name.lower()} card")
            ret = content.require_return()
            if (
                ret.outcome is not MeterOutcome.REFUND_READ
                or ret.meter_number != meter_number(ctx.meter)
                or ret.customer_number != ctx.meter_customer_number
            ):
                raise ReturnNotWrittenError(
                    f"the refund card has not been read out by meter {meter_number(ctx.meter)} "
                    "yet: insert it in the customer's meter"
                )
            async with self.vending.lock(ctx.meter.id):
                request = await self.db.read(_valuation, ctx, ret, fee_fen)
                request.update(
                    op="refund_close", card_serial=current, actor=actor.name,
                    actor_channel=actor.channel, meter_address=ctx.meter.address,
                )  # fmt: skip
                new = NewVend(
                    idempotency_key=key,
                    kind=VendKind.CARD_REFUND,
                    channel=VendChannel.CARD,
                    account_id=account_id,
                    amount_fen=int(request["payout_fen"]),
                    meter_id=ctx.meter.id,
                    operator_id=actor.operator_id,
                    count_before=ret.purchase_count,
                    request=request,
                )
                vend, created = await self.db.write(card_records.create_vend, new)
                return await self._clear_and_confirm(vend, fresh=created)

    async def _clear_and_confirm(self, vend: Vend, *, fresh: bool) -> RefundResult:
        if vend.finished:
            return refund_result(vend, repeated=not fresh)
        if vend.state is not VendState.SENT:
            vend = await self.db.write(records.mark, vend.id, VendState.SENT)
        serial = int(vend.request["card_serial"])
        try:
            await self.reader.clear(expect_serial=serial)
        except CardError as exc:
            text = f"{exc.code} {exc}"
            if fresh and isinstance(exc, NOTHING_WRITTEN):
                await self.db.write(
                    records.fail, vend.id, text, records.actor_of(vend), "card.failed"
                )
                raise
            await self.db.write(records.mark, vend.id, VendState.UNCERTAIN, text)
            raise ServiceError("E520", text, vend_id=vend.id) from exc
        await self.db.write(_confirm, vend.id, self.clock)
        return refund_result(await self.db.read(vends.get, vend.id), repeated=not fresh)

    async def _settle_refund(self, vend_id: int, *, repeated: bool = False) -> RefundResult:
        """Finish an interrupted refund-close: clear the refund card if it is in the reader,
        book the refund persisted in the vend. A blank card is taken as the cleared refund card
        (the read-out was saved before clearing began; the account closes only once)."""
        async with self.lock:
            vend = await self.db.read(vends.get, vend_id)
            if vend.finished:
                return refund_result(vend, repeated=repeated)
            serial = int(vend.request["card_serial"])
            probe = await self.probe()
            if probe.serial != serial and not probe.blank:
                raise WrongCardError(f"insert the refund card (serial {serial})")
            async with self.vending.lock(vend.meter_id or 0):
                if probe.blank:
                    await self.db.write(_confirm, vend.id, self.clock)
                    vend = await self.db.read(vends.get, vend_id)
                    return refund_result(vend, repeated=repeated)
                result = await self._clear_and_confirm(vend, fresh=False)
        return RefundResult(**{**result.__dict__, "repeated": repeated})

    async def _abandon_refund(self, actor: Actor, vend_id: int) -> RefundResult:
        """Give up an interrupted refund-close while its card still holds the read-out."""
        async with self.lock:
            vend = await self.db.read(vends.get, vend_id)
            if vend.finished:
                return refund_result(vend)
            serial = int(vend.request["card_serial"])
            probe = await self.probe()
            content = probe.content
            if (
                content is None
                or probe.serial != serial
                or content.ret is None
                or content.ret.outcome is not MeterOutcome.REFUND_READ
            ):
                raise WrongCardError(
                    f"insert the refund card (serial {serial}) still holding the meter's "
                    "read-out; a cleared card must be settled: repeat the refund instead"
                )
            await self.db.write(
                records.fail, vend.id, "abandoned by the operator", actor, "card.abandoned"
            )
            return refund_result(await self.db.read(vends.get, vend_id))


def _valuation(c: Conn, ctx: AccountContext, ret: ReturnArea, fee_fen: int) -> dict[str, Any]:
    """The refund from the meter's read-out, plus sales the meter never loaded."""
    unloaded = card_records.unloaded_sales(c, ctx.account.id, ctx.meter.id, ret.purchase_count)
    unloaded_fen = sum(v.amount_fen for v in unloaded)
    common: dict[str, Any] = {
        "fee_fen": fee_fen,
        "unloaded_fen": unloaded_fen,
        "unloaded_vends": [v.id for v in unloaded],
        "read_out": {"purchase_count": ret.purchase_count, "remaining": ret.remaining_fen,
                     "overdraft": ret.overdraft_fen, "written_at": ret.written_at.isoformat()},
    }  # fmt: skip
    if ctx.energy_wallet:
        skip = {v.id for v in unloaded}
        # Lots are what the meter was loaded with; an unloaded sale is refunded at its price
        # paid, not mixed into the valuation of the energy the meter holds.
        lots = [
            Lot(f"ledger:{e.id}", e.energy_cwh, e.amount_fen)
            for e in ledger.for_account(c, ctx.account.id)
            if e.kind is LedgerKind.SALE and e.energy_cwh > 0 and e.vend_id not in skip
        ]
        price = ret.price_1e4 or None
        energy = energy_refund(
            ret.remaining_fen,
            lots,
            remainder=ctx.balance.remainder_fen,
            unloaded=unloaded_fen,
            overdraft_energy=ret.overdraft_fen if price else 0,
            overdraft_price=price,
            fees=fee_fen,
        )
        return {**common, "payout_fen": energy.payout, "owed_fen": energy.owed,
                "remaining_fen": 0, "remaining_cwh": ret.remaining_fen, "overdraft_fen": 0,
                "valuation": {"kind": "energy_fifo", "source": "refund_card",
                              "unloaded_fen": unloaded_fen,
                              "remainder_fen": ctx.balance.remainder_fen}}  # fmt: skip
    money = money_refund(
        ret.remaining_fen, overdraft=ret.overdraft_fen, unloaded=unloaded_fen, fees=fee_fen
    )
    return {**common, "payout_fen": money.payout, "owed_fen": money.owed,
            "remaining_fen": ret.remaining_fen, "remaining_cwh": 0,
            "overdraft_fen": ret.overdraft_fen,
            "valuation": {"kind": "money", "source": "refund_card",
                          "unloaded_fen": unloaded_fen}}  # fmt: skip


def _confirm(c: Conn, vend_id: int, clock: SiteClock) -> None:
    """The refund and the cleared card, booked together."""
    vend = vends.get(c, vend_id)
    if vend.state is VendState.CONFIRMED:
        return
    confirm_refund(c, vend_id, clock)
    card_records.record_card(
        c,
        records.actor_of(vend),
        kind=CardKind.CLEAR,
        action="card.refund_clear",
        serial=int(vend.request["card_serial"]),
        account_id=vend.account_id,
        meter_address=str(vend.request.get("meter_address", "")) or None,
        vend_id=vend_id,
        amount=vend.amount_fen,
        event_kind="refund",
        event_action="voided",
    )


def _record_refund_card(
    c: Conn, actor: Actor, account_id: int, serial: int, meter_address: str
) -> None:
    card_records.record_card(
        c,
        actor,
        kind=CardKind.REFUND,
        action="card.refund",
        serial=serial,
        account_id=account_id,
        meter_address=meter_address,
    )
