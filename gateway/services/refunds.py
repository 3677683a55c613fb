"""F3.3 close account with refund (comm, and gateway wallet): read, clear, pay out, close.

The order mirrors vending: read the meter's remaining value, commit a *pending* refund vend with
that reading, clear the meter (1AH), read it back; only a cleared meter confirms the refund
(ledger row, refund record, account closed, receipt, events in one transaction). A meter that
cannot be cleared closes nothing: the customer is not paid for credit the meter still holds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from gateway.billing import Lot, energy_refund, money_refund
from gateway.link.errors import LinkError
from gateway.meters.driver import MeterDriver, WalletState
from gateway.meters.errors import MeterDriverError
from gateway.services import records, wallet_enforcement
from gateway.services.actor import Actor
from gateway.services.context import AccountContext, load
from gateway.services.errors import ServiceError
from gateway.services.meter_access import MeterAccess
from gateway.services.vending import Vending
from gateway.siteclock import SiteClock
from gateway.store import customers, ledger, oplog, receipts, refunds, vends
from gateway.store.conn import Conn
from gateway.store.customers import CloseReason
from gateway.store.database import Database
from gateway.store.ledger import LedgerKind, NewEntry
from gateway.store.receipts import NewReceipt, ReceiptKind
from gateway.store.refunds import NewRefund
from gateway.store.vends import NewVend, Vend, VendChannel, VendKind, VendState
from gateway.sync.outbox import add_event

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefundResult:
    vend_id: int
    state: str
    refund_fen: int  # paid to the customer
    owed_fen: int  # the customer owes (a meter in overdraft)
    receipt_number: int | None
    repeated: bool = False

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _result(vend: Vend, repeated: bool = False) -> RefundResult:
    number = vend.result.get("receipt_number")
    return RefundResult(
        vend.id,
        str(vend.state),
        vend.amount_fen,
        int(vend.request.get("owed_fen", 0)),
        int(number) if number else None,
        repeated,
    )


def _energy_lots(c: Conn, account_id: int) -> list[Lot]:
    """Purchase lots (energy and what was paid for it) from the account's sales, oldest first.

    The sale row's amount is the cost of its energy plus the remainder carried forward; the
    remainder is under one unit, so the lot is valued at the amount paid, as the reference asks.
    """
    return [
        Lot(f"ledger:{entry.id}", entry.energy_cwh, entry.amount_fen)
        for entry in ledger.for_account(c, account_id)
        if entry.kind is LedgerKind.SALE and entry.energy_cwh > 0
    ]


def confirm_refund(c: Conn, vend_id: int, clock: SiteClock) -> int:
    """vend → confirmed, refund row + record, account closed, receipt, log, events."""
    vend = vends.get(c, vend_id)
    if vend.state is VendState.CONFIRMED:
        return int(vend.result.get("receipt_number", 0))
    req = vend.request
    actor = records.actor_of(vend)
    ctx = load(c, vend.account_id, clock, require_open=False, period_use=False)
    if vend.state is VendState.PENDING:
        vends.transition(c, vend_id, VendState.SENT)
    ledger_id: int | None = None
    if vend.amount_fen > 0:
        ledger_id = ledger.append(
            c,
            NewEntry(
                account_id=ctx.account.id,
                kind=LedgerKind.REFUND,
                amount_fen=-vend.amount_fen,
                energy_cwh=-int(req.get("remaining_cwh", 0)),
                meter_id=ctx.meter.id,
                vend_id=vend_id,
                operator_id=actor.operator_id,
                detail={"fee_fen": int(req.get("fee_fen", 0))},
            ),
        ).id
    else:
        # Nothing to pay: a zero-value row keeps the closure in the ledger's own history.
        ledger_id = ledger.append(
            c,
            NewEntry(
                account_id=ctx.account.id,
                kind=LedgerKind.REFUND,
                amount_fen=0,
                meter_id=ctx.meter.id,
                vend_id=vend_id,
                operator_id=actor.operator_id,
                detail={"owed_fen": int(req.get("owed_fen", 0))},
            ),
        ).id
    refunds.record(
        c,
        NewRefund(
            account_id=ctx.account.id,
            ledger_id=ledger_id,
            refund_fen=vend.amount_fen,
            meter_remaining_fen=int(req.get("remaining_fen", 0)),
            meter_remaining_cwh=int(req.get("remaining_cwh", 0)),
            unloaded_fen=int(req.get("unloaded_fen", 0)),
            overdraft_fen=int(req.get("overdraft_fen", 0)),
            fee_fen=int(req.get("fee_fen", 0)),
            vend_id=vend_id,
            operator_id=actor.operator_id,
            valuation=dict(req.get("valuation", {})),
        ),
    )
    if ctx.account.is_open:
        customers.close_account(c, ctx.account.id, CloseReason.REFUND)
    content = records.receipt_content(
        c,
        ctx,
        actor,
        kind="refund",
        amount_fen=vend.amount_fen,
        extra={
            "refund_fen": vend.amount_fen,
            "owed_fen": int(req.get("owed_fen", 0)),
            "fee_fen": int(req.get("fee_fen", 0)),
            "meter_remaining_fen": int(req.get("remaining_fen", 0)),
            "meter_remaining_cwh": int(req.get("remaining_cwh", 0)),
        },
    )
    receipt = receipts.issue(
        c,
        NewReceipt(
            kind=ReceiptKind.REFUND,
            account_id=ctx.account.id,
            vend_id=vend_id,
            ledger_id=ledger_id,
            operator_id=actor.operator_id,
            content=content,
        ),
    )
    vends.transition(
        c,
        vend_id,
        VendState.CONFIRMED,
        result={"ledger_id": ledger_id, "receipt_number": receipt.number},
    )
    oplog.append(
        c,
        "refund.close",
        operator_id=actor.operator_id,
        operator_name=actor.name,
        target=f"account:{ctx.account.id}",
        detail={"vend_id": vend_id, "refund_fen": vend.amount_fen, "receipt": receipt.number},
    )
    add_event(
        c,
        "refunds",
        {
            "refund_id": str(ledger_id),
            "account_id": str(ctx.account.id),
            "meter": ctx.meter.address,
            "amount_fen": vend.amount_fen,
            "fee_fen": int(req.get("fee_fen", 0)),
            "tariff_version": str(ctx.version.id),
            "reason": "close",
            "operator": actor.name,
        },
        c.now(),
    )
    add_event(
        c,
        "accounts",
        {
            "account_id": str(ctx.account.id),
            "action": "closed",
            "customer_id": str(ctx.customer.id),
            "meter": ctx.meter.address,
            "reason": "refund",
            "operator": actor.name,
        },
        c.now(),
    )
    return receipt.number


class Refunds:
    def __init__(self, db: Database, meters: MeterAccess, clock: SiteClock, vending: Vending):
        self.db = db
        self.meters = meters
        self.clock = clock
        self.vending = vending  # shares the per-meter locks

    async def refund_and_close(
        self, actor: Actor, account_id: int, key: str, *, fee_fen: int = 0
    ) -> RefundResult:
        actor.require("sales.refund")
        existing = await self.db.read(vends.get_by_key, key)
        if existing is not None:
            if not existing.finished:
                return await self.settle(existing.id, repeated=True)
            return _result(existing, repeated=True)
        if fee_fen < 0:
            raise ServiceError("E502", "fee must not be negative", field="fee")
        ctx = await self.db.read(load, account_id, self.clock)
        if ctx.gateway_wallet:
            return await self._gateway_wallet_refund(actor, ctx, key, fee_fen)
        async with self.vending.lock(ctx.meter.id):
            driver = self.meters.driver(ctx.meter, ctx.meter_type)
            status = await self._read(driver)
            request = await self._valuation(ctx, status, fee_fen)
            new = NewVend(
                idempotency_key=key,
                kind=VendKind.REFUND,
                channel=VendChannel.COMM,
                account_id=account_id,
                amount_fen=request["payout_fen"],
                meter_id=ctx.meter.id,
                operator_id=actor.operator_id,
                count_before=status.purchase_count,
                request={**request, "actor": actor.name, "actor_channel": actor.channel,
                         "meter_address": ctx.meter.address},
            )  # fmt: skip
            vend, _ = await self.db.write(vends.create, new)
            vend = await self.db.write(records.mark, vend.id, VendState.SENT)
            return await self._clear_and_confirm(vend, driver)

    async def _valuation(
        self, ctx: AccountContext, status: WalletState, fee_fen: int
    ) -> dict[str, Any]:
        overdraft = status.overdraft or 0
        if ctx.energy_wallet:
            lots = await self.db.read(_energy_lots, ctx.account.id)
            refund = energy_refund(status.remaining, lots, fees=fee_fen)
            payout, owed = refund.payout, refund.owed
            return {"payout_fen": payout, "owed_fen": owed, "remaining_cwh": status.remaining,
                    "remaining_fen": 0, "overdraft_fen": 0, "fee_fen": fee_fen,
                    "valuation": {"kind": "energy_fifo"}}  # fmt: skip
        money = money_refund(status.remaining, overdraft=overdraft, fees=fee_fen)
        return {"payout_fen": money.payout, "owed_fen": money.owed,
                "remaining_fen": status.remaining, "remaining_cwh": 0, "overdraft_fen": overdraft,
                "fee_fen": fee_fen, "valuation": {"kind": "money"}}  # fmt: skip

    async def _read(self, driver: MeterDriver) -> WalletState:
        try:
            return await driver.wallet_status()
        except (LinkError, MeterDriverError) as exc:
            raise ServiceError("E507", f"meter {driver.address}: {exc}") from exc

    async def _clear_and_confirm(self, vend: Vend, driver: MeterDriver) -> RefundResult:
        try:
            await driver.meter_clear()
        except (LinkError, MeterDriverError) as exc:
            log.info("refund vend %s: clear gave %s; reading back", vend.id, exc)
        try:
            after = await driver.wallet_status()
        except (LinkError, MeterDriverError) as exc:
            await self.db.write(records.mark, vend.id, VendState.UNCERTAIN, f"E506 {exc}")
            raise ServiceError("E506", f"refund {vend.id}: meter silent", vend_id=vend.id) from exc
        if after.remaining != 0 or after.purchase_count != 0:
            await self.db.write(
                records.fail, vend.id, f"E003 meter not cleared (remaining {after.remaining}, "
                f"count {after.purchase_count})", records.actor_of(vend), "refund.not_cleared",
            )  # fmt: skip
            raise ServiceError(
                "E003", "the meter was not cleared; nothing refunded", vend_id=vend.id
            )
        await self.db.write(confirm_refund, vend.id, self.clock)
        return _result(await self.db.read(vends.get, vend.id))

    async def settle(self, vend_id: int, *, repeated: bool = False) -> RefundResult:
        vend = await self.db.read(vends.get, vend_id)
        if vend.finished or vend.meter_id is None:
            return _result(vend, repeated)
        ctx = await self.db.read(load, vend.account_id, self.clock, require_open=False)
        driver = self.meters.driver(ctx.meter, ctx.meter_type)
        async with self.vending.lock(ctx.meter.id):
            if vend.state is VendState.PENDING or vend.state is VendState.UNCERTAIN:
                vend = await self.db.write(records.mark, vend.id, VendState.SENT)
            try:
                result = await self._clear_and_confirm(vend, driver)
            except ServiceError as exc:
                log.warning("refund %s not settled: %s", vend_id, exc)
                return _result(await self.db.read(vends.get, vend_id), repeated)
        return RefundResult(**{**result.__dict__, "repeated": repeated})

    async def _gateway_wallet_refund(
        self, actor: Actor, ctx: AccountContext, key: str, fee_fen: int
    ) -> RefundResult:
        """The gateway holds the money: pay out the customer's net position (balance less
        friendly-credit debt and emergency credit owed), then trip the relay."""
        clock = self.clock

        def book(c: Conn) -> Vend:
            existing = vends.get_by_key(c, key)
            if existing is not None:
                return existing
            net = wallet_enforcement.settle(c, ctx.account.id, reason="refund").net_fen
            payout = max(net - fee_fen, 0)
            owed = max(fee_fen - net, 0)
            vend, _ = vends.create(
                c,
                NewVend(
                    idempotency_key=key,
                    kind=VendKind.REFUND,
                    channel=VendChannel.GATEWAY_WALLET,
                    account_id=ctx.account.id,
                    amount_fen=payout,
                    meter_id=ctx.meter.id,
                    operator_id=actor.operator_id,
                    request={"payout_fen": payout, "owed_fen": owed, "remaining_fen": net,
                             "fee_fen": fee_fen, "actor": actor.name,
                             "actor_channel": actor.channel, "meter_address": ctx.meter.address},
                ),
            )  # fmt: skip
            confirm_refund(c, vend.id, clock)
            return vends.get(c, vend.id)

        vend = await self.db.write(book)
        try:
            driver = self.meters.driver(ctx.meter, ctx.meter_type)
            from gateway.dlt645.commands import RelayAction

            await driver.relay(RelayAction.TRIP)
        except (LinkError, MeterDriverError) as exc:
            log.warning("account %s closed but relay not tripped: %s", ctx.account.id, exc)
        return _result(vend)
