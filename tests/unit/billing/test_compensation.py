"""Replacement compensation: the old meter's credit moves to the new meter, valued as paid."""

from __future__ import annotations

from gateway.billing import (
    Lot,
    WalletKind,
    compensate_energy,
    compensate_money,
    energy_refund,
    lots_from_conversion,
    money_to_energy,
)
from tests.unit.billing.examples import FLAT, TIERED


def test_money_meter_to_money_meter() -> None:
    c = compensate_money(4_321)
    assert (c.money, c.energy, c.value, c.debt) == (4_321, 0, 4_321, 0)


def test_overdraft_on_the_old_meter_becomes_a_debt() -> None:
    c = compensate_money(0, overdraft=800)
    assert (c.money, c.debt) == (0, 800)


def test_energy_meter_to_energy_meter_carries_its_lots() -> None:
    lots = lots_from_conversion("sale-1", money_to_energy(5_283, FLAT))  # 100 kWh
    lots += lots_from_conversion("sale-2", money_to_energy(5_283, FLAT))
    c = compensate_energy(12_000, lots)  # 120 kWh left on the old meter
    assert c.energy == 12_000
    assert c.lots == (Lot("sale-1", 2_000, 1_056), Lot("sale-2", 10_000, 5_283))
    assert c.value == 6_339
    # Closing the account on the new meter later still values what was carried as paid.
    assert energy_refund(12_000, c.lots).refund == c.value


def test_energy_meter_to_money_meter_converts_at_snapshot_prices() -> None:
    lots = (Lot("sale-1", 10_000, 5_000), Lot("sale-2", 10_000, 6_000))
    c = compensate_energy(15_000, lots, new_kind=WalletKind.MONEY)
    assert (c.money, c.energy, c.value) == (8_500, 0, 8_500)


def test_money_meter_to_energy_meter_converts_by_the_new_tariff() -> None:
    c = compensate_money(10_566, new_kind=WalletKind.ENERGY, tariff=TIERED)
    assert (c.energy, c.value, c.remainder) == (20_000, 10_566, 0)
    assert [lot.energy for lot in c.lots] == [20_000]


def test_old_energy_meter_in_overdraft() -> None:
    c = compensate_energy(0, (), overdraft_energy=200, overdraft_price=5283)
    assert (c.energy, c.debt) == (0, 106)
