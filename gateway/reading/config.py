"""The ``[reading]`` configuration: schedule, retention, backoff, clock keeping, enforcement.

Built with ``gateway.typedconfig.from_dict(ReadingConfig, table, "reading")``; every check
names its key. A meter type can override the schedule in its profile's ``extra.reading``
(see ``gateway.reading.plan``)::

    [reading]
    retention_days = 35
    [reading.sets.energy]
    every_s = 900
    [reading.sets.instant]
    every_s = 3600
    items = ["reverse_active_total", "voltage_a", "current_a", "active_power_total"]
    [reading.clock]
    broadcast_at = "03:30"
    [reading.enforcement]
    holidays = ["2025-10-01", "2025-10-02"]
    [[reading.enforcement.friendly_windows]]
    days = [1, 2, 3, 4, 5]
    start = "18:00"
    end = "09:00"
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from gateway.dlt645.dataids import lookup
from gateway.dlt645.errors import UnknownDataIdError
from gateway.typedconfig import ConfigError

SET_NAMES = ("energy", "wallet", "status", "instant", "clock")


def parse_hhmm(text: str, key: str) -> dt.time:
    try:
        hours, minutes = text.split(":")
        return dt.time(int(hours), int(minutes))
    except ValueError:
        raise ConfigError(key, f"must be a time HH:MM, got {text!r}") from None


@dataclass(frozen=True, slots=True)
class ReadSetConfig:
    """How often a set of items is read (0 = never), and optionally which items."""

    every_s: int
    items: tuple[str, ...] = ()  # data item names or hex DIs; empty = the set's default

    def __post_init__(self) -> None:
        if self.every_s != 0 and not 60 <= self.every_s <= 7 * 86_400:
            raise ConfigError("every_s", "must be 0 (off) or 60..604800 seconds")
        for i, name in enumerate(self.items):
            try:
                lookup(name)
            except UnknownDataIdError as exc:
                raise ConfigError(f"items[{i}]", str(exc)) from None


def _default_sets() -> dict[str, ReadSetConfig]:
    return {
        "energy": ReadSetConfig(900),
        "wallet": ReadSetConfig(900),
        "status": ReadSetConfig(900),
        "instant": ReadSetConfig(3600),
        "clock": ReadSetConfig(86_400),
    }


@dataclass(frozen=True, slots=True)
class TamperBit:
    """A status-word bit that means the meter was opened (vendor specific)."""

    word: int  # status word 1..7
    bit: int  # 0..15
    name: str = "cover_open"

    def __post_init__(self) -> None:
        if not 1 <= self.word <= 7:
            raise ConfigError("word", "must be a status word number 1..7")
        if not 0 <= self.bit <= 15:
            raise ConfigError("bit", "must be 0..15")


@dataclass(frozen=True, slots=True)
class ClockConfig:
    broadcast: bool = True  # daily 08H broadcast per bus
    broadcast_at: str = "03:30"  # site-local time of day
    quiet_start: str = "23:50"  # no time sync from here ...
    quiet_end: str = "00:10"  # ... to here (freezes and settlement happen at midnight)
    broadcast_max_s: int = 300  # meters refuse larger broadcast corrections
    drift_alarm_s: int = 60  # clock_drift exception above this
    set_with_password: bool = True  # 14H date + time for meters drifting past broadcast_max_s

    def __post_init__(self) -> None:
        at = parse_hhmm(self.broadcast_at, "broadcast_at")
        start = parse_hhmm(self.quiet_start, "quiet_start")
        end = parse_hhmm(self.quiet_end, "quiet_end")
        if in_window(at, start, end):
            raise ConfigError("broadcast_at", "falls in the quiet window around midnight")
        if not 1 <= self.broadcast_max_s <= 3600:
            raise ConfigError("broadcast_max_s", "must be 1..3600")
        if not 1 <= self.drift_alarm_s <= 86_400:
            raise ConfigError("drift_alarm_s", "must be 1..86400")

    @property
    def broadcast_time(self) -> dt.time:
        return parse_hhmm(self.broadcast_at, "broadcast_at")

    def quiet(self, moment: dt.time) -> bool:
        start = parse_hhmm(self.quiet_start, "quiet_start")
        end = parse_hhmm(self.quiet_end, "quiet_end")
        return in_window(moment, start, end)


def in_window(moment: dt.time, start: dt.time, end: dt.time) -> bool:
    """``start <= moment < end``, wrapping midnight when end < start."""
    if start <= end:
        return start <= moment < end
    return moment >= start or moment < end


@dataclass(frozen=True, slots=True)
class FriendlyWindowConfig:
    days: tuple[int, ...]  # ISO weekdays, Monday = 1
    start: str  # HH:MM
    end: str  # HH:MM (before start: wraps midnight; equal: whole day)

    def __post_init__(self) -> None:
        if not self.days or any(not 1 <= d <= 7 for d in self.days):
            raise ConfigError("days", "must list ISO weekdays 1 (Monday) .. 7 (Sunday)")
        parse_hhmm(self.start, "start")
        parse_hhmm(self.end, "end")


@dataclass(frozen=True, slots=True)
class EnforcementConfig:
    """Gateway-wallet rules the meter type and the account do not set themselves."""

    friendly_windows: tuple[FriendlyWindowConfig, ...] = ()
    holidays: tuple[str, ...] = ()  # YYYY-MM-DD: no trips all day
    # Defaults when neither the account nor the meter type sets a limit (fen).
    alarm1_fen: int = 2000
    alarm2_fen: int = 1000
    overdraft_limit_fen: int = 0
    close_allowed_fen: int = 0
    emergency_credit_fen: int = 0
    emergency_threshold_fen: int = 0
    max_power_w: int = 100_000  # readings implying more are held as spikes
    # Consumption is charged at every reading; the ledger row is written when the site-local
    # day changes, when the alarm level changes, before any relay action and on settle().
    # "every_reading" writes a row per reading (small sites; ~450 bytes per row and reading).
    post: Literal["daily", "every_reading"] = "daily"
    reclose: Literal["direct", "allowed"] = "direct"  # 1CH 1C, or 1B (customer presses)
    meter_alarm_signal: bool = True  # 1CH 2A/2B so the meter shows the low-balance alarm
    relay_attempts: int = 3

    def __post_init__(self) -> None:
        for i, text in enumerate(self.holidays):
            try:
                dt.date.fromisoformat(text)
            except ValueError:
                raise ConfigError(f"holidays[{i}]", f"must be YYYY-MM-DD, got {text!r}") from None
        for name in (
            "alarm1_fen",
            "alarm2_fen",
            "overdraft_limit_fen",
            "close_allowed_fen",
            "emergency_credit_fen",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(name, "must not be negative")
        if self.alarm1_fen < self.alarm2_fen:
            raise ConfigError("alarm1_fen", "must be at or above alarm2_fen")
        if self.max_power_w <= 0:
            raise ConfigError("max_power_w", "must be above zero")
        if not 1 <= self.relay_attempts <= 10:
            raise ConfigError("relay_attempts", "must be 1..10")


@dataclass(frozen=True, slots=True)
class ReadingConfig:
    sets: dict[str, ReadSetConfig] = field(default_factory=_default_sets)
    retention_days: int = 35  # raw readings; rollups are kept for rollup_retention_years
    rollup_retention_years: int = 10
    offline_after_failures: int = 2  # consecutive failed polls before a meter is offline
    backoff_initial_s: int = 60  # first retry of a failing meter
    backoff_max_s: int = 3600
    batch_max: int = 200  # readings per write transaction
    batch_interval_s: float = 5.0  # ... or this often, whichever comes first
    reload_every_s: int = 300  # re-read the meter list from the database
    tamper_bits: tuple[TamperBit, ...] = ()
    clock: ClockConfig = field(default_factory=ClockConfig)
    enforcement: EnforcementConfig = field(default_factory=EnforcementConfig)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.sets) - set(SET_NAMES))
        if unknown:
            raise ConfigError(f"sets.{unknown[0]}", f"unknown set (known: {', '.join(SET_NAMES)})")
        merged = {**_default_sets(), **self.sets}
        object.__setattr__(self, "sets", merged)
        if not 1 <= self.retention_days <= 3650:
            raise ConfigError("retention_days", "must be 1..3650")
        if not 0 <= self.rollup_retention_years <= 100:
            raise ConfigError("rollup_retention_years", "must be 0 (forever) .. 100")
        if not 1 <= self.offline_after_failures <= 100:
            raise ConfigError("offline_after_failures", "must be 1..100")
        if not 1 <= self.backoff_initial_s <= self.backoff_max_s <= 86_400:
            raise ConfigError("backoff_initial_s", "must be 1 .. backoff_max_s <= 86400")
        if not 1 <= self.batch_max <= 5000:
            raise ConfigError("batch_max", "must be 1..5000")
        if not 0.05 <= self.batch_interval_s <= 600:
            raise ConfigError("batch_interval_s", "must be 0.05..600 seconds")
        if not 10 <= self.reload_every_s <= 86_400:
            raise ConfigError("reload_every_s", "must be 10..86400")
