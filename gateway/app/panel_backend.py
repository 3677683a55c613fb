"""The front panel's backend on the services: lookups, read now, relay, quick top-up.

The panel acts as the operator "panel" with only the permissions its functions need. Its
guarded actions (relay, top-up) are protected by the site's panel PIN (config panel.
relay_pin_hash), checked by the panel before it calls relay and here again for a top-up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from gateway.panel.backend import (
    MeterInfo,
    PanelOperation,
    RelayState,
    TopUpRequest,
    TopUpResult,
    VendStatus,
)
from gateway.panel.errors import PanelError
from gateway.panel.pin import verify_pin
from gateway.services import Services
from gateway.services.actor import Actor
from gateway.services.errors import ServiceError
from gateway.store import customers, ledger, meters, oplog
from gateway.store.conn import Conn
from gateway.store.meters import Meter

PANEL_ACTOR = Actor(
    None,
    "panel",
    frozenset({"sales.daily", "relay.control", "cards.read", "monitoring.read", "alarms.ack"}),
    "panel",
)


def _panel_error(exc: ServiceError) -> PanelError:
    return PanelError(exc.code, exc.summary_zh[:32], exc.summary_en[:48])


def _find(
    c: Conn, number: str
) -> tuple[Meter, customers.Account | None, customers.Customer | None]:
    meter = meters.by_address(c, number.rjust(12, "0")) if number.isdigit() else None
    if meter is None:
        customer = customers.customer_by_number(c, number)
        if customer is not None and customer.current_account_id is not None:
            current = customers.get_account(c, customer.current_account_id)
            return meters.get(c, current.meter_id), current, customer
        raise PanelError("E802", "无此表号或户号", "No such meter or customer")
    account = customers.open_account_for_meter(c, meter.id)
    customer = customers.get_customer(c, account.customer_id) if account else None
    return meter, account, customer


class ServicesPanelBackend:
    def __init__(self, services: Services, pin_hash: str) -> None:
        self.services = services
        self.pin_hash = pin_hash

    async def _info(self, number: str, *, read: bool) -> MeterInfo:
        db = self.services.db
        meter, account, customer = await db.read(_find, number)
        balance_fen = balance_cwh = None
        relay = RelayState.UNKNOWN
        if account is not None and str(account.wallet_model) == "gateway":
            balance_fen = (await db.read(ledger.balance, account.id)).balance_fen
        last: int | None = None
        if read:
            try:
                params = await self.services.meter_ops.read_parameters(PANEL_ACTOR, meter.id)
            except ServiceError as exc:
                raise _panel_error(exc) from exc
            scaled = params.scaled
            if balance_fen is None:
                balance_fen = scaled.get("remaining_money")
            balance_cwh = scaled.get("remaining_energy")
            last = scaled.get("forward_active_total")
            if params.relay_open is not None:
                relay = RelayState.OPEN if params.relay_open else RelayState.CLOSED
        return MeterInfo(
            meter_no=meter.address,
            customer_no=customer.number if customer else "",
            customer_name=customer.name if customer else "",
            balance_fen=balance_fen,
            balance_centi_kwh=balance_cwh,
            relay=relay,
            last_reading_centi_kwh=last,
        )

    async def lookup(self, number: str) -> MeterInfo:
        return await self._info(number, read=False)

    async def read_now(self, meter_no: str) -> MeterInfo:
        return await self._info(meter_no, read=True)

    async def set_relay(self, meter_no: str, close: bool, operator: str) -> RelayState:
        meter, _, _ = await self.services.db.read(_find, meter_no)
        try:
            await self.services.meter_ops.force_power(PANEL_ACTOR, meter.id, on=close)
        except ServiceError as exc:
            raise _panel_error(exc) from exc
        return RelayState.CLOSED if close else RelayState.OPEN

    async def top_up(self, request: TopUpRequest) -> TopUpResult:
        if not self.pin_hash or not await asyncio.to_thread(
            verify_pin, self.pin_hash, request.operator_pin
        ):
            raise PanelError("E801", "PIN错误", "Wrong PIN")
        _, account, _ = await self.services.db.read(_find, request.meter_no)
        if account is None:
            raise PanelError("E803", "此表未开户", "Meter has no open account")
        try:
            result = await self.services.daily_purchase(
                PANEL_ACTOR, account.id, request.amount_fen, f"panel:{request.idempotency_key}"
            )
        except ServiceError as exc:
            if exc.vend_id is not None and exc.code == "E506":
                return TopUpResult(VendStatus.UNCERTAIN, "", request.meter_no, request.amount_fen)
            raise _panel_error(exc) from exc
        status = VendStatus.CONFIRMED if result.state == "confirmed" else VendStatus.UNCERTAIN
        return TopUpResult(status, str(result.receipt_number or ""), request.meter_no,
                           request.amount_fen)  # fmt: skip

    async def acknowledge_alarms(self, alarm_ids: Sequence[str], operator: str) -> int:
        acknowledge = getattr(self.services, "acknowledge_alarms", None)
        if acknowledge is None:
            return 0
        return int(await acknowledge(PANEL_ACTOR, list(alarm_ids)))

    async def log_operation(self, entry: PanelOperation) -> None:
        def write(c: Conn) -> None:
            oplog.append(
                c,
                f"panel.{entry.action}",
                operator_name="panel",
                target=f"meter:{entry.meter_no}",
                detail={"accepted": entry.accepted, "reason": entry.reason},
                result="ok" if entry.accepted else "error",
            )

        await self.services.db.write(write)
