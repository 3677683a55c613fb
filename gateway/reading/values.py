"""From decoded DL/T 645 values to the integers a reading stores, exactly.

Each data identifier the poller reads maps onto one or more integer fields in a fixed unit
(0.01 kWh, fen, 0.1 V, mA, 0.1 W). A value with more decimals than the field holds is refused
rather than rounded: a meter sending that is misconfigured, and a silent rounding would hide it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field

from gateway.dlt645.dataids import Value
from gateway.dlt645.values import Quantity
from gateway.reading import plan as p


class ValueShapeError(ValueError):
    """A decoded value does not have the shape its data identifier promises."""


def exact(value: Value, decimals: int, what: str) -> int:
    """A Quantity (or plain int) as an integer count of 10**-decimals units."""
    if isinstance(value, bool):
        raise ValueShapeError(f"{what}: expected a number, got {value!r}")
    scale: int = 10**decimals
    if isinstance(value, int):
        return value * scale
    if not isinstance(value, Quantity):
        raise ValueShapeError(f"{what}: expected a number, got {value!r}")
    shift = decimals - value.decimals
    if shift >= 0:
        up: int = 10**shift
        return value.scaled * up
    factor: int = 10**-shift
    if value.scaled % factor:
        raise ValueShapeError(f"{what}: {value} has more than {decimals} decimals")
    return value.scaled // factor


def _word(value: Value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueShapeError(f"{what}: expected a status word, got {value!r}")
    return value


def _first(value: Value, what: str) -> Value:
    if isinstance(value, tuple):
        if not value:
            raise ValueShapeError(f"{what}: empty block")
        return value[0]
    return value


@dataclass(slots=True)
class MeterValues:
    """What one poll learnt about a meter; None = not read."""

    energy_cwh: int | None = None
    tariffs_cwh: tuple[int, int, int, int] | None = None
    reverse_cwh: int | None = None
    remaining: int | None = None  # fen (money type) or 0.01 kWh (energy type)
    overdraft: int | None = None
    status_words: dict[int, int] = field(default_factory=dict)  # word number 1..7 → value
    voltage_dv: int | None = None
    current_ma: int | None = None
    power_dw: int | None = None
    meter_date: dt.date | None = None
    meter_time: dt.time | None = None

    @property
    def status3(self) -> int | None:
        return self.status_words.get(3)

    @property
    def meter_clock(self) -> dt.datetime | None:
        if self.meter_date is None or self.meter_time is None:
            return None
        return dt.datetime.combine(self.meter_date, self.meter_time)

    def copy(self) -> MeterValues:
        return dataclasses.replace(self, status_words=dict(self.status_words))

    def add(self, di: int, value: Value) -> None:
        """Take one decoded item (ValueShapeError if it is not what the DI promises)."""
        what = f"{di:08X}"
        if di == p.DI_ENERGY_BLOCK:
            if not isinstance(value, tuple) or len(value) != 5:
                raise ValueShapeError(f"{what}: expected total + 4 tariffs, got {value!r}")
            parts = [exact(v, 2, what) for v in value]
            self.energy_cwh = parts[0]
            self.tariffs_cwh = (parts[1], parts[2], parts[3], parts[4])
        elif di == p.DI_ENERGY_TOTAL:
            self.energy_cwh = exact(value, 2, what)
        elif di == p.DI_REVERSE_TOTAL:
            self.reverse_cwh = exact(value, 2, what)
        elif di in (p.DI_REMAINING_MONEY, p.DI_REMAINING_ENERGY):
            self.remaining = exact(value, 2, what)
        elif di in (p.DI_OVERDRAFT_MONEY, p.DI_OVERDRAFT_ENERGY):
            self.overdraft = exact(value, 2, what)
        elif di == p.DI_STATUS_BLOCK:
            if not isinstance(value, tuple) or len(value) != 7:
                raise ValueShapeError(f"{what}: expected 7 status words, got {value!r}")
            for number, word in enumerate(value, start=1):
                self.status_words[number] = _word(word, what)
        elif 0x04000501 <= di <= 0x04000507:
            self.status_words[di - 0x04000500] = _word(value, what)
        elif di in (p.DI_VOLTAGE_A, 0x0201FF00):
            self.voltage_dv = exact(_first(value, what), 1, what)
        elif di in (p.DI_CURRENT_A, 0x0202FF00):
            self.current_ma = exact(_first(value, what), 3, what)
        elif di in (p.DI_POWER_TOTAL, 0x0203FF00):
            self.power_dw = exact(_first(value, what), 4, what)  # 0.0001 kW = 0.1 W
        elif di == p.DI_DATE:
            if not isinstance(value, dt.date):
                raise ValueShapeError(f"{what}: expected a date, got {value!r}")
            self.meter_date = value
        elif di == p.DI_TIME:
            if not isinstance(value, dt.time):
                raise ValueShapeError(f"{what}: expected a time, got {value!r}")
            self.meter_time = value
        # Other items (configured extras) are read for the trace and the cloud, not stored.
