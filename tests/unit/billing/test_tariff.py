"""Tariff kinds: validation names the field, JSON round-trips, versions and day periods."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest

from gateway.billing import (
    Band,
    DaySlot,
    FlatTariff,
    Ladder,
    NoTariffInForceError,
    Settlement,
    TariffError,
    TieredTariff,
    TouSchedule,
    select_version,
    tariff_from_json_dict,
)
from gateway.billing.tariff import next_period_start, period_start, with_version
from tests.unit.billing.examples import FLAT, JAN_1, SCHEDULE, TIERED, TOU, TOU_TIERED


@pytest.mark.parametrize("tariff", [FLAT, TIERED, TOU, TOU_TIERED], ids=lambda t: t.kind)
def test_json_round_trip(tariff: Any) -> None:
    data = json.loads(json.dumps(tariff.to_json_dict()))
    assert tariff_from_json_dict(data) == tariff
    assert type(tariff).from_json_dict(data) == tariff


def test_json_form_is_readable_integers() -> None:
    assert TIERED.to_json_dict() == {
        "kind": "tiered",
        "id": "res",
        "version": 1,
        "effective_from": "2024-01-01T00:00:00",
        "ladder": {"thresholds": [20000, 40000], "settlement": "monthly", "start_month": 1},
        "prices": [5283, 5783, 8283],
    }
    assert TOU.to_json_dict()["schedule"]["weekday"] == [["08:00", "peak"], ["22:00", "valley"]]


def _broken(base: Any, path: list[str | int], value: Any) -> dict[str, Any]:
    data: Any = json.loads(json.dumps(base.to_json_dict()))
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return dict(data)


@pytest.mark.parametrize(
    ("base", "path", "value", "field"),
    [
        (FLAT, ["price"], 0, "price"),
        (FLAT, ["price"], "0.5", "price"),
        (FLAT, ["version"], 0, "version"),
        (FLAT, ["id"], " ", "id"),
        (FLAT, ["effective_from"], "2024-01-01T00:00:00+08:00", "effective_from"),
        (FLAT, ["effective_from"], "soon", "effective_from"),
        (FLAT, ["kind"], "gas", "kind"),
        (FLAT, ["colour"], "red", "colour"),
        (TIERED, ["ladder", "thresholds", 1], 20_000, "ladder.thresholds[1]"),
        (TIERED, ["ladder", "thresholds"], [1, 2, 3, 4, 5, 6, 7], "ladder.thresholds"),
        (TIERED, ["ladder", "settlement"], "weekly", "ladder.settlement"),
        (TIERED, ["prices"], [5283, 5783], "prices"),
        (TIERED, ["ladder"], [20_000], "ladder"),
        (TOU, ["schedule", "weekday", 0], ["8 am", "peak"], "schedule.weekday[0]"),
        (TOU, ["schedule", "weekday", 0], ["08:00:30", "peak"], "schedule.weekday[0]"),
        (TIERED, ["prices", 2], -1, "prices[2]"),
        (TOU, ["prices", "peak"], None, "prices.peak"),
        (TOU, ["schedule", "weekday", 1], ["07:00", "valley"], "schedule.weekday[1]"),
        (TOU, ["schedule", "weekday", 0], ["08:00", "shoulder"], "schedule.weekday[0]"),
        (TOU, ["schedule", "holidays", 0], "1 Oct", "schedule.holidays[0]"),
        (TOU, ["schedule", "weekday"], [], "schedule.weekday"),
        (TOU_TIERED, ["adders"], [0, 500], "adders"),
    ],
)
def test_validation_names_the_field(
    base: Any, path: list[str | int], value: Any, field: str
) -> None:
    data = _broken(base, path, value)
    if value is None:
        del data[path[0]][path[1]]  # type: ignore[index]
    with pytest.raises(TariffError) as info:
        tariff_from_json_dict(data)
    assert info.value.field == field
    assert info.value.code == "E210"


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(TariffError) as info:
        TieredTariff("x", 1, JAN_1, Ladder((100, 50)), prices=(1, 2, 3))
    assert info.value.field == "thresholds[1]"


def test_select_version_by_effective_date() -> None:
    v1 = FLAT
    v2 = with_version(FLAT, 2, dt.datetime(2024, 7, 1))
    v3 = dataclasses.replace(v2, version=3, price=5300)  # a correction, same effective time
    versions = [v3, v1, v2]
    assert select_version(versions, dt.datetime(2024, 6, 30, 23, 59)) is v1
    assert select_version(versions, dt.datetime(2024, 7, 1)) is v3
    with pytest.raises(NoTariffInForceError) as info:
        select_version(versions, dt.datetime(2023, 12, 31))
    assert info.value.code == "E211"


def test_day_periods_cross_midnight() -> None:
    tuesday = dt.date(2024, 3, 5)

    def at(hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime.combine(tuesday, dt.time(hour, minute))

    assert SCHEDULE.band_at(at(7, 59)) is Band.VALLEY  # before the first slot: last slot runs on
    assert SCHEDULE.band_at(at(8)) is Band.PEAK
    assert SCHEDULE.band_at(at(21, 59)) is Band.PEAK
    assert SCHEDULE.band_at(at(22)) is Band.VALLEY
    assert SCHEDULE.band_at(at(0)) is Band.VALLEY
    assert SCHEDULE.next_change_after(at(3)) == at(8)
    assert SCHEDULE.next_change_after(at(22)) == dt.datetime(2024, 3, 6)


def test_day_tables_for_weekends_holidays_and_workdays() -> None:
    assert SCHEDULE.table_for(dt.date(2024, 10, 1)) == SCHEDULE.holiday  # National Day, Tuesday
    assert SCHEDULE.table_for(dt.date(2024, 10, 5)) == SCHEDULE.weekend  # Saturday
    assert SCHEDULE.table_for(dt.date(2024, 10, 12)) == SCHEDULE.weekday  # Saturday worked
    assert SCHEDULE.table_for(dt.date(2024, 10, 14)) == SCHEDULE.weekday
    assert SCHEDULE.band_at(dt.datetime(2024, 10, 1, 12)) is Band.VALLEY
    assert SCHEDULE.band_at(dt.datetime(2024, 10, 8, 12)) is Band.PEAK


def test_missing_tables_fall_back() -> None:
    plain = TouSchedule(
        weekday=(DaySlot(dt.time(0), Band.FLAT),), holidays=frozenset({dt.date(2024, 5, 1)})
    )
    assert plain.table_for(dt.date(2024, 5, 1)) == plain.weekday
    assert plain.table_for(dt.date(2024, 5, 4)) == plain.weekday


def test_prices_per_kind() -> None:
    noon = dt.datetime(2024, 3, 5, 12)
    night = dt.datetime(2024, 3, 5, 23)
    assert TOU.price_at(0, noon) == 6000
    assert TOU.price_at(2, night) == 3000
    assert TOU.purchase_price(0) == 4500  # energy-type meters buy at the flat band
    assert TOU_TIERED.price_at(1, noon) == 6500
    assert TOU_TIERED.price_at(2, night) == 6000
    assert TOU_TIERED.purchase_price(2) == 7500
    assert TIERED.price_at(1, noon) == 5783


def test_settlement_periods() -> None:
    at = dt.datetime(2024, 12, 31, 23, 59)
    assert period_start(Settlement.MONTHLY, 1, at) == dt.datetime(2024, 12, 1)
    assert next_period_start(Settlement.MONTHLY, 1, at) == dt.datetime(2025, 1, 1)
    assert period_start(Settlement.YEARLY, 7, dt.datetime(2024, 3, 1)) == dt.datetime(2023, 7, 1)
    assert next_period_start(Settlement.YEARLY, 7, dt.datetime(2024, 3, 1)) == dt.datetime(
        2024, 7, 1
    )
    ladder = Ladder((216_000, 420_000), Settlement.YEARLY)
    assert ladder.tier_of(0) == 0
    assert ladder.tier_of(215_999) == 0
    assert ladder.tier_of(216_000) == 1
    assert ladder.room(0, 215_000) == 1000
    assert ladder.room(2, 500_000) is None


def test_flat_tariff_refuses_zero_price() -> None:
    with pytest.raises(TariffError):
        FlatTariff("x", 1, JAN_1, price=0)
