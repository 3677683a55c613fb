"""Tariffs the billing tests share, with round figures that make worked examples checkable."""

from __future__ import annotations

import datetime as dt

from gateway.billing import (
    Band,
    BandPrices,
    DaySlot,
    FlatTariff,
    Ladder,
    TieredTariff,
    TimeOfUseTariff,
    TouSchedule,
    TouTierTariff,
)

JAN_1 = dt.datetime(2024, 1, 1)

# Residential ladder: 200 kWh / 400 kWh a month, 0.5283 then +0.05 then +0.30 yuan/kWh.
LADDER = Ladder(thresholds=(20_000, 40_000))
TIERED = TieredTariff("res", 1, JAN_1, LADDER, prices=(5283, 5783, 8283))
FLAT = FlatTariff("flat", 1, JAN_1, price=5283)

# Peak 08:00-22:00, valley 22:00-08:00 (crosses midnight); holidays all valley.
SCHEDULE = TouSchedule(
    weekday=(DaySlot(dt.time(8), Band.PEAK), DaySlot(dt.time(22), Band.VALLEY)),
    weekend=(
        DaySlot(dt.time(0), Band.VALLEY),
        DaySlot(dt.time(10), Band.FLAT),
        DaySlot(dt.time(18), Band.VALLEY),
    ),
    holiday=(DaySlot(dt.time(0), Band.VALLEY),),
    holidays=frozenset({dt.date(2024, 10, 1), dt.date(2024, 10, 2)}),
    workdays=frozenset({dt.date(2024, 10, 12)}),
)
PRICES = BandPrices(sharp=9000, peak=6000, flat=4500, valley=3000)
TOU = TimeOfUseTariff("tou", 1, JAN_1, PRICES, SCHEDULE)
TOU_TIERED = TouTierTariff("sg", 1, JAN_1, PRICES, SCHEDULE, LADDER, adders=(0, 500, 3000))
