"""Money → energy for energy-type meters: tiers walked exactly, remainder carried to the fen."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.billing import (
    FlatTariff,
    Ladder,
    NegativeAmountError,
    Segment,
    Settlement,
    Tariff,
    TieredTariff,
    cost_of_energy,
    money_to_energy,
)
from tests.unit.billing.examples import FLAT, JAN_1, TIERED, TOU, TOU_TIERED


def test_flat_purchase() -> None:
    # 100.00 yuan at 0.5283 yuan/kWh = 189.28 kWh (worth 99.9962 yuan, charged 100.00).
    c = money_to_energy(10_000, FLAT)
    assert (c.energy, c.cost, c.remainder) == (18_928, 10_000, 0)
    assert c.segments == (Segment(0, 18_928, 5283, 10_000),)
    assert (c.tariff_id, c.tariff_version) == ("flat", 1)


def test_purchase_straddling_a_tier_boundary() -> None:
    # 199 kWh used this month; 1.11 yuan buys the last 1 kWh of tier 1 and 1 kWh of tier 2:
    # 100 x 0.5283 fen + 100 x 0.5783 fen = 110.66 fen, charged 111 fen.
    c = money_to_energy(111, TIERED, period_use=19_900)
    assert c.energy == 200
    assert c.segments == (Segment(0, 100, 5283, 53), Segment(1, 100, 5783, 58))
    assert (c.cost, c.remainder) == (111, 0)
    assert c.period_use_after == 20_100


def test_purchase_filling_a_tier_exactly_stays_in_it() -> None:
    # 200 kWh x 0.5283 = 105.66 yuan exactly: all of tier 1, nothing of tier 2.
    c = money_to_energy(10_566, TIERED)
    assert c.segments == (Segment(0, 20_000, 5283, 10_566),)
    assert c.remainder == 0
    # One fen more buys 0.01 kWh at the tier-2 price.
    c = money_to_energy(10_567, TIERED)
    assert c.segments == (Segment(0, 20_000, 5283, 10_566), Segment(1, 1, 5783, 1))


def test_use_exactly_at_the_threshold_is_the_next_tier() -> None:
    c = money_to_energy(5783, TIERED, period_use=20_000)
    assert c.segments == (Segment(1, 10_000, 5783, 5783),)


def test_purchase_across_all_three_tiers() -> None:
    c = money_to_energy(40_000, TIERED, period_use=10_000)
    tiers = [(s.tier, s.energy) for s in c.segments]
    # tier 1: 100 kWh = 52.83; tier 2: 200 kWh = 115.66; the rest at 0.8283.
    assert tiers[:2] == [(0, 10_000), (1, 20_000)]
    assert tiers[2][0] == 2
    assert tiers[2][1] == (40_000 - 5283 - 11_566) * 10_000 // 8283
    assert sum(s.cost for s in c.segments) == c.cost
    assert c.cost + c.remainder == 40_000


def test_remainder_carried_across_three_purchases() -> None:
    # A site that sells whole kWh (step 100): what does not make a whole kWh is carried.
    first = money_to_energy(1000, FLAT, step=100)
    assert (first.energy, first.cost, first.remainder) == (1800, 951, 49)
    second = money_to_energy(1000, FLAT, previous_remainder=first.remainder, step=100)
    assert (second.energy, second.cost, second.remainder) == (1900, 1004, 45)
    third = money_to_energy(1000, FLAT, previous_remainder=second.remainder, step=100)
    assert (third.energy, third.cost, third.remainder) == (1900, 1004, 41)
    assert first.cost + second.cost + third.cost + third.remainder == 3000


def test_remainder_at_fine_resolution_with_a_high_price() -> None:
    dear = FlatTariff("dear", 1, JAN_1, price=20_001)  # 2.0001 yuan/kWh
    first = money_to_energy(1000, dear)
    assert (first.energy, first.cost, first.remainder) == (499, 999, 1)
    second = money_to_energy(1000, dear, previous_remainder=first.remainder)
    assert (second.energy, second.cost, second.remainder) == (500, 1001, 0)


def test_time_of_use_tariffs_convert_at_the_base_band() -> None:
    assert money_to_energy(4500, TOU).energy == 10_000
    # State Grid: flat band + ladder adder.
    c = money_to_energy(10_000, TOU_TIERED, period_use=20_000)
    assert c.segments[0].price == 5000


def test_refuses_negative_input() -> None:
    with pytest.raises(NegativeAmountError) as info:
        money_to_energy(-1, FLAT)
    assert info.value.field == "amount"


def test_cost_of_energy_for_the_buy_by_kwh_form() -> None:
    assert cost_of_energy(200, TIERED, period_use=19_900) == 111
    assert cost_of_energy(200, TIERED, period_use=19_900, previous_remainder=11) == 100
    assert cost_of_energy(0, TIERED) == 0


# --- properties ---------------------------------------------------------------------------------

prices = st.integers(min_value=1, max_value=50_000)


@st.composite
def tariffs(draw: st.DrawFn) -> Tariff:
    if draw(st.booleans()):
        return FlatTariff("p", 1, JAN_1, price=draw(prices))
    steps = draw(st.lists(st.integers(1, 50_000), min_size=1, max_size=6))
    thresholds = tuple(sum(steps[: i + 1]) for i in range(len(steps)))
    tier_prices = tuple(draw(prices) for _ in range(len(thresholds) + 1))
    return TieredTariff("p", 1, JAN_1, Ladder(thresholds, Settlement.YEARLY), tier_prices)


@given(
    tariff=tariffs(),
    amount=st.integers(0, 10_000_000),
    previous=st.integers(0, 10_000),
    period_use=st.integers(0, 400_000),
    step=st.sampled_from([1, 10, 100]),
)
def test_conversion_never_gives_unpaid_energy_and_never_loses_a_fen(
    tariff: Tariff, amount: int, previous: int, period_use: int, step: int
) -> None:
    c = money_to_energy(
        amount, tariff, period_use=period_use, previous_remainder=previous, step=step
    )
    value = sum(s.energy * s.price for s in c.segments)  # in 1/10000 fen
    assert amount + previous == c.cost + c.remainder  # no fen lost or made
    assert value <= c.cost * 10_000  # never more energy than paid for
    assert c.cost * 10_000 - value < 10_000  # charged under one fen above its worth
    assert c.remainder >= 0
    assert c.energy % step == 0
    assert sum(s.energy for s in c.segments) == c.energy
    assert sum(s.cost for s in c.segments) == c.cost
    assert [s.tier for s in c.segments] == sorted(s.tier for s in c.segments)
    # The remainder cannot buy one more step: the customer got all the energy the money allowed.
    assert cost_of_energy(c.energy + step, tariff, period_use=period_use) > amount + previous


@given(tariff=tariffs(), energy=st.integers(0, 1_000_000), period_use=st.integers(0, 400_000))
def test_paying_cost_of_energy_buys_at_least_that_energy(
    tariff: Tariff, energy: int, period_use: int
) -> None:
    amount = cost_of_energy(energy, tariff, period_use=period_use)
    assert money_to_energy(amount, tariff, period_use=period_use).energy >= energy
    if amount > 0:
        assert money_to_energy(amount - 1, tariff, period_use=period_use).energy < energy
