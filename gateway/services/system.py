"""F6.5 clear all customer data, behind the current operator's password."""

from __future__ import annotations

from gateway.services.actor import Actor
from gateway.services.errors import ServiceError
from gateway.store import clearall, operators, passwords
from gateway.store.clearall import ClearAllResult
from gateway.store.conn import Conn
from gateway.store.database import Database

# What the operator types to confirm: the manual's words (4.6.5), or the English.
CONFIRMATIONS = ("清除所有用户信息", "CLEAR ALL CUSTOMER DATA")


class SystemData:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def clear_all(self, actor: Actor, password: str, confirmation: str) -> ClearAllResult:
        """Irreversible: customers, accounts, sales and related records go; settings stay."""
        actor.require("system.clear")
        if actor.operator_id is None:
            raise ServiceError("E501", "only a logged-in operator can clear customer data")
        if confirmation.strip() not in CONFIRMATIONS:
            raise ServiceError("E502", f"type {CONFIRMATIONS[0]} to confirm", field="confirmation")
        stored = await self.db.read(operators.password_hash, actor.operator_id)
        if not await passwords.verify_password_async(stored, password):
            raise ServiceError("E509", field="password")
        operator_id = actor.operator_id

        def write(c: Conn) -> ClearAllResult:
            return clearall.clear_customer_data(c, operator_id=operator_id)

        return await self.db.write(write)
