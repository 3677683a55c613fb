"""Replacement compensation (补偿): what the old meter still held, carried to the new one.

- money → money: the remaining money is credited as is; an overdraft becomes a debt recovered
  from the next purchase (a new meter cannot start below zero).
- energy → energy: the remaining kWh are credited as is, and the lots they came from (valued
  first in first out at the prices paid) move with them, so a later refund still values them
  at what the customer paid.
- energy → money: the remaining kWh are credited at their first-in first-out value.
- money → energy: the remaining money is converted by the new meter's tariff, like a
  purchase (the remainder under one step stays on the account).

Overdraft energy on an old energy-type meter becomes a debt valued at ``overdraft_price``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.billing.conversion import money_to_energy
from gateway.billing.errors import BillingError, NegativeAmountError
from gateway.billing.refund import Lot, lots_from_conversion, value_remaining
from gateway.billing.tariff import Tariff
from gateway.billing.units import VALUE_PER_FEN, CentiKwh, Fen, Price, ceil_div


class WalletKind(enum.StrEnum):
    MONEY = "money"
    ENERGY = "energy"


@dataclass(frozen=True)
class Compensation:
    new_kind: WalletKind
    money: Fen  # to load into a money-type new meter
    energy: CentiKwh  # to load into an energy-type new meter
    value: Fen  # what the carried credit is worth in the ledger
    debt: Fen  # owed from the old meter's overdraft, recovered from the next purchase
    lots: tuple[Lot, ...] = ()  # first-in first-out lots of an energy-type new meter
    remainder: Fen = 0  # carried remainder after a money → energy conversion


def compensate_money(
    remaining: Fen,
    *,
    overdraft: Fen = 0,
    new_kind: WalletKind = WalletKind.MONEY,
    tariff: Tariff | None = None,
    period_use: CentiKwh = 0,
    previous_remainder: Fen = 0,
    source: str = "compensation",
) -> Compensation:
    """Carry an old money-type meter's registers to the new meter."""
    for name, value in (("remaining", remaining), ("overdraft", overdraft)):
        if value < 0:
            raise NegativeAmountError(name, f"must not be negative, got {value}")
    if new_kind is WalletKind.MONEY:
        return Compensation(new_kind, remaining, 0, remaining, overdraft)
    if tariff is None:
        raise BillingError("tariff", "an energy-type new meter needs its tariff to convert money")
    conversion = money_to_energy(
        remaining, tariff, period_use=period_use, previous_remainder=previous_remainder
    )
    return Compensation(
        new_kind,
        money=0,
        energy=conversion.energy,
        value=conversion.cost,
        debt=overdraft,
        lots=lots_from_conversion(source, conversion),
        remainder=conversion.remainder,
    )


def compensate_energy(
    remaining_energy: CentiKwh,
    lots: Iterable[Lot],
    *,
    overdraft_energy: CentiKwh = 0,
    overdraft_price: Price | None = None,
    new_kind: WalletKind = WalletKind.ENERGY,
) -> Compensation:
    """Carry an old energy-type meter's registers; ``lots``: its loaded purchases, oldest first."""
    if overdraft_energy < 0:
        raise NegativeAmountError(
            "overdraft_energy", f"must not be negative, got {overdraft_energy}"
        )
    if overdraft_energy and overdraft_price is None:
        raise BillingError("overdraft_price", "needed to value the overdraft energy")
    valuation = value_remaining(lots, remaining_energy)
    debt = ceil_div(overdraft_energy * (overdraft_price or 0), VALUE_PER_FEN)
    if new_kind is WalletKind.ENERGY:
        return Compensation(
            new_kind,
            money=0,
            energy=remaining_energy,
            value=valuation.remaining_value,
            debt=debt,
            lots=valuation.remaining,
        )
    return Compensation(new_kind, valuation.remaining_value, 0, valuation.remaining_value, debt)
