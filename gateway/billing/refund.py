"""What is paid back when an account closes.

Money-type meter (or the gateway wallet)::

    refund = remaining + sold-but-not-loaded - overdraft - debts - fees

A negative refund means the customer owes that much (``owed``); nothing is paid out then.

Energy-type meter: the remaining kWh are valued at the prices actually paid, first in first out.
The meter spends the earliest purchases first, so what remains is the tail of the latest ones.
Each purchase contributes lots (one per ladder tier it was sold in, see ``lots_from_conversion``);
a lot still whole is worth exactly the fen paid for it, a partly used lot is worth its fen pro
rata, rounded DOWN (never pay back more than was paid). Add the account's carried remainder and
the fen of sales never loaded into the meter (their lots must not be in the list), less fees and
the overdraft energy valued at ``overdraft_price``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gateway.billing.conversion import Conversion
from gateway.billing.errors import BillingError, NegativeAmountError, ReconcileFirstError
from gateway.billing.units import VALUE_PER_FEN, CentiKwh, Fen, Price, ceil_div


@dataclass(frozen=True)
class Lot:
    """Energy bought at one price: the unit of first-in first-out valuation."""

    source: str  # the sale (or compensation) it came from
    energy: CentiKwh
    cost: Fen

    def __post_init__(self) -> None:
        if self.energy < 0 or self.cost < 0:
            raise NegativeAmountError("lot", f"energy and cost must not be negative: {self}")


def lots_from_conversion(source: str, conversion: Conversion) -> tuple[Lot, ...]:
    return tuple(
        Lot(source, segment.energy, segment.cost)
        for segment in conversion.segments
        if segment.energy > 0
    )


@dataclass(frozen=True)
class FifoValuation:
    consumed_energy: CentiKwh
    consumed_value: Fen
    remaining: tuple[Lot, ...]  # what is left of each lot, with its value as ``cost``
    remaining_value: Fen

    @property
    def remaining_energy(self) -> CentiKwh:
        return sum(lot.energy for lot in self.remaining)


def value_remaining(lots: Iterable[Lot], remaining_energy: CentiKwh) -> FifoValuation:
    """Split the lots (oldest first) into consumed and remaining; values add up to the fen paid."""
    if remaining_energy < 0:
        raise NegativeAmountError(
            "remaining_energy", f"must not be negative, got {remaining_energy}"
        )
    lots = tuple(lots)
    bought = sum(lot.energy for lot in lots)
    paid = sum(lot.cost for lot in lots)
    if remaining_energy > bought:
        raise ReconcileFirstError(
            "remaining_energy",
            f"meter holds {remaining_energy} centi-kWh but the ledger sold it only {bought}",
        )
    to_consume = bought - remaining_energy
    remaining: list[Lot] = []
    for lot in lots:
        used = min(to_consume, lot.energy)
        to_consume -= used
        left = lot.energy - used
        if left == 0:
            continue
        value = lot.cost if used == 0 else lot.cost * left // lot.energy
        remaining.append(Lot(lot.source, left, value))
    remaining_value = sum(lot.cost for lot in remaining)
    return FifoValuation(
        consumed_energy=bought - remaining_energy,
        consumed_value=paid - remaining_value,
        remaining=tuple(remaining),
        remaining_value=remaining_value,
    )


def _non_negative(**values: int) -> None:
    for name, value in values.items():
        if value < 0:
            raise NegativeAmountError(name, f"must not be negative, got {value}")


@dataclass(frozen=True)
class MoneyRefund:
    remaining: Fen
    unloaded: Fen
    overdraft: Fen
    debts: Fen
    fees: Fen
    refund: Fen  # negative: the customer owes

    @property
    def payout(self) -> Fen:
        return max(0, self.refund)

    @property
    def owed(self) -> Fen:
        return max(0, -self.refund)


def money_refund(
    remaining: Fen,
    *,
    overdraft: Fen = 0,
    unloaded: Fen = 0,
    debts: Fen = 0,
    fees: Fen = 0,
) -> MoneyRefund:
    """Refund of a money-type meter or gateway wallet.

    ``remaining`` and ``overdraft`` are the meter's two registers (both ≥ 0); ``debts`` are
    friendly-credit debt and unpaid emergency credit held by the gateway.
    """
    _non_negative(
        remaining=remaining, overdraft=overdraft, unloaded=unloaded, debts=debts, fees=fees
    )
    refund = remaining + unloaded - overdraft - debts - fees
    return MoneyRefund(remaining, unloaded, overdraft, debts, fees, refund)


@dataclass(frozen=True)
class EnergyRefund:
    valuation: FifoValuation
    remainder: Fen
    unloaded: Fen
    overdraft_energy: CentiKwh
    overdraft_value: Fen
    fees: Fen
    refund: Fen  # negative: the customer owes

    @property
    def payout(self) -> Fen:
        return max(0, self.refund)

    @property
    def owed(self) -> Fen:
        return max(0, -self.refund)


def energy_refund(
    remaining_energy: CentiKwh,
    lots: Iterable[Lot],
    *,
    remainder: Fen = 0,
    unloaded: Fen = 0,
    overdraft_energy: CentiKwh = 0,
    overdraft_price: Price | None = None,
    fees: Fen = 0,
) -> EnergyRefund:
    """Refund of an energy-type meter; ``lots`` are the loaded purchases, oldest first."""
    _non_negative(
        remainder=remainder, unloaded=unloaded, overdraft_energy=overdraft_energy, fees=fees
    )
    if overdraft_energy and remaining_energy:
        raise BillingError("overdraft_energy", "a meter cannot hold energy and overdraft at once")
    if overdraft_energy and overdraft_price is None:
        raise BillingError("overdraft_price", "needed to value the overdraft energy")
    valuation = value_remaining(lots, remaining_energy)
    # Energy taken on credit was never paid for: round its value up, like a sale.
    overdraft_value = ceil_div(overdraft_energy * (overdraft_price or 0), VALUE_PER_FEN)
    refund = valuation.remaining_value + remainder + unloaded - overdraft_value - fees
    return EnergyRefund(
        valuation, remainder, unloaded, overdraft_energy, overdraft_value, fees, refund
    )
