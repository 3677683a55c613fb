"""Exactly-once vending to meter wallets over DL/T 645 (DESIGN invariant 3).

The order of every purchase, and why:
1. Read the meter's purchase count n ("read parameters"): the idempotency key on the meter side.
2. Commit a *pending* vend targeting count n+1 before any byte goes out.
3. Commit *sent*, then send 03H with count n+1 (the driver never retries it by itself).
4. Applied, or SERR "repeated recharge" (n+1 was credited before) → commit *confirmed* together
   with the ledger row, receipt, operation log and outbox event (records.confirm).
   Refused → *failed*, nothing booked. No clear answer → *uncertain*, then read the count:
   n+1 → confirmed; still n → safe to resend the same frame; anything else → failed, flagged.
A crash anywhere leaves a vend that ``recover`` settles the same way at the next start.
One asyncio lock per meter keeps two operators (or the web and the cloud) from both targeting
n+1; the database refuses it too (records.create_vend).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.billing import BillingError, money_to_energy
from gateway.link.errors import LinkError
from gateway.meters import RechargeOutcome
from gateway.meters.driver import MeterDriver, WalletState
from gateway.meters.errors import (
    MeterDriverError,
    RechargeOutcomeUnknownError,
    RechargeRefusedError,
)
from gateway.services import crashpoints, records
from gateway.services.actor import Actor
from gateway.services.context import AccountContext, load
from gateway.services.errors import ServiceError
from gateway.services.meter_access import MeterAccess
from gateway.siteclock import SiteClock
from gateway.store import meters as meter_repo
from gateway.store import metertypes, vends
from gateway.store.database import Database
from gateway.store.vends import NewVend, Vend, VendChannel, VendKind, VendState

log = logging.getLogger(__name__)

MAX_AMOUNT_FEN = 99_999_999  # 999 999.99 yuan: what a meter register holds
_REFUSAL_CODE = {VendKind.OPEN: "E001", VendKind.REPLACEMENT: "E005"}
PURCHASE_KINDS = frozenset({VendKind.OPEN, VendKind.DAILY, VendKind.REPLACEMENT})


@dataclass(frozen=True)
class SaleResult:
    vend_id: int
    state: str  # confirmed | failed | uncertain
    amount_fen: int
    energy_cwh: int
    remainder_fen: int
    purchase_count: int | None
    receipt_number: int | None
    meter_address: str
    repeated: bool = False  # the idempotency key was seen before: this is the first result
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "vend_id": self.vend_id,
            "state": self.state,
            "amount_fen": self.amount_fen,
            "energy_cwh": self.energy_cwh,
            "remainder_fen": self.remainder_fen,
            "purchase_count": self.purchase_count,
            "receipt_number": self.receipt_number,
            "meter": self.meter_address,
            "repeated": self.repeated,
            "error": self.error,
        }


def result_of(vend: Vend, *, repeated: bool = False) -> SaleResult:
    req = vend.request
    number = vend.result.get("receipt_number")
    return SaleResult(
        vend_id=vend.id,
        state=str(vend.state),
        amount_fen=vend.amount_fen,
        energy_cwh=vend.energy_cwh,
        remainder_fen=int(req.get("remainder_fen") or 0),
        purchase_count=vend.count_after if vend.count_after is not None else vend.count_target,
        receipt_number=int(number) if number else None,
        meter_address=str(req.get("meter_address", "")),
        repeated=repeated,
        error=vend.error,
    )


class Vending:
    """The meter-wallet purchases of the manual: open account, daily, replacement (comm)."""

    def __init__(
        self,
        db: Database,
        meters: MeterAccess,
        clock: SiteClock,
        *,
        resend_limit: int = 2,
        settle_reads: int = 3,
        settle_pause_s: float = 0.5,
    ) -> None:
        self.db = db
        self.meters = meters
        self.clock = clock
        self.resend_limit = resend_limit
        self.settle_reads = settle_reads
        self.settle_pause_s = settle_pause_s
        self._locks: dict[int, asyncio.Lock] = {}

    def lock(self, meter_id: int) -> asyncio.Lock:
        return self._locks.setdefault(meter_id, asyncio.Lock())

    # --- the use cases -------------------------------------------------------------------------

    async def open_purchase(
        self, actor: Actor, account_id: int, amount_fen: int, key: str, *, command_id: str = ""
    ) -> SaleResult:
        """F2.1 open-account purchase (comm): the meter must be new (count 0), else E001."""
        actor.require("sales.open")
        return await self._purchase(actor, account_id, amount_fen, key, VendKind.OPEN, command_id)

    async def daily_purchase(
        self, actor: Actor, account_id: int, amount_fen: int, key: str, *, command_id: str = ""
    ) -> SaleResult:
        """F3.1 daily purchase (comm): count n → n+1."""
        actor.require("sales.daily")
        return await self._purchase(actor, account_id, amount_fen, key, VendKind.DAILY, command_id)

    async def replacement_purchase(
        self,
        actor: Actor,
        account_id: int,
        new_meter_id: int,
        amount_fen: int,
        key: str,
        *,
        manual_compensation_fen: int | None = None,
        manual_compensation_cwh: int | None = None,
    ) -> SaleResult:
        """F4.1 replacement purchase (comm): what remained on the old meter (compensation) plus
        the purchase goes to the new meter, which must be new (count 0), else E005.

        The old meter is read if it answers; a dead meter's remainder is entered by the operator
        (``manual_compensation_*``) and recorded as such.
        """
        actor.require("sales.replace")
        repeated = await self._repeated(key)
        if repeated is not None:
            return repeated
        if amount_fen < 0 or amount_fen > MAX_AMOUNT_FEN:
            raise ServiceError("E502", "amount out of range", field="amount")
        ctx = await self.db.read(load, account_id, self.clock)
        new_meter = await self.db.read(meter_repo.get, new_meter_id)
        new_type = await self.db.read(metertypes.get, new_meter.type_id)
        old_state: dict[str, Any] = {}
        source = "meter"
        if manual_compensation_fen is not None or manual_compensation_cwh is not None:
            comp_fen = manual_compensation_fen or 0
            comp_cwh = manual_compensation_cwh or 0
            source = "operator"
        else:
            old_driver = self.meters.driver(ctx.meter, ctx.meter_type)
            try:
                old = await old_driver.wallet_status()
            except (LinkError, MeterDriverError) as exc:
                raise ServiceError(
                    "E507",
                    f"old meter {ctx.meter.address} does not answer ({exc}); enter its remaining "
                    f"value by hand to replace it",
                    field="compensation",
                ) from exc
            overdraft = old.overdraft or 0
            remaining = max(old.remaining - overdraft, 0)
            comp_fen, comp_cwh = (0, remaining) if ctx.energy_wallet else (remaining, 0)
            old_state = {"remaining": old.remaining, "purchase_count": old.purchase_count,
                         "overdraft": overdraft}  # fmt: skip
        if comp_fen < 0 or comp_cwh < 0:
            raise ServiceError("E502", "compensation must not be negative", field="compensation")
        await self._settle_meter(new_meter.id)
        async with self.lock(new_meter.id):
            driver = self.meters.driver(new_meter, new_type)
            status = await self._read_wallet(driver)
            if status.purchase_count != 0:
                raise ServiceError(
                    "E005", f"new meter {new_meter.address} has purchase count "
                    f"{status.purchase_count}",
                )  # fmt: skip
            energy, remainder = self._convert(ctx, amount_fen)
            load_value = (energy + comp_cwh) if ctx.energy_wallet else (amount_fen + comp_fen)
            new = self._new_vend(
                actor, ctx, key, VendKind.REPLACEMENT, amount_fen, energy, remainder, status,
                count_target=1, load_value=load_value, meter_id=new_meter.id,
                meter_address=new_meter.address,
                extra={"old_meter_id": ctx.meter.id, "old_meter_address": ctx.meter.address,
                       "compensation_fen": comp_fen, "compensation_cwh": comp_cwh,
                       "compensation_source": source, "old_meter_state": old_state},
            )  # fmt: skip
            vend = await self._create(new)
            return await self._send(vend, driver)

    # --- shared path ---------------------------------------------------------------------------

    async def _repeated(self, key: str) -> SaleResult | None:
        existing = await self.db.read(vends.get_by_key, key)
        if existing is None:
            return None
        if not existing.finished:
            return await self.settle(existing.id, repeated=True)
        return result_of(existing, repeated=True)

    async def _purchase(
        self,
        actor: Actor,
        account_id: int,
        amount_fen: int,
        key: str,
        kind: VendKind,
        command_id: str,
    ) -> SaleResult:
        repeated = await self._repeated(key)
        if repeated is not None:
            return repeated
        if not 0 < amount_fen <= MAX_AMOUNT_FEN:
            raise ServiceError("E502", "amount must be between 0.01 and 999999.99", field="amount")
        ctx = await self.db.read(load, account_id, self.clock)
        if ctx.gateway_wallet:
            raise ServiceError("E512", "gateway-wallet accounts are sold through GatewayWallet")
        await self._settle_meter(ctx.meter.id)
        async with self.lock(ctx.meter.id):
            # Priced from a snapshot taken under the lock: a sale that just finished on this
            # account has moved the tier position and the remainder.
            ctx = await self.db.read(load, account_id, self.clock)
            driver = self.meters.driver(ctx.meter, ctx.meter_type)
            status = await self._read_wallet(driver)
            if kind is VendKind.OPEN:
                if status.purchase_count != 0:
                    raise ServiceError(
                        "E001", f"meter {ctx.meter.address} has purchase count "
                        f"{status.purchase_count}",
                    )  # fmt: skip
                target = 1
            else:
                meter_customer = (status.customer_number or "").rjust(12, "0")
                if meter_customer != ctx.meter_customer_number:
                    raise ServiceError(
                        "E504",
                        f"meter holds customer {meter_customer}, record says "
                        f"{ctx.meter_customer_number}",
                    )
                target = status.purchase_count + 1
            energy, remainder = self._convert(ctx, amount_fen)
            load_value = energy if ctx.energy_wallet else amount_fen
            self._check_hoarding(ctx, status, load_value)
            new = self._new_vend(
                actor, ctx, key, kind, amount_fen, energy, remainder, status,
                count_target=target, load_value=load_value, meter_id=ctx.meter.id,
                meter_address=ctx.meter.address, command_id=command_id,
            )  # fmt: skip
            vend = await self._create(new)
            return await self._send(vend, driver)

    async def _settle_meter(self, meter_id: int) -> None:
        """A vend still unresolved on this meter may own its next purchase count: settle it
        before a new sale reads the count (the database refuses the new vend otherwise)."""
        for vend in await self.db.read(records.unfinished_for_meter, meter_id):
            await self.settle(vend.id)

    def _convert(self, ctx: AccountContext, amount_fen: int) -> tuple[int, int | None]:
        """Energy for energy wallets (tiers walked from the period's use), with the remainder."""
        if not ctx.energy_wallet:
            return 0, None
        try:
            conversion = money_to_energy(
                amount_fen,
                ctx.tariff,
                period_use=ctx.period_energy_cwh,
                previous_remainder=ctx.balance.remainder_fen,
            )
        except BillingError as exc:
            raise ServiceError("E502", str(exc), field="amount") from exc
        if conversion.energy <= 0:
            raise ServiceError("E502", "the amount buys no energy at this price", field="amount")
        return conversion.energy, conversion.remainder

    def _check_hoarding(self, ctx: AccountContext, status: WalletState, load_value: int) -> None:
        limit = ctx.account.limits.hoarding_limit_fen or ctx.meter_type.profile.hoarding_limit_fen
        if limit and not ctx.energy_wallet and status.remaining + load_value > limit:
            raise ServiceError(
                "E508",
                f"meter holds {status.remaining} fen, limit {limit} fen",
                field="amount",
            )

    def _new_vend(
        self,
        actor: Actor,
        ctx: AccountContext,
        key: str,
        kind: VendKind,
        amount_fen: int,
        energy: int,
        remainder: int | None,
        status: WalletState,
        *,
        count_target: int,
        load_value: int,
        meter_id: int,
        meter_address: str,
        command_id: str = "",
        extra: Mapping[str, Any] | None = None,
    ) -> NewVend:
        request: dict[str, Any] = {
            "tariff_version_id": ctx.version.id,
            "remainder_fen": remainder,
            "previous_remainder_fen": ctx.balance.remainder_fen if ctx.energy_wallet else 0,
            "load_value": load_value,
            "customer_number": ctx.meter_customer_number,
            "meter_id": meter_id,
            "meter_address": meter_address,
            "meter_remaining_before": status.remaining,
            "actor": actor.name,
            "actor_channel": actor.channel,
            **(extra or {}),
        }
        if command_id:
            request["command_id"] = command_id
        return NewVend(
            idempotency_key=key,
            kind=kind,
            channel=VendChannel.COMM,
            account_id=ctx.account.id,
            amount_fen=amount_fen,
            energy_cwh=energy,
            meter_id=meter_id,
            operator_id=actor.operator_id,
            count_before=status.purchase_count,
            count_target=count_target,
            request=request,
        )

    async def _create(self, new: NewVend) -> Vend:
        vend, created = await self.db.write(records.create_vend, new)
        if not created:
            raise ServiceError("E513", f"vend {vend.id} has this key", vend_id=vend.id)
        crashpoints.reached("vend.pending")
        return vend

    async def _read_wallet(self, driver: MeterDriver) -> WalletState:
        try:
            return await driver.wallet_status()
        except (LinkError, MeterDriverError) as exc:
            raise ServiceError("E507", f"meter {driver.address}: {exc}") from exc

    async def _send(self, vend: Vend, driver: MeterDriver, attempt: int = 0) -> SaleResult:
        if vend.state is VendState.PENDING or vend.state is VendState.UNCERTAIN:
            vend = await self.db.write(records.mark, vend.id, VendState.SENT)
        crashpoints.reached("vend.sent")
        req = vend.request
        target = vend.count_target
        assert target is not None
        send = (
            driver.open_account
            if vend.kind in (VendKind.OPEN, VendKind.REPLACEMENT)
            else (driver.recharge)
        )
        try:
            outcome = await send(int(req["load_value"]), target, str(req["customer_number"]))
        except RechargeRefusedError as exc:
            await self.db.write(
                records.fail, vend.id, f"{exc.code} {exc}", records.actor_of(vend), "sale.refused"
            )
            raise ServiceError(
                _REFUSAL_CODE.get(vend.kind, "E505"), str(exc), vend_id=vend.id
            ) from exc
        except (RechargeOutcomeUnknownError, LinkError) as exc:
            if isinstance(exc, LinkError) and not exc.request_sent:
                await self.db.write(
                    records.fail, vend.id, f"{exc.code} {exc}", records.actor_of(vend),
                    "sale.not_sent",
                )  # fmt: skip
                raise ServiceError("E507", str(exc), vend_id=vend.id) from exc
            code = getattr(exc, "code", "E133")
            vend = await self.db.write(records.mark, vend.id, VendState.UNCERTAIN, f"{code} {exc}")
            crashpoints.reached("vend.uncertain")
            return await self._resolve(vend, driver, attempt)
        except MeterDriverError as exc:
            await self.db.write(
                records.fail, vend.id, f"{exc.code} {exc}", records.actor_of(vend), "sale.error"
            )
            raise ServiceError("E507", str(exc), vend_id=vend.id) from exc
        crashpoints.reached("vend.replied")
        if outcome is RechargeOutcome.ALREADY_APPLIED:
            log.info("vend %s: meter reports count %s already credited", vend.id, target)
        return await self._confirm(vend.id, target)

    async def _confirm(self, vend_id: int, count_after: int | None) -> SaleResult:
        await self.db.write(records.confirm, vend_id, self.clock, count_after=count_after)
        crashpoints.reached("vend.confirmed")
        return result_of(await self.db.read(vends.get, vend_id))

    async def _resolve(self, vend: Vend, driver: MeterDriver, attempt: int) -> SaleResult:
        """Decide an uncertain vend from the meter's purchase count."""
        status: WalletState | None = None
        for i in range(self.settle_reads):
            try:
                status = await driver.wallet_status()
                break
            except (LinkError, MeterDriverError) as exc:
                log.info("vend %s: count read %d failed: %s", vend.id, i + 1, exc)
                await asyncio.sleep(self.settle_pause_s)
        if status is None:
            raise ServiceError(
                "E506", f"vend {vend.id}: the meter does not answer", vend_id=vend.id
            )
        count = status.purchase_count
        crashpoints.reached("vend.resolve.read")
        if count == vend.count_target:
            return await self._confirm(vend.id, count)
        if count == vend.count_before and attempt < self.resend_limit:
            log.info("vend %s: count still %s, resending", vend.id, count)
            return await self._send(vend, driver, attempt + 1)
        if count == vend.count_before:
            raise ServiceError(
                "E506", f"vend {vend.id}: not credited after {attempt + 1} tries", vend_id=vend.id
            )
        await self.db.write(
            records.fail,
            vend.id,
            f"E505 purchase count moved from {vend.count_before} to {count} by another path; "
            f"reconcile this meter",
            records.actor_of(vend),
            "sale.count_moved",
        )
        raise ServiceError(
            "E505", f"purchase count is {count}, expected {vend.count_target}", vend_id=vend.id
        )

    # --- recovery ------------------------------------------------------------------------------

    async def settle(self, vend_id: int, *, repeated: bool = False) -> SaleResult:
        """Drive one unfinished comm vend to an end if the meter answers (start-up, retries)."""
        vend = await self.db.read(vends.get, vend_id)
        if (
            vend.finished
            or vend.channel is not VendChannel.COMM
            or vend.kind not in PURCHASE_KINDS
            or vend.meter_id is None
        ):
            return result_of(vend, repeated=repeated)
        meter = await self.db.read(meter_repo.get, vend.meter_id)
        meter_type = await self.db.read(metertypes.get, meter.type_id)
        driver = self.meters.driver(meter, meter_type)
        async with self.lock(meter.id):
            vend = await self.db.read(vends.get, vend_id)
            if vend.finished:
                return result_of(vend, repeated=repeated)
            try:
                if vend.state is VendState.PENDING:
                    # Nothing went out: the operator's intent stands, so finish the sale if the
                    # meter is still where the vend found it.
                    status = await self._read_wallet(driver)
                    if status.purchase_count != vend.count_before:
                        await self.db.write(
                            records.fail, vend.id,
                            f"E505 interrupted before sending; count is now "
                            f"{status.purchase_count}", records.actor_of(vend), "sale.interrupted",
                        )  # fmt: skip
                        return result_of(await self.db.read(vends.get, vend_id), repeated=repeated)
                    result = await self._send(vend, driver)
                else:
                    result = await self._resolve(vend, driver, attempt=0)
            except ServiceError as exc:
                log.warning("vend %s not settled: %s", vend_id, exc)
                return result_of(await self.db.read(vends.get, vend_id), repeated=repeated)
        return SaleResult(**{**result.__dict__, "repeated": repeated})

    async def recover(self) -> list[SaleResult]:
        """Settle every unfinished comm vend (called at start-up and periodically)."""
        pending = await self.db.read(vends.unfinished)
        results = []
        for vend in pending:
            if vend.channel is VendChannel.COMM and vend.kind in PURCHASE_KINDS:
                results.append(await self.settle(vend.id))
        return results
