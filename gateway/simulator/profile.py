"""What a virtual meter's customer draws, hour by hour, and which tariff each hour belongs to.

The load is a constant base in watts shaped by an optional 24-hour curve (percent of the base at
each hour of the meter's clock). The time-of-use table is fixed and simple on purpose: tests and
demos need energy spread over the four tariff registers, not a utility's real calendar.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Tariff numbers as DL/T 645 counts them: 1 sharp, 2 peak, 3 flat, 4 valley.
SHARP, PEAK, FLAT, VALLEY = 1, 2, 3, 4

# Hour of day (meter clock) → tariff. 23:00-08:00 valley, 10-12 and 19-21 sharp,
# 17-19 and 21-23 peak, the rest flat.
TOU_BY_HOUR: tuple[int, ...] = (
    VALLEY, VALLEY, VALLEY, VALLEY, VALLEY, VALLEY, VALLEY, VALLEY,  # 00-07
    FLAT, FLAT,  # 08-09
    SHARP, SHARP,  # 10-11
    FLAT, FLAT, FLAT, FLAT, FLAT,  # 12-16
    PEAK, PEAK,  # 17-18
    SHARP, SHARP,  # 19-20
    PEAK, PEAK,  # 21-22
    VALLEY,  # 23
)  # fmt: skip

# A household: low at night, a morning bump, a strong evening peak. Percent of the base load.
RESIDENTIAL_CURVE: tuple[int, ...] = (
    40, 30, 30, 30, 30, 40, 70, 120, 110, 80, 70, 80,
    90, 80, 70, 70, 90, 140, 180, 200, 180, 150, 100, 60,
)  # fmt: skip

CURVES: dict[str, tuple[int, ...] | None] = {"flat": None, "residential": RESIDENTIAL_CURVE}

MAX_LOAD_W = 100_000  # a 100 kW load is far beyond any meter the simulator stands in for


def tariff_for_hour(hour: int) -> int:
    return TOU_BY_HOUR[hour]


@dataclass(frozen=True, slots=True)
class LoadProfile:
    """``base_w`` watts, scaled by ``curve_pct[hour]`` percent when a curve is given."""

    base_w: int = 1000
    curve_pct: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.base_w, bool) or not isinstance(self.base_w, int):
            raise TypeError(f"load must be a whole number of watts, got {self.base_w!r}")
        if not 0 <= self.base_w <= MAX_LOAD_W:
            raise ValueError(f"load {self.base_w} W is outside 0..{MAX_LOAD_W} W")
        if self.curve_pct is not None:
            if len(self.curve_pct) != 24:
                raise ValueError(f"a daily curve needs 24 hourly values, got {len(self.curve_pct)}")
            if any(not isinstance(p, int) or not 0 <= p <= 1000 for p in self.curve_pct):
                raise ValueError("daily curve values are whole percents 0..1000")

    def power_w(self, hour: int) -> int:
        if self.curve_pct is None:
            return self.base_w
        return self.base_w * self.curve_pct[hour] // 100

    def to_dict(self) -> dict[str, Any]:
        return {
            "base_w": self.base_w,
            "curve_pct": list(self.curve_pct) if self.curve_pct else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoadProfile:
        curve: Sequence[int] | None = data.get("curve_pct")
        return cls(int(data.get("base_w", 1000)), tuple(curve) if curve is not None else None)
