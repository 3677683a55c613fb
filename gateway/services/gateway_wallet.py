"""Purchases for gateway-wallet accounts (远程费控): the gateway holds the money.

No meter write is needed for the credit, so the sale is one transaction. What must happen
exactly once afterwards is the relay reclose: it is a vend of kind *reclose*, persisted in the
same transaction as the sale, and driven (read status word 3, close, read back) until it is
confirmed; recovery drives any left unfinished by a crash or an unreachable meter.
"""

from __future__ import annotations

import logging
from typing import Any

from gateway.dlt645.commands import RelayAction
from gateway.link.errors import LinkError
from gateway.meters.errors import MeterDriverError
from gateway.services import records, wallet_enforcement
from gateway.services.actor import Actor
from gateway.services.context import load
from gateway.services.errors import ServiceError
from gateway.services.meter_access import MeterAccess
from gateway.services.vending import MAX_AMOUNT_FEN, SaleResult, Vending, result_of
from gateway.siteclock import SiteClock
from gateway.store import ledger, meters, metertypes, oplog, vends
from gateway.store.conn import Conn
from gateway.store.database import Database
from gateway.store.ledger import LedgerKind, NewEntry
from gateway.store.vends import NewVend, Vend, VendChannel, VendKind, VendState
from gateway.sync.outbox import add_event

log = logging.getLogger(__name__)


def emergency_owed(c: Conn, account_id: int) -> int:
    """Emergency credit advanced and not yet recovered."""
    value = c.scalar(
        "SELECT coalesce(sum(amount_fen), 0) FROM ledger WHERE account_id = ? "
        "AND kind IN ('emergency_credit', 'emergency_recovery')",
        (account_id,),
    )
    return max(int(value or 0), 0)


class GatewayWallet:
    def __init__(self, db: Database, meters: MeterAccess, clock: SiteClock, vending: Vending):
        self.db = db
        self.meters = meters
        self.clock = clock
        self.vending = vending

    async def purchase(
        self,
        actor: Actor,
        account_id: int,
        amount_fen: int,
        key: str,
        *,
        opening: bool = False,
        command_id: str = "",
    ) -> SaleResult:
        actor.require("sales.open" if opening else "sales.daily")
        if not 0 < amount_fen <= MAX_AMOUNT_FEN:
            raise ServiceError("E502", "amount must be between 0.01 and 999999.99", field="amount")
        clock = self.clock

        def book(c: Conn) -> tuple[Vend, bool, int | None]:
            existing = vends.get_by_key(c, key)
            if existing is not None:
                return existing, True, None
            ctx = load(c, account_id, clock)
            if not ctx.gateway_wallet:
                raise ServiceError("E512", "meter-wallet accounts are sold through the meter")
            # Consumption charged since the last posting becomes ledger rows first, so the sale
            # is booked against the live balance (enforcement posts once a day otherwise).
            before = wallet_enforcement.settle(c, account_id, reason="purchase").net_fen
            ctx = load(c, account_id, clock)
            request: dict[str, Any] = {
                "tariff_version_id": ctx.version.id,
                "meter_id": ctx.meter.id,
                "meter_address": ctx.meter.address,
                "balance_before_fen": before,
                "actor": actor.name,
                "actor_channel": actor.channel,
            }
            if command_id:
                request["command_id"] = command_id
            vend, _ = vends.create(
                c,
                NewVend(
                    idempotency_key=key,
                    kind=VendKind.OPEN if opening else VendKind.DAILY,
                    channel=VendChannel.GATEWAY_WALLET,
                    account_id=account_id,
                    amount_fen=amount_fen,
                    meter_id=ctx.meter.id,
                    operator_id=actor.operator_id,
                    request=request,
                ),
            )
            records.confirm(c, vend.id, clock, count_after=None)
            # The purchase repays friendly-credit debt first, then emergency credit
            # (billing.apply_purchase's order), then it is balance.
            taken = wallet_enforcement.recover_friendly_debt(
                c, account_id, vend_id=vend.id, amount_fen=amount_fen, meter_id=ctx.meter.id
            )
            owed = emergency_owed(c, account_id)
            if owed and amount_fen > taken:
                ledger.append(
                    c,
                    NewEntry(
                        account_id=account_id,
                        kind=LedgerKind.EMERGENCY_RECOVERY,
                        amount_fen=-min(owed, amount_fen - taken),
                        meter_id=ctx.meter.id,
                        vend_id=vend.id,
                        operator_id=actor.operator_id,
                        detail={"reason": "emergency credit repaid from this purchase"},
                    ),
                )
            after = wallet_enforcement.position(c, account_id).net_fen
            threshold = ctx.account.limits.close_allowed_fen
            if threshold is None:
                threshold = ctx.meter_type.profile.close_allowed_fen or 0
            reclose_id: int | None = None
            if after > threshold and before <= threshold:
                reclose, _ = vends.create(
                    c,
                    NewVend(
                        idempotency_key=f"reclose:{vend.id}",
                        kind=VendKind.RECLOSE,
                        channel=VendChannel.GATEWAY_WALLET,
                        account_id=account_id,
                        amount_fen=0,
                        meter_id=ctx.meter.id,
                        operator_id=actor.operator_id,
                        request={"after_vend": vend.id, "actor": actor.name,
                                 "actor_channel": actor.channel},
                    ),
                )  # fmt: skip
                reclose_id = reclose.id
            return vends.get(c, vend.id), False, reclose_id

        vend, repeated, reclose_id = await self.db.write(book)
        if reclose_id is not None:
            await self.drive_reclose(reclose_id)
        return result_of(vend, repeated=repeated)

    async def drive_reclose(self, vend_id: int) -> bool:
        """Close the relay once for a reclose vend; True when confirmed."""
        vend = await self.db.read(vends.get, vend_id)
        if vend.finished or vend.meter_id is None:
            return vend.state is VendState.CONFIRMED
        meter = await self.db.read(meters.get, vend.meter_id)
        meter_type = await self.db.read(metertypes.get, meter.type_id)
        driver = self.meters.driver(meter, meter_type)
        async with self.vending.lock(meter.id):
            if vend.state is not VendState.SENT:
                vend = await self.db.write(records.mark, vend.id, VendState.SENT)
            try:
                state = await driver.relay_state()
                if state.relay_open:
                    await driver.relay(RelayAction.CLOSE_DIRECT)
            except (LinkError, MeterDriverError) as exc:
                await self.db.write(records.mark, vend.id, VendState.UNCERTAIN, f"E511 {exc}")
                log.warning("reclose of meter %s pending: %s", meter.address, exc)
                return False

        def done(c: Conn) -> None:
            vends.transition(c, vend_id, VendState.CONFIRMED)
            oplog.append(
                c,
                "relay.reclose",
                operator_id=vend.operator_id,
                operator_name=str(vend.request.get("actor", "system")),
                target=f"meter:{meter.address}",
                detail={"after_vend": vend.request.get("after_vend")},
            )
            add_event(
                c,
                "relay",
                {"meter": meter.address, "action": "close", "source": "balance", "ok": True,
                 "account_id": str(vend.account_id), "reason": "purchase restored the balance"},
                c.now(),
            )  # fmt: skip

        await self.db.write(done)
        return True

    async def recover(self) -> int:
        """Drive every unfinished reclose (start-up and periodically); returns how many closed."""
        closed = 0
        for vend in await self.db.read(vends.unfinished):
            if vend.kind is VendKind.RECLOSE and await self.drive_reclose(vend.id):
                closed += 1
        return closed
