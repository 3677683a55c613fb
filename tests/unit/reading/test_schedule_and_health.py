"""When sets are due, how failing meters back off, and that transitions are reported once."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.reading.config import ReadingConfig, ReadSetConfig, TamperBit
from gateway.reading.health import Backoff, MeterHealth, Transition
from gateway.reading.plan import (
    DI_ENERGY_BLOCK,
    DI_ENERGY_TOTAL,
    DI_REMAINING_MONEY,
    DI_STATUS_3,
    DI_STATUS_BLOCK,
    MeterKind,
    plan_for,
)
from gateway.reading.schedule import MeterSchedule

T0 = dt.datetime(2025, 3, 4, 2, 0, tzinfo=dt.UTC)
MIN = dt.timedelta(minutes=1)


def test_default_plan_per_meter_type() -> None:
    config = ReadingConfig()
    gateway = plan_for(MeterKind("gateway", "money"), config)
    assert gateway.names == ("energy", "status", "instant", "clock")  # no wallet to read
    assert gateway.get("energy").items == (DI_ENERGY_BLOCK,)  # type: ignore[union-attr]
    meter = plan_for(MeterKind("meter", "money", block_reads=False), config)
    assert meter.get("energy").items == (DI_ENERGY_TOTAL,)  # type: ignore[union-attr]
    assert meter.get("wallet").items[0] == DI_REMAINING_MONEY  # type: ignore[union-attr]
    assert meter.get("status").items == (DI_STATUS_3,)  # type: ignore[union-attr]
    tamper = ReadingConfig(tamper_bits=(TamperBit(word=7, bit=9),))
    assert plan_for(MeterKind("meter", "money"), tamper).get("status").items == (  # type: ignore[union-attr]
        DI_STATUS_BLOCK,
    )


def test_meter_type_overrides_the_site_schedule() -> None:
    config = ReadingConfig(sets={"instant": ReadSetConfig(0)})
    kind = MeterKind(
        "gateway",
        "money",
        profile_extra={"reading": {"energy": {"every_s": 600, "items": ["forward_active_total"]}}},
    )
    plan = plan_for(kind, config)
    assert "instant" not in plan.names
    energy = plan.get("energy")
    assert energy is not None and (energy.every_s, energy.items) == (600, (DI_ENERGY_TOTAL,))


def test_sets_fall_due_on_their_own_intervals_and_align() -> None:
    plan = plan_for(MeterKind("gateway", "money"), ReadingConfig())
    schedule = MeterSchedule.starting(plan, T0)
    first = schedule.due(T0)
    assert {s.name for s in first} == {"energy", "status", "instant", "clock"}
    schedule.done(first, T0)
    assert schedule.due(T0 + 14 * MIN) == ()
    assert {s.name for s in schedule.due(T0 + 15 * MIN)} == {"energy", "status"}
    # A set due within the alignment window (1/10 of 15 min) joins the poll: one row.
    schedule.next_due["instant"] = T0 + 16 * MIN
    assert {s.name for s in schedule.due(T0 + 15 * MIN)} == {"energy", "status", "instant"}
    schedule.next_due["instant"] = T0 + 17 * MIN
    assert {s.name for s in schedule.due(T0 + 15 * MIN)} == {"energy", "status"}


def test_clock_stepping_back_never_postpones_a_read_beyond_one_interval() -> None:
    plan = plan_for(MeterKind("gateway", "money"), ReadingConfig())
    schedule = MeterSchedule.starting(plan, T0 + dt.timedelta(days=3))
    schedule.done(plan.sets, T0 + dt.timedelta(days=3))
    schedule.clamp(T0)
    assert schedule.earliest() == T0 + 15 * MIN


def test_backoff_doubles_up_to_the_maximum() -> None:
    backoff = Backoff(dt.timedelta(seconds=60), dt.timedelta(seconds=3600))
    delays = [backoff.delay(n).total_seconds() for n in range(1, 9)]
    assert delays == [60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_offline_and_recovery_are_reported_once_each() -> None:
    backoff = Backoff(dt.timedelta(seconds=60), dt.timedelta(seconds=600))
    health = MeterHealth(offline_after=2)
    assert health.succeeded() is None  # first contact is not a "recovery"
    assert health.failed(T0, "E120 silent", backoff) is None  # one failure: still online
    assert health.online is True
    assert not health.may_poll(T0 + 59 * dt.timedelta(seconds=1))
    assert health.may_poll(T0 + MIN)
    assert health.failed(T0 + MIN, "E120 silent", backoff) is Transition.WENT_OFFLINE
    assert health.failed(T0 + 3 * MIN, "E120 silent", backoff) is None  # not again
    assert health.retry_at == T0 + 3 * MIN + 4 * MIN
    assert health.succeeded() is Transition.RECOVERED
    assert health.succeeded() is None
    assert (health.polls, health.successes, health.retry_at) == (6, 3, None)


def test_reading_config_from_toml_names_the_bad_key() -> None:
    import tomllib

    from gateway.typedconfig import ConfigError, from_dict

    text = """
    retention_days = 40
    [sets.instant]
    every_s = 1800
    items = ["voltage_a", "active_power_total"]
    [clock]
    broadcast_at = "02:45"
    [enforcement]
    holidays = ["2025-10-01"]
    [[enforcement.friendly_windows]]
    days = [6, 7]
    start = "00:00"
    end = "00:00"
    """
    config = from_dict(ReadingConfig, tomllib.loads(text), "reading")
    assert config.retention_days == 40
    assert config.sets["instant"].every_s == 1800 and config.sets["energy"].every_s == 900
    assert config.enforcement.friendly_windows[0].days == (6, 7)
    bad = tomllib.loads('[sets.instant]\nevery_s = 1800\nitems = ["no_such_item"]')
    with pytest.raises(ConfigError) as info:
        from_dict(ReadingConfig, bad, "reading")
    assert info.value.key == "reading.sets.instant.items[0]"
