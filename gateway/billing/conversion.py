"""Money → energy for energy-type meters, with the carried remainder.

Rule (the accepted practice; there is no public standard):

1. The money available is this purchase plus the previous remainder.
2. Walk the ladder from the customer's period-to-date use: in each tier take
   ``min(room in the tier, money left / price)`` centi-kWh, going on to the next tier only when
   this one is full.
3. Round the energy down to the meter's step (0.01 kWh; some sites sell whole kWh, ``step=100``).
4. The cost is the exact value of that energy (sum of centi-kWh x price, in 1/10000 fen) rounded
   UP to the fen, so the energy is never worth more than what was charged. The fen left over is
   the current remainder, carried to the next purchase.

Hence, exactly: ``amount + previous_remainder == cost + remainder``, and the remainder is worth
less than one more step of energy. Segment costs are the differences of the rounded
running total, so they add up to ``cost`` to the fen.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.billing.errors import BillingError, NegativeAmountError
from gateway.billing.tariff import Tariff
from gateway.billing.units import VALUE_PER_FEN, CentiKwh, Fen, Price, ceil_div


@dataclass(frozen=True)
class Segment:
    """Energy sold in one ladder tier (``tier`` 0 is the first)."""

    tier: int
    energy: CentiKwh
    price: Price
    cost: Fen


@dataclass(frozen=True)
class Conversion:
    amount: Fen
    previous_remainder: Fen
    energy: CentiKwh
    cost: Fen
    remainder: Fen
    segments: tuple[Segment, ...]
    period_use: CentiKwh  # before this purchase
    tariff_id: str
    tariff_version: int

    @property
    def period_use_after(self) -> CentiKwh:
        return self.period_use + self.energy


def _check_non_negative(**values: int) -> None:
    for name, value in values.items():
        if value < 0:
            raise NegativeAmountError(name, f"must not be negative, got {value}")


def _walk(energy: CentiKwh, tariff: Tariff, period_use: CentiKwh) -> list[tuple[int, int, Price]]:
    """(tier, centi-kWh, price) pieces of ``energy`` bought on top of ``period_use``."""
    ladder = tariff.ladder
    pieces: list[tuple[int, int, Price]] = []
    use, left = period_use, energy
    while left > 0:
        tier = ladder.tier_of(use) if ladder is not None else 0
        room = ladder.room(tier, use) if ladder is not None else None
        take = left if room is None else min(room, left)
        pieces.append((tier, take, tariff.purchase_price(tier)))
        use += take
        left -= take
    return pieces


def _max_affordable(budget: int, tariff: Tariff, period_use: CentiKwh) -> CentiKwh:
    """Most centi-kWh worth at most ``budget`` (in 1/10000 fen) from ``period_use`` on."""
    ladder = tariff.ladder
    use, energy = period_use, 0
    while True:
        tier = ladder.tier_of(use) if ladder is not None else 0
        room = ladder.room(tier, use) if ladder is not None else None
        price = tariff.purchase_price(tier)
        affordable = budget // price
        take = affordable if room is None else min(room, affordable)
        energy += take
        if room is None or take < room:
            return energy
        budget -= take * price
        use += take


def _segments(pieces: list[tuple[int, int, Price]]) -> tuple[tuple[Segment, ...], Fen]:
    segments: list[Segment] = []
    value, charged = 0, 0
    for tier, energy, price in pieces:
        value += energy * price
        running = ceil_div(value, VALUE_PER_FEN)
        segments.append(Segment(tier, energy, price, running - charged))
        charged = running
    return tuple(segments), charged


def money_to_energy(
    amount: Fen,
    tariff: Tariff,
    *,
    period_use: CentiKwh = 0,
    previous_remainder: Fen = 0,
    step: CentiKwh = 1,
) -> Conversion:
    """Convert a purchase of ``amount`` fen into energy for an energy-type meter."""
    _check_non_negative(amount=amount, period_use=period_use, previous_remainder=previous_remainder)
    if step < 1:
        raise BillingError("step", f"the energy step must be at least 1 (0.01 kWh), got {step}")
    available = amount + previous_remainder
    energy = _max_affordable(available * VALUE_PER_FEN, tariff, period_use)
    energy -= energy % step
    segments, cost = _segments(_walk(energy, tariff, period_use))
    return Conversion(
        amount=amount,
        previous_remainder=previous_remainder,
        energy=energy,
        cost=cost,
        remainder=available - cost,
        segments=segments,
        period_use=period_use,
        tariff_id=tariff.id,
        tariff_version=tariff.version,
    )


def cost_of_energy(
    energy: CentiKwh,
    tariff: Tariff,
    *,
    period_use: CentiKwh = 0,
    previous_remainder: Fen = 0,
) -> Fen:
    """The least amount to pay so that ``money_to_energy`` gives at least ``energy``.

    For the "buy N kWh" form: the operator enters energy, the customer pays this.
    """
    _check_non_negative(energy=energy, period_use=period_use, previous_remainder=previous_remainder)
    _, value = _segments(_walk(energy, tariff, period_use))
    return max(0, value - previous_remainder)
