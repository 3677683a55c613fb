"""User cards that carry money: open account (F2.1), reissue (F2.2), daily purchase (F3.1) and
replacement purchase (F4.1) by IC card, each exactly once.

The order of every card sale, and why:
1. Read the card and check it against the ledger (blank for a new card; for a purchase the
   account's current card, for its meter and customer, its last purchase loaded).
2. Commit a *pending* vend holding the exact card image to write (serial, count, amount, issue
   time) before the card is touched.
3. Commit *sent*, write the card, read it back.
4. Verified → *confirmed* with the ledger row, receipt, card record, log entry and events in one
   transaction. Refused before a byte was written (no card, wrong card) → *failed*. Anything
   else (card pulled, pcscd gone mid-write) → *uncertain*, E520: repeating the same request
   with the same card looks at the card and either confirms what is already on it or writes the
   same image again; abandoning it restores the card as it was and fails the vend. Nothing is
   booked until a card holding the sale has been read back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from typing import Any, NoReturn

from gateway.cards import MeterChangeCard, MeterOutcome, UserCard, UserCardKind
from gateway.cards.errors import (
    CardError,
    CardLockedError,
    CardReadOnlyError,
    NoCardError,
    NotANewCardError,
    NotAUserCardError,
    ReturnNotWrittenError,
    WrongCardError,
    WrongPscError,
)
from gateway.cards.format import ZERO_NUMBER, CardContent, decode_issue, encode_issue
from gateway.services import card_records, records
from gateway.services.actor import Actor
from gateway.services.card_desk import (
    CardDesk,
    CardProbe,
    CardSaleResult,
    CardWriteResult,
    UserCardView,
    purchase_loaded,
    require_any,
    sale_result,
)
from gateway.services.card_records import meter_number
from gateway.services.context import AccountContext
from gateway.services.errors import ServiceError
from gateway.store import meters as meter_repo
from gateway.store import metertypes, vends
from gateway.store.cards import CardKind
from gateway.store.conn import Conn
from gateway.store.meters import Meter
from gateway.store.vends import NewVend, Vend, VendChannel, VendKind, VendState

# Raised before the reader sends any write: the card is exactly as it was.
NOTHING_WRITTEN: tuple[type[CardError], ...] = (
    NoCardError,
    NotANewCardError,
    WrongCardError,
    CardReadOnlyError,
    WrongPscError,
    CardLockedError,
)
SALE_KINDS = frozenset({VendKind.OPEN, VendKind.DAILY, VendKind.REPLACEMENT, VendKind.CARD_REISSUE})
PERMISSION = {
    VendKind.OPEN: "sales.open",
    VendKind.DAILY: "sales.daily",
    VendKind.REPLACEMENT: "sales.replace",
    VendKind.CARD_REISSUE: "cards.issue",
    VendKind.CARD_REFUND: "sales.refund",
}
USER_CARD_READERS = ("sales.daily", "sales.refund", "sales.replace", "cards.issue", "cards.read")


class SaleCards(CardDesk):
    # ---- F3.1 step 1: read the user card -------------------------------------------------------
    async def read_user_card(self, actor: Actor) -> UserCardView:
        """【读用户卡（IC卡）】: E004 for anything but a user card of this system."""
        require_any(actor, *USER_CARD_READERS)
        async with self.lock:
            content = await self.reader.read_user_card()
        return await self.db.read(_view, content)

    # ---- F2.1 ----------------------------------------------------------------------------------
    async def open_purchase(
        self, actor: Actor, account_id: int, amount_fen: int, key: str, *, any_meter: bool = False
    ) -> CardSaleResult:
        """【开户购电（IC卡）】: a new card (else E002) becomes the account's user card with
        purchase count 1 and the amount. ``any_meter``: the card names no meter (all zeros),
        so whichever new meter it is inserted in opens for the customer."""
        actor.require("sales.open")
        if (done := await self._repeated(key)) is not None:
            return done
        self.check_amount(amount_fen)
        async with self.lock:
            ctx = await self.context(account_id)
            probe = await self.probe()
            if not probe.blank:
                raise NotANewCardError("the card is not blank: clear it first (F3.2)")
            async with self.vending.lock(ctx.meter.id):
                ctx = await self.context(account_id)
                sold = await self.db.read(card_records.known_count, account_id, ctx.meter.id)
                if sold:
                    raise ServiceError("E525", f"meter {ctx.meter.address} has sales up to "
                                       f"purchase count {sold}")  # fmt: skip
                energy, remainder = self.convert(ctx, amount_fen)
                value = energy if ctx.energy_wallet else amount_fen
                self.check_hoarding(ctx, 0, value)
                now = self.now()

                def image(serial: int) -> UserCard:
                    return UserCard(
                        serial=serial,
                        meter_number=ZERO_NUMBER if any_meter else meter_number(ctx.meter),
                        customer_number=ctx.meter_customer_number,
                        issued_at=now,
                        kind=UserCardKind.OPEN,
                        purchase_count=1,
                        amount_fen=value,
                    )

                vend, created = await self._create(
                    actor, ctx, key, VendKind.OPEN, amount_fen, energy, remainder, image,
                    count_before=0, mode="blank",
                )  # fmt: skip
                return await self._write_sale(vend, fresh=created)

    # ---- F2.2 ----------------------------------------------------------------------------------
    async def reissue(self, actor: Actor, account_id: int, key: str) -> CardSaleResult:
        """【补用户卡（IC卡）】: a blank card becomes the account's user card with a new, higher
        serial; the meter adopts it at the next insert and refuses every older card from then.

        It carries the account's current state: the last sale's purchase count and amount. A
        meter that loaded that sale takes it as a return-write only; one that did not (the lost
        card still held it) loads it now. No money moves.
        """
        actor.require("cards.issue")
        if (done := await self._repeated(key)) is not None:
            return done
        async with self.lock:
            ctx = await self.context(account_id)
            probe = await self.probe()
            if not probe.blank:
                raise NotANewCardError("the card is not blank: clear it first (F3.2)")
            async with self.vending.lock(ctx.meter.id):
                count = await self.db.read(card_records.known_count, account_id, ctx.meter.id)
                if count == 0:
                    raise ServiceError("E528", "nothing was sold on this account's meter yet")
                last = await self.db.read(card_records.last_sale, account_id, ctx.meter.id, count)
                value = 0 if last is None else card_records.load_value(last)
                old = await self.db.read(card_records.current_serial, account_id)
                now = self.now()

                def image(serial: int) -> UserCard:
                    return UserCard(
                        serial=serial,
                        meter_number=meter_number(ctx.meter),
                        customer_number=ctx.meter_customer_number,
                        issued_at=now,
                        kind=UserCardKind.REISSUE,
                        purchase_count=count,
                        amount_fen=value,
                    )

                vend, created = await self._create(
                    actor, ctx, key, VendKind.CARD_REISSUE, 0, 0, None, image,
                    count_before=count, mode="blank", counts=False,
                    extra={"replaces_serial": old},
                )  # fmt: skip
                return await self._write_sale(vend, fresh=created)

    # ---- F3.1 ----------------------------------------------------------------------------------
    async def daily_purchase(
        self, actor: Actor, account_id: int, amount_fen: int, key: str
    ) -> CardSaleResult:
        """【日常购电（IC卡）】 on the customer's user card (read in the reader)."""
        actor.require("sales.daily")
        if (done := await self._repeated(key)) is not None:
            return done
        self.check_amount(amount_fen)
        async with self.lock:
            ctx = await self.context(account_id)
            content = await self.reader.read_user_card()
            card = content.issue
            assert isinstance(card, UserCard)
            await self._check_owner(ctx, card)
            if card.meter_number not in (meter_number(ctx.meter), ZERO_NUMBER):
                raise ServiceError(
                    "E523", f"the card is for meter {card.meter_number}, the customer's meter is "
                    f"{meter_number(ctx.meter)} (replaced over RS485? reissue the card, F2.2)",
                )  # fmt: skip
            _require_loaded(content)
            assert content.ret is not None
            async with self.vending.lock(ctx.meter.id):
                ctx = await self.context(account_id)
                energy, remainder = self.convert(ctx, amount_fen)
                value = energy if ctx.energy_wallet else amount_fen
                self.check_hoarding(ctx, content.ret.remaining_fen, value)
                known = await self.db.read(card_records.known_count, account_id, ctx.meter.id)
                count = max(card.purchase_count, content.ret.purchase_count, known)
                now = self.now()

                def image(serial: int) -> UserCard:
                    return UserCard(
                        serial=serial,
                        meter_number=meter_number(ctx.meter),
                        customer_number=ctx.meter_customer_number,
                        issued_at=now,
                        kind=UserCardKind.PURCHASE,
                        purchase_count=count + 1,
                        amount_fen=value,
                    )

                vend, created = await self._create(
                    actor, ctx, key, VendKind.DAILY, amount_fen, energy, remainder, image,
                    count_before=count, mode="same", serial=card.serial,
                    previous=self._image(content),
                )  # fmt: skip
                return await self._write_sale(vend, fresh=created)

    # ---- F4.1 ----------------------------------------------------------------------------------
    async def make_meter_change_card(
        self, actor: Actor, account_id: int, new_meter_id: int
    ) -> CardWriteResult:
        """F4.1 with a meter-change card: the customer's user card (its last purchase loaded)
        becomes a meter-change card. In the old meter it reads out and closes the account; in
        the new meter it hands over remaining, overdraft and purchase count. Then
        ``replacement_purchase`` with the same card books it and turns it back into the user
        card for the new meter. No money moves here."""
        actor.require("sales.replace")
        async with self.lock:
            ctx = await self.context(account_id)
            new_meter = await self._new_meter(ctx, new_meter_id)
            probe = await self.probe()
            content = probe.content
            current = await self.db.read(card_records.current_serial, account_id)
            if content is None or current is None or probe.serial != current:
                raise _not_the_card(probe, current)
            issue = content.issue
            if (
                isinstance(issue, MeterChangeCard)
                and issue.new_meter_number == meter_number(new_meter)
                and issue.meter_number == meter_number(ctx.meter)
            ):
                return CardWriteResult(current, str(CardKind.METER_CHANGE), content, repeated=True)
            if not isinstance(issue, UserCard):
                raise NotAUserCardError(f"this is a {issue.card_type.name.lower()} card")
            await self._check_owner(ctx, issue)
            _require_loaded(content)
            card = MeterChangeCard(
                serial=current,
                meter_number=meter_number(ctx.meter),
                customer_number=ctx.meter_customer_number,
                issued_at=self.now(),
                new_meter_number=meter_number(new_meter),
                user_card_serial=current,
            )
            written = await self.reader.write(card, expect_serial=current)
            await self.db.write(
                _record_change_card, actor, account_id, current, ctx.meter, new_meter
            )
            return CardWriteResult(current, str(CardKind.METER_CHANGE), written)

    async def replacement_purchase(
        self,
        actor: Actor,
        account_id: int,
        new_meter_id: int,
        amount_fen: int,
        key: str,
        *,
        compensation: int | None = None,
    ) -> CardSaleResult:
        """【换表购电（IC卡）】: the account moves to the new meter with what remained on the old
        one (the compensation) and a purchase (which may be 0).

        With the **user card** in the reader the compensation comes from its return file (the
        old meter's state at its last write-back, plus purchases sold but never loaded), or from
        ``compensation`` when the operator read the old meter's display; the card is rewritten
        as an open card for the new meter carrying compensation + purchase. With the
        **meter-change card** back from both meters, the meters moved the value themselves:
        the replacement is booked and the card becomes the user card for the new meter with the
        purchase.
        """
        actor.require("sales.replace")
        if (done := await self._repeated(key)) is not None:
            return done
        self.check_amount(amount_fen, allow_zero=True)
        if compensation is not None and (isinstance(compensation, bool) or compensation < 0):
            raise ServiceError("E502", "compensation must be ≥ 0", field="compensation")
        async with self.lock:
            ctx = await self.context(account_id)
            new_meter = await self._new_meter(ctx, new_meter_id)
            probe = await self.probe()
            content = probe.content
            current = await self.db.read(card_records.current_serial, account_id)
            if content is None or current is None or probe.serial != current:
                raise _not_the_card(probe, current)
            issue = content.issue
            async with AsyncExitStack() as stack:
                for meter_id in sorted((ctx.meter.id, new_meter.id)):
                    await stack.enter_async_context(self.vending.lock(meter_id))
                ctx = await self.context(account_id)
                if isinstance(issue, UserCard):
                    await self._check_owner(ctx, issue)
                    vend, created = await self._replace_with_user_card(
                        actor, ctx, new_meter, content, amount_fen, key, compensation
                    )
                elif isinstance(issue, MeterChangeCard):
                    vend, created = await self._replace_with_change_card(
                        actor, ctx, new_meter, content, amount_fen, key
                    )
                else:
                    raise NotAUserCardError(f"this is a {issue.card_type.name.lower()} card")
                return await self._write_sale(vend, fresh=created)

    async def _replace_with_user_card(
        self,
        actor: Actor,
        ctx: AccountContext,
        new_meter: Meter,
        content: CardContent,
        amount_fen: int,
        key: str,
        compensation: int | None,
    ) -> tuple[Vend, bool]:
        card = content.issue
        assert isinstance(card, UserCard)
        old_state: dict[str, Any] = {}
        if compensation is None:
            ret = content.require_return()
            if (
                ret.meter_number != meter_number(ctx.meter)
                or ret.customer_number != ctx.meter_customer_number
            ):
                raise ReturnNotWrittenError(
                    f"the card's return data is from meter {ret.meter_number}, not from the "
                    f"customer's meter {meter_number(ctx.meter)}: insert it there first"
                )
            unloaded = await self.db.read(
                card_records.unloaded_sales, ctx.account.id, ctx.meter.id, ret.purchase_count
            )
            value_unloaded = sum(card_records.load_value(v) for v in unloaded)
            comp = max(ret.remaining_fen - ret.overdraft_fen, 0) + value_unloaded
            source = "card"
            old_state = {"remaining": ret.remaining_fen, "overdraft": ret.overdraft_fen,
                         "purchase_count": ret.purchase_count, "unloaded": value_unloaded,
                         "written_at": ret.written_at.isoformat()}  # fmt: skip
        else:
            comp, source = compensation, "operator"
        energy, remainder = self.convert(ctx, amount_fen)
        value = energy if ctx.energy_wallet else amount_fen
        self.check_hoarding(ctx, comp, value)
        comp_fen, comp_cwh = (0, comp) if ctx.energy_wallet else (comp, 0)
        now = self.now()

        def image(serial: int) -> UserCard:
            return UserCard(
                serial=serial,
                meter_number=meter_number(new_meter),
                customer_number=ctx.meter_customer_number,
                issued_at=now,
                kind=UserCardKind.OPEN,
                purchase_count=1,
                amount_fen=value + comp,
            )

        return await self._create(
            actor, ctx, key, VendKind.REPLACEMENT, amount_fen, energy, remainder, image,
            count_before=0, mode="same", serial=card.serial, previous=self._image(content),
            meter=new_meter,
            extra={"old_meter_id": ctx.meter.id, "old_meter_address": ctx.meter.address,
                   "compensation_fen": comp_fen, "compensation_cwh": comp_cwh,
                   "compensation_source": source, "old_meter_state": old_state},
        )  # fmt: skip

    async def _replace_with_change_card(
        self,
        actor: Actor,
        ctx: AccountContext,
        new_meter: Meter,
        content: CardContent,
        amount_fen: int,
        key: str,
    ) -> tuple[Vend, bool]:
        card = content.issue
        assert isinstance(card, MeterChangeCard)
        new_number = meter_number(new_meter)
        if card.new_meter_number != new_number:
            raise ServiceError(
                "E523", f"the meter-change card is for new meter {card.new_meter_number}, "
                f"not {new_number}",
            )  # fmt: skip
        ret = content.require_return()
        if ret.outcome is MeterOutcome.TRANSFERRED_OUT:
            raise ReturnNotWrittenError(
                "the old meter has read out the card: insert it in the new meter now"
            )
        if (
            ret.outcome is not MeterOutcome.REPLACED
            or ret.meter_number != new_number
            or ret.customer_number != ctx.meter_customer_number
        ):
            raise ReturnNotWrittenError(
                "the meter-change card has not been through the old and the new meter yet"
            )
        energy, remainder = self.convert(ctx, amount_fen)
        value = energy if ctx.energy_wallet else amount_fen
        self.check_hoarding(ctx, ret.remaining_fen, value)
        carried = max(ret.remaining_fen - ret.overdraft_fen, 0)
        comp_fen, comp_cwh = (0, carried) if ctx.energy_wallet else (carried, 0)
        count = ret.purchase_count
        now = self.now()

        def image(serial: int) -> UserCard:
            return UserCard(
                serial=serial,
                meter_number=new_number,
                customer_number=ctx.meter_customer_number,
                issued_at=now,
                kind=UserCardKind.PURCHASE,
                purchase_count=count + 1 if value else count,
                amount_fen=value,
            )

        return await self._create(
            actor, ctx, key, VendKind.REPLACEMENT, amount_fen, energy, remainder, image,
            count_before=count, mode="same", serial=card.serial, previous=self._image(content),
            meter=new_meter, counts=value > 0,
            extra={"old_meter_id": ctx.meter.id, "old_meter_address": ctx.meter.address,
                   "compensation_fen": comp_fen, "compensation_cwh": comp_cwh,
                   "compensation_source": "meter_change_card",
                   "old_meter_state": {"remaining": ret.remaining_fen,
                                       "overdraft": ret.overdraft_fen, "purchase_count": count,
                                       "written_at": ret.written_at.isoformat()}},
        )  # fmt: skip

    # ---- shared ----------------------------------------------------------------------------------
    def _image(self, content: CardContent) -> str:
        """The card's issue file as it is now (hex): what abandoning a write puts back."""
        return encode_issue(content.issue, self.reader.key).hex()

    async def _new_meter(self, ctx: AccountContext, new_meter_id: int) -> Meter:
        new_meter = await self.db.read(meter_repo.get, new_meter_id)
        if new_meter.id == ctx.meter.id:
            raise ServiceError("E502", "the new meter is the customer's current meter")
        new_type = await self.db.read(metertypes.get, new_meter.type_id)
        if str(new_type.wallet_model) != "meter":
            raise ServiceError("E512", f"meter {new_meter.address} has no wallet for cards")
        holder = await self.db.read(card_records.open_account_on, new_meter.id)
        if holder is not None and holder.id != ctx.account.id:
            raise ServiceError("E510", f"meter {new_meter.address} belongs to account {holder.id}")
        return new_meter

    async def _check_owner(self, ctx: AccountContext, card: UserCard) -> None:
        current = await self.db.read(card_records.current_serial, ctx.account.id)
        if current != card.serial or card.customer_number != ctx.meter_customer_number:
            raise ServiceError(
                "E524",
                f"card {card.serial} (customer {card.customer_number}); the account's card is "
                f"{current} (customer {ctx.meter_customer_number})",
            )
        pending = await self.db.read(card_records.vend_for_serial, card.serial)
        if pending is not None:
            raise ServiceError(
                "E520", f"card operation {pending.id} on this card is not finished",
                vend_id=pending.id,
            )  # fmt: skip

    async def _create(
        self,
        actor: Actor,
        ctx: AccountContext,
        key: str,
        kind: VendKind,
        amount_fen: int,
        energy: int,
        remainder: int | None,
        image: Callable[[int], UserCard],
        *,
        count_before: int,
        mode: str,
        serial: int | None = None,
        previous: str | None = None,
        meter: Meter | None = None,
        counts: bool = True,
        extra: Mapping[str, Any] | None = None,
    ) -> tuple[Vend, bool]:
        """Allocate a serial (new cards) and commit the pending vend with its card image."""
        target = meter or ctx.meter

        def create(c: Conn) -> tuple[Vend, bool]:
            existing = vends.get_by_key(c, key)
            if existing is not None:
                return existing, False  # a concurrent request with this key won the race
            card = image(card_records.next_serial(c) if serial is None else serial)
            request: dict[str, Any] = {
                "op": "sale",
                "card": card_records.card_to_json(card),
                "card_serial": card.serial,
                "write_mode": mode,
                "previous_issue": previous,
                "tariff_version_id": ctx.version.id,
                "remainder_fen": remainder,
                "previous_remainder_fen": ctx.balance.remainder_fen if ctx.energy_wallet else 0,
                "load_value": card.amount_fen,
                "customer_number": ctx.meter_customer_number,
                "meter_id": target.id,
                "meter_address": target.address,
                "actor": actor.name,
                "actor_channel": actor.channel,
                **(extra or {}),
            }
            return card_records.create_vend(
                c,
                NewVend(
                    idempotency_key=key,
                    kind=kind,
                    channel=VendChannel.CARD,
                    account_id=ctx.account.id,
                    amount_fen=amount_fen,
                    energy_cwh=energy,
                    meter_id=target.id,
                    operator_id=actor.operator_id,
                    count_before=count_before,
                    count_target=card.purchase_count if counts else None,
                    request=request,
                ),
                superseding=kind is VendKind.CARD_REISSUE,
            )

        return await self.db.write(create)

    async def _write_sale(self, vend: Vend, *, fresh: bool) -> CardSaleResult:
        """Write the vend's card image, read it back, book it (see the module docstring)."""
        if vend.finished:
            return sale_result(vend, repeated=not fresh)
        card = card_records.intended_card(vend)
        if vend.state is not VendState.SENT:
            vend = await self.db.write(records.mark, vend.id, VendState.SENT)
        blank = vend.request.get("write_mode") == "blank"
        try:
            written = await self.reader.write(
                card, require_blank=blank, expect_serial=None if blank else card.serial
            )
        except CardError as exc:
            await self._write_failed(vend, exc, fresh=fresh)
        if written.issue != card:
            mismatch = CardError("the card read back something else than was written")
            await self._write_failed(vend, mismatch, fresh=False)
        return await self._confirm(vend, repeated=not fresh)

    async def _write_failed(self, vend: Vend, exc: CardError, *, fresh: bool) -> NoReturn:
        """Fail a vend whose card is untouched; anything else is uncertain until the card is
        seen again. Always raises."""
        text = f"{exc.code} {exc}"
        if fresh and isinstance(exc, NOTHING_WRITTEN):
            await self.db.write(records.fail, vend.id, text, records.actor_of(vend), "card.failed")
            raise exc
        await self.db.write(records.mark, vend.id, VendState.UNCERTAIN, text)
        raise ServiceError("E520", text, vend_id=vend.id) from exc

    async def _confirm(self, vend: Vend, *, repeated: bool = False) -> CardSaleResult:
        confirm = (
            card_records.confirm_reissue
            if vend.kind is VendKind.CARD_REISSUE
            else card_records.confirm_sale
        )
        await self.db.write(confirm, vend.id, self.clock)
        return sale_result(await self.db.read(vends.get, vend.id), repeated=repeated)

    async def _repeated(self, key: str) -> CardSaleResult | None:
        existing = await self.db.read(vends.get_by_key, key)
        if existing is None:
            return None
        if existing.channel is not VendChannel.CARD or existing.kind not in SALE_KINDS:
            raise ServiceError(
                "E513", f"key {key!r} belongs to vend {existing.id}", vend_id=existing.id
            )
        if existing.finished:
            return sale_result(existing, repeated=True)
        return await self._settle_sale(existing.id, repeated=True)

    # ---- finishing and abandoning ----------------------------------------------------------------
    async def _settle_sale(self, vend_id: int, *, repeated: bool = False) -> CardSaleResult:
        """Finish an unfinished card sale with its card in the reader: confirm what the card
        already holds, or write the same image again. E408 for any other card."""
        async with self.lock:
            vend = await self.db.read(vends.get, vend_id)
            async with self.vending.lock(vend.meter_id or 0):
                vend = await self.db.read(vends.get, vend_id)
                if vend.finished:
                    return sale_result(vend, repeated=repeated)
                card = card_records.intended_card(vend)
                probe = await self.probe()
                if probe.content is not None and probe.content.issue == card:
                    return await self._confirm(vend, repeated=repeated)
                blank_ok = vend.request.get("write_mode") == "blank" and probe.blank
                if probe.serial != card.serial and not blank_ok:
                    raise WrongCardError(
                        f"insert the card this operation writes (serial {card.serial}); the "
                        f"reader holds {'a blank card' if probe.blank else probe.serial}"
                    )
                result = await self._write_sale(vend, fresh=False)
        return CardSaleResult(**{**result.__dict__, "repeated": repeated})

    async def _abandon_sale(self, actor: Actor, vend_id: int) -> CardSaleResult:
        """Give up an unfinished card sale: the card is put back as it was and the vend fails.

        Only with the card itself in the reader: a card that already holds the sale is booked
        instead (it could credit the meter), and a blank card proves nothing (the written card
        may be elsewhere), so it is refused.
        """
        async with self.lock:
            vend = await self.db.read(vends.get, vend_id)
            async with self.vending.lock(vend.meter_id or 0):
                vend = await self.db.read(vends.get, vend_id)
                if vend.finished:
                    return sale_result(vend)
                card = card_records.intended_card(vend)
                probe = await self.probe()
                if probe.content is not None and probe.content.issue == card:
                    return await self._confirm(vend)
                if probe.serial != card.serial:
                    raise WrongCardError(
                        f"insert the card this operation wrote (serial {card.serial}); a blank "
                        "card cannot show the write did not happen: repeat the operation instead"
                    )
                previous = vend.request.get("previous_issue")
                if previous is None:
                    await self.reader.clear(expect_serial=card.serial)  # it was a blank card
                else:
                    before = decode_issue(bytes.fromhex(str(previous)), self.reader.key)
                    if before is not None and (
                        probe.content is None or probe.content.issue != before
                    ):
                        await self.reader.write(before, expect_serial=card.serial)
                await self.db.write(
                    records.fail, vend.id, "abandoned by the operator; the card was put back",
                    actor, "card.abandoned",
                )  # fmt: skip
                return sale_result(await self.db.read(vends.get, vend_id))


