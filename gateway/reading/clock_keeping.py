"""Keeping meter clocks right, within what meters accept.

Rules (reference: DL/T 645 08H broadcast time set; meters refuse a broadcast that moves their
clock by more than 5 minutes, and a relay command is refused once the meter's clock is past its
valid-until, so clocks matter for enforcement too):

- **Broadcast** (08H to 999999999999, no reply): once per bus and site-local day, at or after
  ``broadcast_at``, never inside the quiet window around midnight (``23:50-00:10`` by default:
  meters freeze and settle at midnight, and a date step there would skip or repeat a day).
- **Per-meter correction** with the password (14H writes of date, then time) when a meter's
  drift is beyond what a broadcast may correct (``broadcast_max_s``), also outside the quiet
  window (the date and the time are two writes); the clock is read back right after.
- **Drift** is measured at each clock read (daily by default) and a ``clock_drift`` exception
  runs while it is beyond ``drift_alarm_s``.
"""

from __future__ import annotations

import datetime as dt

from gateway.reading.config import ClockConfig


def drift_seconds(meter_clock: dt.datetime, gateway_local: dt.datetime) -> int:
    """Meter minus gateway, in whole seconds (meters show whole seconds: compare whole ones)."""
    return int((meter_clock - gateway_local.replace(microsecond=0)).total_seconds())


def needs_password_set(drift_s: int, config: ClockConfig, local_now: dt.datetime) -> bool:
    """Too far off for a broadcast, correction allowed, and not near midnight."""
    return (
        config.set_with_password
        and abs(drift_s) > config.broadcast_max_s
        and not config.quiet(local_now.time())
    )


def day_number(moment: dt.date) -> int:
    return moment.year * 10000 + moment.month * 100 + moment.day


def broadcast_due(local_now: dt.datetime, last_day: int | None, config: ClockConfig) -> bool:
    """Is today's broadcast on this bus still to be done, and may it be done now?"""
    if not config.broadcast or config.quiet(local_now.time()):
        return False
    if last_day is not None and last_day >= day_number(local_now.date()):
        return False
    return local_now.time() >= config.broadcast_time
