"""Energy registers, exact money deduction, alarms, overdraft and trips, as time passes."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.dlt645 import dataids as ids
from gateway.simulator import VirtualMeter
from gateway.simulator.profile import RESIDENTIAL_CURVE
from tests.unit.simulator.helpers import ADDR, NOW, read, status_word_3

HOUR = dt.timedelta(hours=1)


def run(meter: VirtualMeter, duration: dt.timedelta, start: dt.datetime) -> dt.datetime:
    end = start + duration
    meter.advance(duration, end)
    return end


def test_money_is_deducted_exactly_with_sub_fen_carried() -> None:
    meter = VirtualMeter(ADDR, remaining=10_000, price_e4=5_123, alarm1=0, alarm2=0)
    t = run(meter, 3 * HOUR, NOW)
    assert meter.energy_cwh == 300
    assert meter.remaining == 10_000 - 153  # 3 kWh x 0.5123 = 1.5369 yuan: 153 fen so far
    run(meter, HOUR, t)
    assert meter.energy_cwh == 400
    assert meter.remaining == 10_000 - 204  # 4 kWh x 0.5123 = 2.0492 yuan: nothing lost
    assert meter.cumulative_purchased == 0


def test_energy_goes_to_the_tariff_of_each_hour_of_the_meter_clock() -> None:
    meter = VirtualMeter(ADDR)
    run(meter, 2 * HOUR, dt.datetime(2026, 8, 15, 22, 30))
    assert meter.tariff_cwh == [0, 50, 0, 150]  # 22:30-23:00 peak, then valley past midnight
    assert meter.energy_cwh == 200
    meter.clock_offset = dt.timedelta(hours=-12)  # the meter's clock says 10:30, not 22:30
    run(meter, HOUR, dt.datetime(2026, 8, 16, 22, 30))
    assert meter.tariff_cwh == [100, 50, 0, 150]  # sharp, by the meter's clock


def test_unopened_meter_counts_energy_but_keeps_its_wallet() -> None:
    meter = VirtualMeter(ADDR)
    run(meter, 10 * HOUR, NOW)
    assert meter.energy_cwh == 1_000
    assert (meter.remaining, meter.overdraft, meter.relay_open) == (0, 0, False)


def test_acceleration_and_daily_curve() -> None:
    fast = VirtualMeter(ADDR, acceleration=60)
    run(fast, dt.timedelta(minutes=1), NOW)
    assert fast.energy_cwh == 100  # one accelerated minute = one hour at 1 kW
    curved = VirtualMeter(ADDR, load_curve=RESIDENTIAL_CURVE)
    run(curved, HOUR, dt.datetime(2026, 8, 15, 19))
    assert curved.energy_cwh == 200  # 19:00 is 200 % of the base load


def test_alarm_1_alarm_2_overdraft_and_trip() -> None:
    # 1 yuan/kWh at 1 kW: one fen per 0.01 kWh, 100 fen an hour.
    meter = VirtualMeter(
        ADDR,
        remaining=500,
        price_e4=10_000,
        alarm1=400,
        alarm2=200,
        overdraft_limit=100,
    )
    t = run(meter, HOUR, NOW)
    assert meter.remaining == 400
    assert status_word_3(meter, t) & ids.SW3_PRETRIP_ALARM
    assert not meter.relay_open

    t = run(meter, 3 * HOUR, t)  # alarm 2 is reached after two of these hours
    assert (meter.remaining, meter.relay_open, meter.relay.reason) == (200, True, "alarm2")
    assert meter.energy_cwh == 300  # no energy while the relay is open

    assert meter.press_button()  # the customer may close it once
    t = run(meter, 5 * HOUR, t)  # 2 h to zero, 1 h of overdraft, then the trip
    assert (meter.remaining, meter.overdraft) == (0, 100)
    assert (meter.relay_open, meter.relay.reason) == (True, "credit")
    assert meter.energy_cwh == 600
    assert read(meter, "overdraft_money", t).scaled == 100  # type: ignore[union-attr]
    assert not meter.press_button()  # only a purchase closes it now


def test_keep_power_prevents_every_trip() -> None:
    meter = VirtualMeter(ADDR, remaining=500, price_e4=10_000, alarm2=200, overdraft_limit=100)
    meter.relay.keep_power = True
    run(meter, 10 * HOUR, NOW)
    assert not meter.relay_open
    assert (meter.remaining, meter.overdraft) == (0, 500)


def test_direct_close_on_an_exhausted_meter_trips_again_at_the_next_step() -> None:
    meter = VirtualMeter(ADDR, remaining=100, price_e4=10_000, alarm2=0, overdraft_limit=0)
    t = run(meter, 2 * HOUR, NOW)
    assert meter.relay_open
    meter.relay.close()
    run(meter, HOUR, t)
    assert meter.relay_open
    assert meter.energy_cwh == 100


def test_energy_wallet_deducts_hundredths_of_kwh() -> None:
    meter = VirtualMeter(ADDR, wallet="energy", remaining=250, alarm1=0, alarm2=0)
    run(meter, 2 * HOUR, NOW)
    assert (meter.remaining, meter.energy_cwh) == (50, 200)


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.integers(min_value=0, max_value=5_400_000_000), min_size=1, max_size=12),
    remaining=st.integers(min_value=0, max_value=3_000),
    price=st.integers(min_value=0, max_value=20_000),
    load=st.integers(min_value=0, max_value=9_000),
)
def test_advancing_in_pieces_equals_advancing_at_once(
    steps: list[int], remaining: int, price: int, load: int
) -> None:
    """Exactness: however time is sliced, registers, money and trips come out the same."""

    def fresh() -> VirtualMeter:
        return VirtualMeter(
            ADDR,
            remaining=remaining,
            account_opened=True,
            price_e4=price,
            load_w=load,
            alarm2=700,
            overdraft_limit=300,
        )

    sliced, whole = fresh(), fresh()
    t = NOW
    for us in steps:
        t = run(sliced, dt.timedelta(microseconds=us), t)
    run(whole, t - NOW, NOW)
    assert sliced.to_dict() == whole.to_dict()