def _require_loaded(content: CardContent) -> None:
    """F3.1: no new sale on a card whose last purchase the meter has not taken."""
    if content.ret_damaged:
        raise ServiceError(
            "E522", "the card's return data is damaged (pulled out of the meter too early): "
            "insert it in the meter again",
        )  # fmt: skip
    if content.ret is None:
        raise ServiceError("E522", "the card has not been in the meter since it was written")
    if not purchase_loaded(content):
        issue = content.issue
        count = issue.purchase_count if isinstance(issue, UserCard) else None
        raise ServiceError(
            "E522", f"the card carries purchase {count}; the meter last wrote back count "
            f"{content.ret.purchase_count} (meter {content.ret.meter_number})",
        )  # fmt: skip


def _not_the_card(probe: CardProbe, current: int | None) -> Exception:
    """Why the card in the reader is not the account's user card, as the clearest error."""
    if probe.error is not None and not probe.incomplete:
        return probe.error  # E410 tampered or another site's, E406 unknown
    if probe.serial is None:
        return NotAUserCardError("the card is blank or not a card of this system")
    if current is None:
        return ServiceError("E524", "the account has no user card yet: reissue one (F2.2)")
    return ServiceError("E524", f"card {probe.serial}; the account's card is {current}")


def _view(c: Conn, content: CardContent) -> UserCardView:
    serial = content.issue.serial
    account_id = card_records.account_of_serial(c, serial)
    current = account_id is not None and card_records.current_serial(c, account_id) == serial
    pending = card_records.vend_for_serial(c, serial)
    return UserCardView(
        content,
        account_id,
        current,
        purchase_loaded(content),
        None if pending is None else pending.id,
    )


def _record_change_card(
    c: Conn, actor: Actor, account_id: int, serial: int, old: Meter, new: Meter
) -> None:
    card_records.record_card(
        c,
        actor,
        kind=CardKind.METER_CHANGE,
        action="card.meter_change",
        serial=serial,
        account_id=account_id,
        meter_address=old.address,
        detail={"new_meter": new.address},
    )
