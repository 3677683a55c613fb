"""Refunds on closure: money-type with overdraft, energy-type valued first in first out."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.billing import (
    BillingError,
    Lot,
    ReconcileFirstError,
    energy_refund,
    lots_from_conversion,
    money_refund,
    money_to_energy,
    value_remaining,
)
from tests.unit.billing.examples import FLAT, TIERED


def test_money_refund_adds_unloaded_sales_and_takes_fees() -> None:
    r = money_refund(12_345, unloaded=5000, fees=500)
    assert (r.refund, r.payout, r.owed) == (16_845, 16_845, 0)


def test_overdraft_means_the_customer_owes() -> None:
    r = money_refund(0, overdraft=1_250, fees=200)
    assert (r.refund, r.payout, r.owed) == (-1_450, 0, 1_450)


def test_gateway_debts_are_deducted() -> None:
    assert money_refund(3000, debts=700).refund == 2300


def test_money_refund_refuses_negative_registers() -> None:
    with pytest.raises(BillingError) as info:
        money_refund(-1)
    assert (info.value.code, info.value.field) == ("E203", "remaining")


def test_energy_refund_after_buying_at_two_prices() -> None:
    # Bought 200 kWh at 0.50 (100.00 yuan), then, after a price rise, 100 kWh at 0.60 (60.00).
    cheap = dataclasses.replace(FLAT, price=5000)
    dear = dataclasses.replace(FLAT, version=2, effective_from=dt.datetime(2024, 7, 1), price=6000)
    first = money_to_energy(10_000, cheap)
    second = money_to_energy(6_000, dear)
    assert (first.energy, second.energy) == (20_000, 10_000)
    lots = lots_from_conversion("sale-1", first) + lots_from_conversion("sale-2", second)
    # 150 kWh remain: the meter used the first 150 kWh of the cheap purchase.
    r = energy_refund(15_000, lots)
    assert r.valuation.remaining == (Lot("sale-1", 5_000, 2_500), Lot("sale-2", 10_000, 6_000))
    assert r.refund == 8_500  # 50 kWh x 0.50 + 100 kWh x 0.60
    assert r.valuation.consumed_value == 7_500


def test_energy_refund_of_a_purchase_split_across_tiers() -> None:
    sale = money_to_energy(20_000, TIERED)  # 200 kWh at 0.5283, the rest at 0.5783
    lots = lots_from_conversion("sale-1", sale)
    assert [lot.energy for lot in lots] == [20_000, sale.energy - 20_000]
    # 10 kWh used: they came out of the cheaper tier-1 lot, so the dearer lot is refunded whole.
    r = energy_refund(sale.energy - 1_000, lots, remainder=sale.remainder)
    assert r.valuation.remaining[1] == lots[1]
    assert r.valuation.remaining[0] == Lot("sale-1", 19_000, lots[0].cost * 19_000 // 20_000)


def test_energy_refund_with_overdraft_energy_owes() -> None:
    lots = (Lot("sale-1", 1000, 528),)
    r = energy_refund(0, lots, overdraft_energy=350, overdraft_price=5283, fees=100)
    assert r.overdraft_value == 185  # 184.905 fen, rounded up like a sale
    assert (r.refund, r.owed) == (-285, 285)


def test_energy_refund_needs_a_price_for_overdraft() -> None:
    with pytest.raises(BillingError) as info:
        energy_refund(0, (), overdraft_energy=10)
    assert info.value.field == "overdraft_price"


def test_more_energy_than_sold_must_be_reconciled_first() -> None:
    with pytest.raises(ReconcileFirstError) as info:
        value_remaining((Lot("sale-1", 1000, 528),), 1001)
    assert info.value.code == "E240"


lots_strategy = st.lists(
    st.builds(Lot, st.just("s"), st.integers(1, 100_000), st.integers(0, 100_000)),
    max_size=12,
)


@given(lots=lots_strategy, data=st.data())
def test_fifo_valuation_splits_what_was_paid_exactly(lots: list[Lot], data: st.DataObject) -> None:
    bought = sum(lot.energy for lot in lots)
    remaining = data.draw(st.integers(0, bought))
    v = value_remaining(lots, remaining)
    assert v.remaining_value + v.consumed_value == sum(lot.cost for lot in lots)
    assert v.remaining_energy == remaining
    for kept, lot in zip(reversed(v.remaining), reversed(lots), strict=False):
        assert kept.energy <= lot.energy
        assert kept.cost <= lot.cost  # never worth more than was paid for it
