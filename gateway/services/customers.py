"""F2.1 save customer (with the meter it takes), F2.3 maintain, F2.4 deregister."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.services.actor import Actor
from gateway.services.errors import ServiceError
from gateway.store import customers, ledger, meters, oplog
from gateway.store.conn import Conn
from gateway.store.customers import (
    Account,
    AccountLimits,
    CloseReason,
    Customer,
    CustomerSpec,
    NewAccount,
)
from gateway.store.database import Database
from gateway.store.errors import MeterHasOpenAccountError
from gateway.sync.outbox import add_event


@dataclass(frozen=True)
class SavedCustomer:
    customer: Customer
    account: Account | None


def _account_event(c: Conn, account: Account, action: str, actor: Actor, reason: str = "") -> None:
    meter = meters.get(c, account.meter_id)
    payload = {
        "account_id": str(account.id),
        "action": action,
        "customer_id": str(account.customer_id),
        "meter": meter.address,
        "operator": actor.name,
    }
    if reason:
        payload["reason"] = reason
    add_event(c, "accounts", payload, c.now())


class Customers:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def save(
        self,
        actor: Actor,
        spec: CustomerSpec,
        *,
        customer_id: int | None = None,
        meter_id: int | None = None,
        price_type_id: int | None = None,
        limits: AccountLimits | None = None,
        keep_power: bool = False,
    ) -> SavedCustomer:
        """【用户信息保存】: create or update the customer; with a meter, open its account too."""
        actor.require("customers.manage")

        def write(c: Conn) -> SavedCustomer:
            if customer_id is None:
                customer = customers.create_customer(c, spec)
                action = "customer.create"
            else:
                customer = customers.update_customer(c, customer_id, spec)
                action = "customer.update"
            account = None
            if meter_id is not None:
                if price_type_id is None:
                    raise ServiceError("E502", "choose a price type", field="price_type")
                try:
                    account = customers.open_account(
                        c,
                        NewAccount(
                            customer_id=customer.id,
                            meter_id=meter_id,
                            price_type_id=price_type_id,
                            limits=limits or AccountLimits(),
                            keep_power=keep_power,
                        ),
                    )
                except MeterHasOpenAccountError as exc:
                    raise ServiceError("E510", str(exc), field="meter") from exc
                _account_event(c, account, "opened", actor)
            elif customer.current_account_id is not None:
                current = customers.get_account(c, customer.current_account_id)
                if current.is_open:
                    account = current
                    _account_event(c, account, "updated", actor)
            oplog.append(
                c,
                action,
                operator_id=actor.operator_id,
                operator_name=actor.name,
                target=f"customer:{customer.id}",
                detail={"number": customer.number, "name": customer.name, "meter_id": meter_id},
            )
            return SavedCustomer(customer, account)

        return await self.db.write(write)

    async def deregister(self, actor: Actor, account_id: int, *, reason: str = "") -> Account:
        """【注销用户】: close the account without a refund (the refund path is F3.3)."""
        actor.require("customers.manage")

        def write(c: Conn) -> Account:
            account = customers.get_account(c, account_id)
            if not account.is_open:
                raise ServiceError("E503", f"account {account_id} is already closed")
            balance = ledger.balance(c, account_id)
            if str(account.wallet_model) == "gateway" and balance.balance_fen > 0:
                raise ServiceError(
                    "E502",
                    f"the account still holds {balance.balance_fen} fen: use close with refund",
                )
            closed = customers.close_account(c, account_id, CloseReason.DEREGISTERED)
            oplog.append(
                c,
                "customer.deregister",
                operator_id=actor.operator_id,
                operator_name=actor.name,
                target=f"account:{account_id}",
                detail={"reason": reason},
            )
            _account_event(c, closed, "closed", actor, reason or "deregistered")
            return closed

        return await self.db.write(write)
