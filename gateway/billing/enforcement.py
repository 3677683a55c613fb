"""Balance-driven decisions for the gateway wallet: alarms, trips, recloses, and the credits
a meter cannot give by itself (friendly-credit hours, emergency credit, keep-power).

The balance is in fen and goes negative in overdraft. The trip floor is ``-overdraft_limit``
(0 without overdraft): at or below it the relay trips, unless keep-power is on or a friendly-credit
window is open. Alarm-2 opens the relay once as a warning; the customer may re-close it at the
meter (1CH "close allowed"), the gateway does not. A tripped relay closes again only when the
balance is above the close-allowed amount; a window opening does not close it (it only prevents
new trips), keep-power does.

Money moves in three ways, each returning the new state and exactly where every fen went:

- ``apply_purchase``: pays friendly-credit debt, then emergency credit, then overdraft, then adds
  to the balance. Refused (E250) when it would lift the balance above the hoarding limit.
- ``apply_charge`` (a consumption debit): inside a friendly-credit window, whatever would take the
  balance below the trip floor becomes friendly-credit debt instead; elsewhere it is debited
  (below the floor too: the energy was used).
- ``take_emergency_credit``: a fixed advance added to the balance and owed until repaid.

``AccountState.net`` is the customer's money: balance less debts. Each move keeps
``net`` = purchases - charges, to the fen.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from dataclasses import dataclass

from gateway.billing.errors import (
    AmountTooLargeError,
    EmergencyCreditUnavailableError,
    HoardingLimitError,
    NegativeAmountError,
    SettingsError,
)
from gateway.billing.units import METER_MAX, Fen, format_yuan


@dataclass(frozen=True)
class FriendlyWindow:
    """Times of day on some days when nobody is cut off (e.g. weekdays 18:00-09:00).

    ``end`` before ``start`` means the window wraps midnight within each listed day: on those
    days the times from ``start`` to midnight and from midnight to ``end`` are covered. So
    "weekdays 18:00-09:00" covers Monday 03:00 and Friday 20:00, not Saturday 03:00 (add a weekend
    window for that). ``end == start`` covers the whole day.
    """

    days: frozenset[int]  # ISO weekday numbers, Monday = 1
    start: dt.time
    end: dt.time

    def __post_init__(self) -> None:
        if not self.days or not self.days <= set(range(1, 8)):
            raise SettingsError("friendly.days", "ISO weekday numbers 1 (Monday) .. 7 (Sunday)")

    def contains(self, at: dt.datetime) -> bool:
        if at.isoweekday() not in self.days:
            return False
        moment = at.time()
        if self.start == self.end:
            return True
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


@dataclass(frozen=True)
class FriendlyCredit:
    windows: tuple[FriendlyWindow, ...] = ()
    holidays: frozenset[dt.date] = frozenset()  # whole days

    def active(self, at: dt.datetime) -> bool:
        return at.date() in self.holidays or any(w.contains(at) for w in self.windows)


@dataclass(frozen=True)
class EnforcementSettings:
    alarm1: Fen = 0
    alarm2: Fen = 0
    overdraft_limit: Fen = 0
    close_allowed: Fen = 0
    hoarding_limit: Fen | None = None
    keep_power: bool = False
    friendly: FriendlyCredit = FriendlyCredit()
    emergency_credit: Fen = 0  # 0: not offered
    emergency_threshold: Fen = 0  # may be taken at or below this balance

    def __post_init__(self) -> None:
        for name in ("alarm1", "alarm2", "overdraft_limit", "close_allowed", "emergency_credit"):
            if getattr(self, name) < 0:
                raise SettingsError(name, "must not be negative")
        if self.alarm1 < self.alarm2:
            raise SettingsError("alarm1", "alarm-1 must be at or above alarm-2")
        if self.hoarding_limit is not None and self.hoarding_limit <= 0:
            raise SettingsError("hoarding_limit", "must be above zero (leave empty for none)")

    @property
    def floor(self) -> Fen:
        return -self.overdraft_limit


@dataclass(frozen=True)
class AccountState:
    balance: Fen = 0  # negative in overdraft
    friendly_debt: Fen = 0
    emergency_owed: Fen = 0
    relay_open: bool = False
    alarm2_warned: bool = False  # the alarm-2 warning trip was done for this low spell

    @property
    def net(self) -> Fen:
        return self.balance - self.friendly_debt - self.emergency_owed


class Alarm(enum.StrEnum):
    NONE = "none"
    ALARM1 = "alarm1"
    ALARM2 = "alarm2"
    OVERDRAFT = "overdraft"  # at or below zero, above the trip floor
    EXHAUSTED = "exhausted"  # at or below the trip floor


class RelayCommand(enum.StrEnum):
    NONE = "none"  # leave the relay as it is
    TRIP = "trip"
    WARN_TRIP = "warn_trip"  # open once, customer may re-close (1CH 1A then 1B)
    CLOSE = "close"


class Protection(enum.StrEnum):
    KEEP_POWER = "keep_power"
    FRIENDLY_CREDIT = "friendly_credit"


@dataclass(frozen=True)
class Decision:
    alarm: Alarm
    relay: RelayCommand
    protected_by: Protection | None  # a trip was due and withheld for this reason
    emergency_available: bool


def alarm_level(balance: Fen, settings: EnforcementSettings) -> Alarm:
    if balance <= settings.floor:
        return Alarm.EXHAUSTED
    if balance <= 0:
        return Alarm.OVERDRAFT
    if balance <= settings.alarm2:
        return Alarm.ALARM2
    if balance <= settings.alarm1:
        return Alarm.ALARM1
    return Alarm.NONE


def emergency_available(state: AccountState, settings: EnforcementSettings) -> bool:
    return (
        settings.emergency_credit > 0
        and state.emergency_owed == 0
        and state.balance <= settings.emergency_threshold
    )


def _protection(settings: EnforcementSettings, now: dt.datetime) -> Protection | None:
    if settings.keep_power:
        return Protection.KEEP_POWER
    if settings.friendly.active(now):
        return Protection.FRIENDLY_CREDIT
    return None


def decide(state: AccountState, settings: EnforcementSettings, now: dt.datetime) -> Decision:
    """What the relay should do now, and which alarm to show."""
    alarm = alarm_level(state.balance, settings)
    protection = _protection(settings, now)
    relay, withheld = RelayCommand.NONE, None
    if state.relay_open:
        if settings.keep_power:
            relay = RelayCommand.CLOSE
        elif state.alarm2_warned and alarm is Alarm.ALARM2:
            pass  # the warning trip: the customer re-closes at the meter, not the gateway
        elif state.balance > settings.close_allowed:
            relay = RelayCommand.CLOSE
    elif alarm is Alarm.EXHAUSTED:
        relay, withheld = (RelayCommand.TRIP, None) if protection is None else (relay, protection)
    elif alarm is Alarm.ALARM2 and not state.alarm2_warned:
        if protection is None:
            relay = RelayCommand.WARN_TRIP
        else:
            withheld = protection
    return Decision(alarm, relay, withheld, emergency_available(state, settings))


@dataclass(frozen=True)
class Allocation:
    """Where each fen of a purchase went; the parts add up to ``amount``."""

    amount: Fen
    to_friendly_debt: Fen
    to_emergency: Fen
    to_overdraft: Fen
    to_balance: Fen
    state: AccountState


def apply_purchase(state: AccountState, amount: Fen, settings: EnforcementSettings) -> Allocation:
    if amount < 0:
        raise NegativeAmountError("amount", f"a purchase must not be negative, got {amount}")
    left = amount
    to_debt = min(left, state.friendly_debt)
    left -= to_debt
    to_emergency = min(left, state.emergency_owed)
    left -= to_emergency
    to_overdraft = min(left, max(0, -state.balance))
    to_balance = left - to_overdraft
    balance = state.balance + to_overdraft + to_balance
    limit = settings.hoarding_limit
    if limit is not None and to_balance > 0 and balance > limit:
        debts = state.friendly_debt + state.emergency_owed
        room = debts + max(0, limit - state.balance)
        raise HoardingLimitError(
            "amount",
            f"balance would be {format_yuan(balance)} above the hoarding limit "
            f"{format_yuan(limit)}; at most {format_yuan(room)} can be bought",
        )
    if balance > METER_MAX:
        raise AmountTooLargeError("amount", f"balance would be {format_yuan(balance)}")
    new_state = dataclasses.replace(
        state,
        balance=balance,
        friendly_debt=state.friendly_debt - to_debt,
        emergency_owed=state.emergency_owed - to_emergency,
        alarm2_warned=state.alarm2_warned and balance <= settings.alarm2,
    )
    return Allocation(amount, to_debt, to_emergency, to_overdraft, to_balance, new_state)


@dataclass(frozen=True)
class ChargeAllocation:
    charge: Fen
    from_balance: Fen
    to_friendly_debt: Fen
    state: AccountState


def apply_charge(
    state: AccountState, charge: Fen, settings: EnforcementSettings, at: dt.datetime
) -> ChargeAllocation:
    """Debit consumption worth ``charge`` fen, measured up to ``at``."""
    if charge < 0:
        raise NegativeAmountError("charge", f"must not be negative, got {charge}")
    from_balance = charge
    if settings.friendly.active(at):
        from_balance = min(charge, max(0, state.balance - settings.floor))
    to_debt = charge - from_balance
    new_state = dataclasses.replace(
        state,
        balance=state.balance - from_balance,
        friendly_debt=state.friendly_debt + to_debt,
    )
    return ChargeAllocation(charge, from_balance, to_debt, new_state)


def take_emergency_credit(state: AccountState, settings: EnforcementSettings) -> AccountState:
    if not emergency_available(state, settings):
        raise EmergencyCreditUnavailableError(
            "emergency_credit",
            f"offered {format_yuan(settings.emergency_credit)}, owed "
            f"{format_yuan(state.emergency_owed)}, balance {format_yuan(state.balance)}",
        )
    return dataclasses.replace(
        state,
        balance=state.balance + settings.emergency_credit,
        emergency_owed=state.emergency_owed + settings.emergency_credit,
    )
