"""The meters' own registers against the ledger, meter by meter (issue 3, item 5).

For a meter wallet the meter is the authority on what it was credited: its purchase count and
cumulative purchased money must match the confirmed sales the ledger holds for the account on
that meter. A difference means a sale was credited outside the gateway (a card made elsewhere,
a reset), or booked without reaching the meter, and is flagged for an operator to look at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.dlt645.values import Quantity
from gateway.link.errors import LinkError
from gateway.meters.errors import MeterDriverError
from gateway.services.actor import Actor
from gateway.services.meter_access import MeterAccess
from gateway.store import customers, meters, metertypes
from gateway.store.conn import Conn
from gateway.store.database import Database
from gateway.store.metertypes import WalletModel


@dataclass(frozen=True)
class ReconciliationRow:
    meter: str
    account_id: int
    ledger_purchases: int
    ledger_purchased: int  # fen (money) or centi-kWh (energy) loaded onto this meter
    meter_purchases: int | None
    meter_purchased: int | None
    meter_remaining: int | None
    pending_vends: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "problems": list(self.problems), "ok": self.ok}


@dataclass(frozen=True)
class _LedgerSide:
    meter_id: int
    account_id: int
    energy: bool
    purchases: int
    loaded: int
    pending: int


def _ledger_side(c: Conn) -> list[_LedgerSide]:
    rows = []
    for account in customers.open_accounts(c, WalletModel.METER):
        energy = str(account.value_kind) == "energy"
        column = "energy_cwh" if energy else "amount_fen"
        # What reached this meter: sales booked against it plus compensation carried onto it.
        loaded = c.one(
            f"SELECT count(*) FILTER (WHERE kind = 'sale') AS n, "
            f"coalesce(sum({column}), 0) AS total FROM ledger "
            "WHERE account_id = ? AND meter_id = ? AND kind IN ('sale', 'compensation')",
            (account.id, account.meter_id),
        )
        pending = c.scalar(
            "SELECT count(*) FROM vends WHERE meter_id = ? AND channel = 'comm' "
            "AND state IN ('pending', 'sent', 'uncertain')",
            (account.meter_id,),
        )
        assert loaded is not None
        rows.append(
            _LedgerSide(account.meter_id, account.id, energy, int(loaded["n"]),
                        int(loaded["total"]), int(pending or 0))
        )  # fmt: skip
    return rows


def _scaled(value: object) -> int | None:
    if isinstance(value, Quantity):
        return value.scaled
    return value if isinstance(value, int) else None


class Reconciliation:
    def __init__(self, db: Database, access: MeterAccess) -> None:
        self.db = db
        self.access = access

    async def run(self, actor: Actor) -> list[ReconciliationRow]:
        actor.require("monitoring.view")
        report = []
        for side in await self.db.read(_ledger_side):
            meter = await self.db.read(meters.get, side.meter_id)
            meter_type = await self.db.read(metertypes.get, meter.type_id)
            driver = self.access.driver(meter, meter_type)
            problems: list[str] = []
            count = purchased = remaining = None
            try:
                wallet = await driver.wallet_status()
                count, remaining = wallet.purchase_count, wallet.remaining
                if not side.energy:
                    purchased = _scaled(await driver.read("cumulative_purchased_money"))
            except (LinkError, MeterDriverError) as exc:
                problems.append(f"meter not read: {exc}")
            if count is not None and count != side.purchases:
                problems.append(
                    f"purchase count {count} on the meter, {side.purchases} in the ledger"
                )
            if purchased is not None and purchased != side.loaded:
                problems.append(f"meter purchased {purchased}, ledger loaded {side.loaded}")
            if side.pending:
                problems.append(f"{side.pending} vend(s) still being settled")
            report.append(
                ReconciliationRow(
                    meter.address, side.account_id, side.purchases, side.loaded, count,
                    purchased, remaining, side.pending, tuple(problems),
                )
            )  # fmt: skip
        return report
