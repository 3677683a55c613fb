"""The use cases: the only code that writes the ledger. The web UI, the panel and MQTT commands
all call these, so a sale is the same sale whichever way it was asked for."""

from __future__ import annotations

from gateway.services.actor import SYSTEM, Actor
from gateway.services.card_workflows import CardWorkflows
from gateway.services.customers import Customers
from gateway.services.errors import ServiceError
from gateway.services.gateway_wallet import GatewayWallet
from gateway.services.meter_access import MeterAccess
from gateway.services.meter_ops import MeterOps
from gateway.services.reconciliation import Reconciliation
from gateway.services.refunds import RefundResult, Refunds
from gateway.services.system import SystemData
from gateway.services.vending import SaleResult, Vending
from gateway.siteclock import SiteClock
from gateway.store import customers as customer_repo
from gateway.store import vends
from gateway.store.conn import Conn
from gateway.store.database import Database
from gateway.store.vends import VendKind

__all__ = ["SYSTEM", "Actor", "RefundResult", "SaleResult", "ServiceError", "Services"]


class Services:
    """Every use case, wired to one database, one set of buses and one clock."""

    def __init__(self, db: Database, meters: MeterAccess, clock: SiteClock) -> None:
        self.db = db
        self.clock = clock
        self.meters = meters
        self.vending = Vending(db, meters, clock)
        self.gateway_wallet = GatewayWallet(db, meters, clock, self.vending)
        self.refunds = Refunds(db, meters, clock, self.vending)
        self.customers = Customers(db)
        self.meter_ops = MeterOps(db, meters, self.vending)
        self.reconciliation = Reconciliation(db, meters)
        self.system = SystemData(db)
        self.cards = CardWorkflows(db, clock, self.vending)  # runtime: cards.use_reader(...)

    async def _gateway(self, account_id: int) -> bool:
        account = await self.db.read(customer_repo.get_account, account_id)
        return str(account.wallet_model) == "gateway"

    async def open_purchase(
        self, actor: Actor, account_id: int, amount_fen: int, key: str, *, command_id: str = ""
    ) -> SaleResult:
        """【开户购电（通讯）】 for either wallet model."""
        if await self._gateway(account_id):
            return await self.gateway_wallet.purchase(
                actor, account_id, amount_fen, key, opening=True, command_id=command_id
            )
        return await self.vending.open_purchase(
            actor, account_id, amount_fen, key, command_id=command_id
        )

    async def daily_purchase(
        self, actor: Actor, account_id: int, amount_fen: int, key: str, *, command_id: str = ""
    ) -> SaleResult:
        """【日常购电（通讯）】 for either wallet model."""
        if await self._gateway(account_id):
            return await self.gateway_wallet.purchase(
                actor, account_id, amount_fen, key, command_id=command_id
            )
        return await self.vending.daily_purchase(
            actor, account_id, amount_fen, key, command_id=command_id
        )

    async def recover(self) -> None:
        """Settle what a crash or an unreachable meter left unfinished (start-up, periodically)."""
        await self.vending.recover()
        await self.gateway_wallet.recover()
        for vend in await self.db.read(_unfinished_refunds):
            await self.refunds.settle(vend)


def _unfinished_refunds(c: Conn) -> list[int]:
    return [v.id for v in vends.unfinished(c) if v.kind is VendKind.REFUND]
