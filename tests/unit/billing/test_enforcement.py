"""Alarms, trips and recloses from the balance; keep-power, friendly credit, emergency credit."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from gateway.billing import (
    AccountState,
    Alarm,
    EmergencyCreditUnavailableError,
    EnforcementSettings,
    FriendlyCredit,
    FriendlyWindow,
    HoardingLimitError,
    Protection,
    RelayCommand,
    SettingsError,
    apply_charge,
    apply_purchase,
    decide,
    take_emergency_credit,
)

WEEKDAYS = frozenset({1, 2, 3, 4, 5})
FRIENDLY = FriendlyCredit(
    windows=(
        FriendlyWindow(WEEKDAYS, dt.time(18), dt.time(9)),
        FriendlyWindow(frozenset({6, 7}), dt.time(0), dt.time(0)),
    ),
    holidays=frozenset({dt.date(2024, 10, 1)}),
)
SETTINGS = EnforcementSettings(alarm1=2000, alarm2=1000, overdraft_limit=500)
TUESDAY_NOON = dt.datetime(2024, 3, 5, 12)


def relay_for(
    balance: int, settings: EnforcementSettings = SETTINGS, **state: bool
) -> tuple[Alarm, RelayCommand]:
    d = decide(AccountState(balance=balance, **state), settings, TUESDAY_NOON)
    return d.alarm, d.relay


def test_alarm_levels_and_trip_floor() -> None:
    assert relay_for(2001) == (Alarm.NONE, RelayCommand.NONE)
    assert relay_for(2000) == (Alarm.ALARM1, RelayCommand.NONE)
    assert relay_for(1000) == (Alarm.ALARM2, RelayCommand.WARN_TRIP)
    assert relay_for(1000, alarm2_warned=True) == (Alarm.ALARM2, RelayCommand.NONE)
    assert relay_for(0) == (Alarm.OVERDRAFT, RelayCommand.NONE)  # running on overdraft
    assert relay_for(-499) == (Alarm.OVERDRAFT, RelayCommand.NONE)
    assert relay_for(-500) == (Alarm.EXHAUSTED, RelayCommand.TRIP)


def test_after_the_warning_trip_the_customer_recloses() -> None:
    warned = AccountState(balance=900, relay_open=True, alarm2_warned=True)
    assert decide(warned, SETTINGS, TUESDAY_NOON).relay is RelayCommand.NONE
    topped_up = apply_purchase(warned, 5_000, SETTINGS).state
    assert decide(topped_up, SETTINGS, TUESDAY_NOON).relay is RelayCommand.CLOSE


def test_without_overdraft_the_trip_is_at_zero() -> None:
    plain = EnforcementSettings(alarm1=1000, alarm2=500)
    assert relay_for(1, plain) == (Alarm.ALARM2, RelayCommand.WARN_TRIP)
    assert relay_for(0, plain) == (Alarm.EXHAUSTED, RelayCommand.TRIP)


def test_reclose_only_above_the_close_allowed_amount() -> None:
    settings = dataclasses.replace(SETTINGS, close_allowed=1500)
    tripped = AccountState(balance=-500, relay_open=True)
    small = apply_purchase(tripped, 1500, settings).state
    assert small.balance == 1000
    assert decide(small, settings, TUESDAY_NOON).relay is RelayCommand.NONE
    enough = apply_purchase(small, 501, settings).state
    assert decide(enough, settings, TUESDAY_NOON).relay is RelayCommand.CLOSE


def test_purchase_pays_overdraft_first_and_clears_the_alarm2_warning() -> None:
    state = AccountState(balance=-300, relay_open=True, alarm2_warned=True)
    a = apply_purchase(state, 5000, SETTINGS)
    assert (a.to_overdraft, a.to_balance, a.state.balance) == (300, 4700, 4700)
    assert not a.state.alarm2_warned


def test_hoarding_limit_refuses_and_says_how_much_fits() -> None:
    settings = dataclasses.replace(SETTINGS, hoarding_limit=100_000)
    state = AccountState(balance=90_000)
    with pytest.raises(HoardingLimitError) as info:
        apply_purchase(state, 20_000, settings)
    assert info.value.code == "E250"
    assert "100.00" in info.value.problem  # at most 100.00 yuan can be bought
    assert apply_purchase(state, 10_000, settings).state.balance == 100_000


def test_hoarding_counts_debts_paid_first() -> None:
    settings = dataclasses.replace(SETTINGS, hoarding_limit=10_000)
    state = AccountState(balance=-500, friendly_debt=300)
    assert apply_purchase(state, 10_800, settings).state.balance == 10_000
    with pytest.raises(HoardingLimitError):
        apply_purchase(state, 10_801, settings)


def test_keep_power_never_trips_and_restores() -> None:
    settings = dataclasses.replace(SETTINGS, keep_power=True)
    d = decide(AccountState(balance=-9_000), settings, TUESDAY_NOON)
    assert (d.alarm, d.relay, d.protected_by) == (
        Alarm.EXHAUSTED,
        RelayCommand.NONE,
        Protection.KEEP_POWER,
    )
    d = decide(AccountState(balance=-9_000, relay_open=True), settings, TUESDAY_NOON)
    assert d.relay is RelayCommand.CLOSE


@pytest.mark.parametrize(
    ("when", "inside"),
    [
        (dt.datetime(2024, 3, 5, 17, 59), False),  # Tuesday before the evening window
        (dt.datetime(2024, 3, 5, 18, 0), True),
        (dt.datetime(2024, 3, 6, 8, 59), True),  # Wednesday morning, same window wrapping
        (dt.datetime(2024, 3, 6, 9, 0), False),
        (dt.datetime(2024, 3, 9, 13, 0), True),  # Saturday
        (dt.datetime(2024, 3, 11, 3, 0), True),  # Monday early morning
        (dt.datetime(2024, 10, 1, 13, 0), True),  # holiday
    ],
)
def test_friendly_credit_windows(when: dt.datetime, inside: bool) -> None:
    assert FRIENDLY.active(when) is inside


def test_no_trip_inside_a_friendly_window() -> None:
    settings = dataclasses.replace(SETTINGS, friendly=FRIENDLY)
    exhausted = AccountState(balance=-500)
    evening = decide(exhausted, settings, dt.datetime(2024, 3, 5, 20))
    assert (evening.relay, evening.protected_by) == (RelayCommand.NONE, Protection.FRIENDLY_CREDIT)
    morning = decide(exhausted, settings, dt.datetime(2024, 3, 6, 9, 30))
    assert morning.relay is RelayCommand.TRIP


def test_friendly_credit_debt_is_recovered_from_the_next_purchase() -> None:
    settings = dataclasses.replace(SETTINGS, friendly=FRIENDLY)
    state = AccountState(balance=200)
    # Friday night: 9.00 yuan used; 7.00 exhausts balance and overdraft, 2.00 becomes debt.
    night = apply_charge(state, 900, settings, dt.datetime(2024, 3, 8, 23))
    assert (night.from_balance, night.to_friendly_debt) == (700, 200)
    assert (night.state.balance, night.state.friendly_debt) == (-500, 200)
    weekend = apply_charge(night.state, 1_300, settings, dt.datetime(2024, 3, 10, 12))
    assert weekend.state.friendly_debt == 1_500
    # Monday purchase of 50.00: 15.00 debt, 5.00 overdraft, 30.00 to the balance.
    a = apply_purchase(weekend.state, 5_000, settings)
    assert (a.to_friendly_debt, a.to_overdraft, a.to_balance) == (1_500, 500, 3_000)
    assert (a.state.balance, a.state.friendly_debt) == (3_000, 0)


def test_outside_a_window_consumption_goes_below_the_floor() -> None:
    settings = dataclasses.replace(SETTINGS, friendly=FRIENDLY)
    c = apply_charge(AccountState(balance=-500), 100, settings, TUESDAY_NOON)
    assert (c.state.balance, c.state.friendly_debt) == (-600, 0)


def test_emergency_credit_is_advanced_once_and_repaid() -> None:
    settings = dataclasses.replace(SETTINGS, emergency_credit=1_000, emergency_threshold=200)
    assert not decide(AccountState(balance=201), settings, TUESDAY_NOON).emergency_available
    low = AccountState(balance=150)
    assert decide(low, settings, TUESDAY_NOON).emergency_available
    advanced = take_emergency_credit(low, settings)
    assert (advanced.balance, advanced.emergency_owed) == (1_150, 1_000)
    used = apply_charge(advanced, 1_100, settings, TUESDAY_NOON).state
    with pytest.raises(EmergencyCreditUnavailableError) as info:
        take_emergency_credit(used, settings)  # the first advance is not repaid yet
    assert info.value.code == "E251"
    a = apply_purchase(used, 3_000, settings)
    assert (a.to_emergency, a.to_balance) == (1_000, 2_000)
    assert (a.state.balance, a.state.emergency_owed) == (2_050, 0)
    assert a.state.net == 2_050


def test_settings_are_validated() -> None:
    with pytest.raises(SettingsError) as info:
        EnforcementSettings(alarm1=100, alarm2=200)
    assert (info.value.code, info.value.field) == ("E252", "alarm1")
    with pytest.raises(SettingsError):
        EnforcementSettings(overdraft_limit=-1)
