"""The outcome of one poll of one meter, as the poller hands it to the recorder."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from gateway.reading.targets import MeterInfo
from gateway.reading.values import MeterValues


@dataclass(frozen=True, slots=True)
class PollResult:
    meter: MeterInfo
    at: dt.datetime  # aware UTC: when the poll started
    ok: bool  # every item asked for was read (items the meter does not have are skipped)
    values: MeterValues = field(default_factory=MeterValues)
    sets: frozenset[str] = frozenset()  # read sets completely read
    online: bool = True  # the meter's state after this poll (offline threshold applied)
    error: str = ""  # code and message of the failure
    error_code: str = ""
    corrupt: bool = False  # the failure was corrupted replies, not silence
    retries: int = 0  # bus retries spent on this meter
    bad_frames: int = 0  # corrupted frames seen while polling it
    drift_s: int | None = None  # meter clock minus gateway clock
    bus_down: bool = False  # the failure was the bus's (port, DTU), not the meter's
    clock_set: bool = False  # the meter's clock was corrected just before this read
    clock_set_error: str = ""  # ... or that correction failed

    @property
    def meter_id(self) -> int:
        return self.meter.meter_id

    @property
    def address(self) -> str:
        return self.meter.address
