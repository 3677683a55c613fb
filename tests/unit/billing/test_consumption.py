"""Gateway-wallet debits from register readings: TOU bands, tiers, periods, and anomalies."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.billing import (
    AnomalyKind,
    Band,
    ConsumptionState,
    FlatTariff,
    MeteringLimits,
    Reading,
    SettingsError,
    debit,
    start_baseline,
)
from gateway.billing.tariff import with_version
from tests.unit.billing.examples import FLAT, SCHEDULE, TIERED, TOU, TOU_TIERED

METER = "002241020208"


def at(month: int, day: int, hour: int, minute: int = 0, year: int = 2024) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute)


def base(when: dt.datetime, register: int, tariff: object, **kw: int) -> ConsumptionState:
    return start_baseline(Reading(METER, when, register), [tariff], **kw)  # type: ignore[list-item]


def test_flat_debit_and_sub_fen_residue() -> None:
    state = base(at(3, 5, 10), 1000, FLAT)
    d = debit(state, Reading(METER, at(3, 5, 11), 1001), [FLAT])
    # 0.01 kWh x 0.5283 = 0.5283 fen: nothing charged yet, the fraction is kept.
    assert (d.energy, d.charge, d.state.residue) == (1, 0, 5283)
    d = debit(d.state, Reading(METER, at(3, 5, 12), 1002), [FLAT])
    assert (d.charge, d.state.residue) == (1, 566)
    d = debit(d.state, Reading(METER, at(3, 5, 13), 2002), [FLAT])
    assert (d.charge, d.state.residue) == (528, 3566)  # 528.30 + 0.0566 fen


def test_tou_interval_across_midnight_is_split_by_time() -> None:
    # Tuesday 21:00 → Wednesday 01:00, 4 kWh: 1 h peak, 3 h valley (22:00-08:00 crosses midnight).
    state = base(at(3, 5, 21), 0, TOU)
    d = debit(state, Reading(METER, at(3, 6, 1), 400), [TOU])
    parts = [(s.band, s.energy, s.price, s.cost) for s in d.segments]
    assert parts == [(Band.PEAK, 100, 6000, 60), (Band.VALLEY, 300, 3000, 90)]
    assert d.charge == 150
    assert d.segments[1].start == at(3, 5, 22)
    assert d.segments[1].end == at(3, 6, 1)


def test_tou_boundary_split_in_proportion_to_time() -> None:
    state = base(at(3, 5, 21, 30), 0, TOU)
    d = debit(state, Reading(METER, at(3, 5, 22, 30), 101), [TOU])
    # 1.01 kWh over 30 + 30 minutes: 50 + 50, the odd centi-kWh to the earlier piece on a tie.
    assert [(s.band, s.energy) for s in d.segments] == [(Band.PEAK, 51), (Band.VALLEY, 50)]


def test_tou_into_a_holiday() -> None:
    # Monday 30 Sep 20:00 → Tuesday 1 Oct 10:00 (National Day), 1 kWh an hour.
    state = base(at(9, 30, 20), 0, TOU)
    d = debit(state, Reading(METER, at(10, 1, 10), 1400), [TOU])
    by_band = {s.band: 0 for s in d.segments}
    for s in d.segments:
        by_band[s.band] += s.energy
    # On a working Tuesday 08:00-10:00 would be peak; on the holiday it is valley.
    assert by_band == {Band.PEAK: 200, Band.VALLEY: 1200}
    assert d.charge == (200 * 6000 + 1200 * 3000) // 10_000 == 480


def test_tiers_accumulate_within_the_month() -> None:
    state = base(at(3, 5, 10), 0, TIERED, period_use=19_950)
    d = debit(state, Reading(METER, at(3, 5, 11), 100), [TIERED])
    assert [(s.tier, s.energy, s.price) for s in d.segments] == [(0, 50, 5283), (1, 50, 5783)]
    assert d.state.period_use == 20_050


def test_new_settlement_period_restarts_the_ladder() -> None:
    state = base(at(1, 31, 23), 0, TIERED, period_use=30_000)
    d = debit(state, Reading(METER, at(2, 1, 1), 200), [TIERED])
    assert [(s.tier, s.energy) for s in d.segments] == [(1, 100), (0, 100)]
    assert d.charge == (100 * 5783 + 100 * 5283) // 10_000 == 110
    assert d.state.period_start == at(2, 1, 0)
    assert d.state.period_use == 100


def test_state_grid_tou_plus_ladder_adder() -> None:
    state = base(at(3, 5, 12), 0, TOU_TIERED, period_use=20_000)
    d = debit(state, Reading(METER, at(3, 5, 13), 100), [TOU_TIERED])
    assert [(s.band, s.tier, s.price) for s in d.segments] == [(Band.PEAK, 1, 6500)]


def test_tariff_change_inside_an_interval() -> None:
    dearer = with_version(FLAT, 2, at(3, 5, 12))
    dearer = FlatTariff(dearer.id, dearer.version, dearer.effective_from, price=6283)
    state = start_baseline(Reading(METER, at(3, 5, 11), 0), [FLAT, dearer])
    d = debit(state, Reading(METER, at(3, 5, 13), 200), [FLAT, dearer])
    assert [(s.tariff_version, s.energy, s.price) for s in d.segments] == [
        (1, 100, 5283),
        (2, 100, 6283),
    ]


def test_counter_reset_starts_a_new_baseline_without_a_spike() -> None:
    state = base(at(3, 5, 10), 1_234_500, FLAT)
    reset = debit(state, Reading(METER, at(3, 5, 11), 10), [FLAT])
    assert (reset.energy, reset.charge) == (0, 0)
    assert [a.kind for a in reset.anomalies] == [AnomalyKind.COUNTER_RESET]
    assert (reset.anomalies[0].previous, reset.anomalies[0].register) == (1_234_500, 10)
    after = debit(reset.state, Reading(METER, at(3, 5, 12), 110), [FLAT])
    assert (after.energy, after.charge, after.anomalies) == (100, 52, ())


def test_meter_replacement_keeps_the_customers_tier_position() -> None:
    state = base(at(3, 5, 10), 50_000, TIERED, period_use=19_000)
    state = debit(state, Reading(METER, at(3, 5, 11), 50_500), [TIERED]).state
    replaced = debit(state, Reading("002241020999", at(3, 5, 15), 3), [TIERED])
    assert replaced.charge == 0
    assert [a.kind for a in replaced.anomalies] == [AnomalyKind.METER_CHANGED]
    assert replaced.state.period_use == 19_500
    after = debit(replaced.state, Reading("002241020999", at(3, 5, 16), 1003), [TIERED])
    assert [(s.tier, s.energy) for s in after.segments] == [(0, 500), (1, 500)]


def test_glitch_is_held_then_dropped() -> None:
    state = base(at(3, 5, 10), 1000, FLAT)
    glitch = debit(state, Reading(METER, at(3, 5, 10, 15), 99_999_999), [FLAT])
    assert glitch.charge == 0
    assert [a.kind for a in glitch.anomalies] == [AnomalyKind.SPIKE]
    ok = debit(glitch.state, Reading(METER, at(3, 5, 10, 30), 1100), [FLAT])
    assert (ok.energy, ok.charge, ok.anomalies) == (100, 52, ())
    assert ok.state.held is None


def test_confirmed_jump_rebaselines_without_charging_it() -> None:
    state = base(at(3, 5, 10), 1000, FLAT)
    jump = debit(state, Reading(METER, at(3, 5, 10, 15), 500_000), [FLAT])
    assert jump.charge == 0
    confirmed = debit(jump.state, Reading(METER, at(3, 5, 10, 30), 500_100), [FLAT])
    assert [a.kind for a in confirmed.anomalies] == [AnomalyKind.REBASELINED]
    assert confirmed.anomalies[0].unbilled == 499_000
    assert (confirmed.energy, confirmed.charge) == (100, 52)


def test_spike_threshold_follows_the_configured_power() -> None:
    state = base(at(3, 5, 10), 0, FLAT)
    # 2.52 kWh in 15 min (2.51 with the one-step slack) is over 10 kW: a spike for a 10 kW service.
    reading = Reading(METER, at(3, 5, 10, 15), 252)
    small = debit(state, reading, [FLAT], MeteringLimits(max_power_w=10_000))
    assert [a.kind for a in small.anomalies] == [AnomalyKind.SPIKE]
    assert debit(state, reading, [FLAT]).energy == 252
    with pytest.raises(SettingsError):
        MeteringLimits(max_power_w=0)


def test_old_or_repeated_readings_change_nothing() -> None:
    state = base(at(3, 5, 10), 1000, FLAT)
    again = debit(state, Reading(METER, at(3, 5, 10), 1000), [FLAT])
    assert (again.state, again.anomalies) == (state, ())
    older = debit(state, Reading(METER, at(3, 5, 9), 900), [FLAT])
    assert older.state == state
    assert [a.kind for a in older.anomalies] == [AnomalyKind.OUT_OF_ORDER]


def test_long_offline_interval_is_charged_not_flagged() -> None:
    # Three days without a read at 2 kW: 144 kWh is plausible and charged in full.
    state = base(at(3, 1, 0), 0, TOU)
    d = debit(state, Reading(METER, at(3, 4, 0), 14_400), [TOU])
    assert d.anomalies == ()
    assert sum(s.energy for s in d.segments) == 14_400


@given(
    steps=st.lists(st.tuples(st.integers(1, 24 * 60), st.integers(0, 50)), min_size=1, max_size=30),
    start_use=st.integers(0, 50_000),
)
def test_every_centi_kwh_is_charged_once_at_its_band(
    steps: list[tuple[int, int]], start_use: int
) -> None:
    """Over days of random reads crossing bands, holidays and a month end."""
    when, register = at(9, 28, 7, 30), 5000
    state = start_baseline(Reading(METER, when, register), [TOU_TIERED], period_use=start_use)
    first = state
    energy, charged, value = 0, 0, 0
    for minutes, rate in steps:
        used = minutes * rate  # up to 30 kW: always plausible
        when += dt.timedelta(minutes=minutes)
        register += used
        d = debit(state, Reading(METER, when, register), [TOU_TIERED])
        assert d.anomalies == ()
        assert sum(s.energy for s in d.segments) == d.energy == used
        assert sum(s.cost for s in d.segments) == d.charge
        for s in d.segments:
            assert s.band is SCHEDULE.band_at(s.start)
            assert s.price == TOU_TIERED.price_at(s.tier, s.start)
            value += s.energy * s.price
        energy += d.energy
        charged += d.charge
        state = d.state
    assert energy == register - first.register
    # Fen charged plus the carried residue is the exact value: nothing lost, nothing invented.
    assert charged * 10_000 + state.residue == value
    assert 0 <= state.residue < 10_000
