"""The energy a purchase would buy (购电信息 preview for energy-wallet meters).

Read only: the same account snapshot (``gateway.services.context.load``) and the same conversion
(``gateway.billing.money_to_energy``) the sale itself uses, so the preview and the sale agree.
The sale recomputes everything under the meter lock; this is for the operator's eyes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.billing import money_to_energy
from gateway.services.context import load
from gateway.siteclock import SiteClock
from gateway.store.conn import Conn
from web.formatting import kwh, price, yuan


@dataclass(frozen=True)
class Quote:
    amount_fen: int
    energy_cwh: int  # 0 for money wallets: the meter holds money
    previous_remainder_fen: int
    remainder_fen: int
    tiers: tuple[tuple[int, int, int], ...]  # (tier, energy in 0.01 kWh, price in 0.0001 yuan)

    def to_json(self) -> dict[str, Any]:
        return {
            "amount": yuan(self.amount_fen),
            "energy": kwh(self.energy_cwh),
            "previous_remainder": yuan(self.previous_remainder_fen),
            "remainder": yuan(self.remainder_fen),
            "tiers": [
                {"tier": tier + 1, "energy": kwh(energy), "price": price(unit)}
                for tier, energy, unit in self.tiers
            ],
        }


def quote(c: Conn, account_id: int, amount_fen: int, clock: SiteClock) -> Quote:
    ctx = load(c, account_id, clock)
    if not ctx.energy_wallet:
        return Quote(amount_fen, 0, 0, 0, ())
    conversion = money_to_energy(
        amount_fen,
        ctx.tariff,
        period_use=ctx.period_energy_cwh,
        previous_remainder=ctx.balance.remainder_fen,
    )
    return Quote(
        amount_fen,
        conversion.energy,
        conversion.previous_remainder,
        conversion.remainder,
        tuple((s.tier, s.energy, s.price) for s in conversion.segments),
    )
