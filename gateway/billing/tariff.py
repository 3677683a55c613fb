"""Tariffs as data: flat, tiered (ladder), time-of-use, and time-of-use plus ladder adder.

Units (see ``units``): prices and adders in 0.0001 yuan/kWh, thresholds in 0.01 kWh, all integers,
also in the JSON form. Times are site-local wall-clock ``datetime`` objects without a UTC offset,
because day periods and holidays are local facts.

Ladder: ``thresholds[i]`` is the period-to-date use at which tier ``i + 1`` starts, so the first
``thresholds[0]`` of a period are priced at tier 0. Up to 6 thresholds / 7 tiers; the period is a
calendar month, or a year starting on the 1st of ``start_month``.

Day tables: a tuple of (start, band) slots in increasing order; a slot lasts until the next slot's
start, and the last slot runs on past midnight to the first slot's start of the same table (so
``[(08:00, peak), (22:00, valley)]`` makes 22:00-08:00 valley). Each calendar day uses one table:
holiday if the date is a holiday, else weekday if the date is a listed workday (a weekend worked
in exchange for a holiday), else weekend on weekend days, else weekday.

Energy-type meters store kWh, so a purchase is converted before anyone knows when it will be used:
time-of-use tariffs convert at ``base_band``'s price (the flat band unless set otherwise), plus the
ladder adder for the ``tou_tiered`` kind (State Grid practice: TOU rate price + ladder adder).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias, TypeVar

from gateway.billing.errors import NoTariffInForceError, TariffError
from gateway.billing.units import PRICE_MAX, CentiKwh, Price

_T = TypeVar("_T")

MAX_THRESHOLDS = 6
MAX_DAY_SLOTS = 14  # DL/T 645 meters hold at most 14 slots per daily table


class Band(enum.StrEnum):
    SHARP = "sharp"
    PEAK = "peak"
    FLAT = "flat"
    VALLEY = "valley"


class Settlement(enum.StrEnum):
    MONTHLY = "monthly"
    YEARLY = "yearly"


def _check_price(value: int, name: str, *, allow_zero: bool = False) -> None:
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= PRICE_MAX:
        limit = "0" if allow_zero else "1"
        raise TariffError(name, f"must be an integer from {limit} to {PRICE_MAX}, got {value!r}")


def _prefixed(prefix: str, build: Callable[[], _T]) -> _T:
    """Run ``build`` and prefix the field of any TariffError with ``prefix``."""
    try:
        return build()
    except TariffError as exc:
        inner = "" if exc.field == "<root>" else f".{exc.field}"
        raise TariffError(f"{prefix}{inner}", exc.problem) from None


# --- settlement periods -------------------------------------------------------------------------


@dataclass(frozen=True)
class Ladder:
    thresholds: tuple[CentiKwh, ...]
    settlement: Settlement = Settlement.MONTHLY
    start_month: int = 1

    def __post_init__(self) -> None:
        if not 1 <= len(self.thresholds) <= MAX_THRESHOLDS:
            raise TariffError("thresholds", f"needs 1 to {MAX_THRESHOLDS} thresholds")
        previous = 0
        for i, value in enumerate(self.thresholds):
            if isinstance(value, bool) or not isinstance(value, int) or value <= previous:
                raise TariffError(
                    f"thresholds[{i}]", f"must be an integer above {previous}, got {value!r}"
                )
            previous = value
        if not isinstance(self.settlement, Settlement):
            raise TariffError("settlement", "must be 'monthly' or 'yearly'")
        if self.start_month not in range(1, 13):
            raise TariffError("start_month", f"must be 1..12, got {self.start_month!r}")
        if self.settlement is Settlement.MONTHLY and self.start_month != 1:
            raise TariffError("start_month", "only applies to yearly settlement")

    @property
    def tiers(self) -> int:
        return len(self.thresholds) + 1

    def tier_of(self, period_use: CentiKwh) -> int:
        return sum(1 for t in self.thresholds if period_use >= t)

    def room(self, tier: int, period_use: CentiKwh) -> CentiKwh | None:
        """Energy left in ``tier`` at ``period_use``; None for the open-ended last tier."""
        if tier >= len(self.thresholds):
            return None
        return max(0, self.thresholds[tier] - period_use)

    def period_start(self, at: dt.datetime) -> dt.datetime:
        return period_start(self.settlement, self.start_month, at)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "thresholds": list(self.thresholds),
            "settlement": self.settlement.value,
            "start_month": self.start_month,
        }

    @classmethod
    def from_json_dict(cls, data: Any) -> Ladder:
        d = _table(data, "")
        _known(d, {"thresholds", "settlement", "start_month"}, "")
        return cls(
            thresholds=tuple(_int(v, f"thresholds[{i}]") for i, v in _items(d, "thresholds")),
            settlement=_enum(Settlement, d.get("settlement", "monthly"), "settlement"),
            start_month=_int(d.get("start_month", 1), "start_month"),
        )


def period_start(settlement: Settlement, start_month: int, at: dt.datetime) -> dt.datetime:
    """Start of the settlement period that contains ``at``."""
    if settlement is Settlement.MONTHLY:
        return dt.datetime(at.year, at.month, 1)
    year = at.year if at.month >= start_month else at.year - 1
    return dt.datetime(year, start_month, 1)


def next_period_start(settlement: Settlement, start_month: int, at: dt.datetime) -> dt.datetime:
    start = period_start(settlement, start_month, at)
    if settlement is Settlement.MONTHLY:
        return dt.datetime(start.year + start.month // 12, start.month % 12 + 1, 1)
    return dt.datetime(start.year + 1, start.month, 1)


# --- time-of-use ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DaySlot:
    start: dt.time
    band: Band


DayTable: TypeAlias = tuple[DaySlot, ...]


def _check_table(table: DayTable, name: str) -> None:
    if not 1 <= len(table) <= MAX_DAY_SLOTS:
        raise TariffError(name, f"needs 1 to {MAX_DAY_SLOTS} slots, got {len(table)}")
    previous: dt.time | None = None
    for i, slot in enumerate(table):
        if slot.start.second or slot.start.microsecond or slot.start.tzinfo is not None:
            raise TariffError(f"{name}[{i}]", "slot starts are whole minutes, local time")
        if previous is not None and slot.start <= previous:
            raise TariffError(f"{name}[{i}]", "slot starts must increase through the day")
        if not isinstance(slot.band, Band):
            raise TariffError(f"{name}[{i}]", f"unknown band {slot.band!r}")
        previous = slot.start


def band_in_table(table: DayTable, moment: dt.time) -> Band:
    band = table[-1].band  # before the first start, the day's last slot is still running
    for slot in table:
        if slot.start > moment:
            break
        band = slot.band
    return band


@dataclass(frozen=True)
class TouSchedule:
    weekday: DayTable
    weekend: DayTable | None = None  # None: as on weekdays
    holiday: DayTable | None = None  # None: as on weekends
    holidays: frozenset[dt.date] = frozenset()
    workdays: frozenset[dt.date] = frozenset()
    weekend_days: frozenset[int] = frozenset({6, 7})  # ISO weekday numbers, Monday = 1

    def __post_init__(self) -> None:
        _check_table(self.weekday, "weekday")
        if self.weekend is not None:
            _check_table(self.weekend, "weekend")
        if self.holiday is not None:
            _check_table(self.holiday, "holiday")
        if not self.weekend_days <= set(range(1, 8)):
            raise TariffError("weekend_days", "ISO weekday numbers are 1 (Monday) .. 7 (Sunday)")
        both = self.holidays & self.workdays
        if both:
            raise TariffError("workdays", f"{min(both)} is also listed as a holiday")

    def table_for(self, day: dt.date) -> DayTable:
        weekend = self.weekend if self.weekend is not None else self.weekday
        if day in self.holidays:
            return self.holiday if self.holiday is not None else weekend
        if day in self.workdays or day.isoweekday() not in self.weekend_days:
            return self.weekday
        return weekend

    def band_at(self, at: dt.datetime) -> Band:
        return band_in_table(self.table_for(at.date()), at.time())

    def next_change_after(self, at: dt.datetime) -> dt.datetime:
        """The next slot start after ``at``, or the next midnight (where the table may change)."""
        day = at.date()
        for slot in self.table_for(day):
            moment = dt.datetime.combine(day, slot.start)
            if moment > at:
                return moment
        return dt.datetime.combine(day + dt.timedelta(days=1), dt.time())

    def bands(self) -> set[Band]:
        tables = [self.weekday, self.weekend or (), self.holiday or ()]
        return {slot.band for table in tables for slot in table}

    def to_json_dict(self) -> dict[str, Any]:
        def table(t: DayTable | None) -> list[list[str]] | None:
            return None if t is None else [[s.start.strftime("%H:%M"), s.band.value] for s in t]

        return {
            "weekday": table(self.weekday),
            "weekend": table(self.weekend),
            "holiday": table(self.holiday),
            "holidays": sorted(d.isoformat() for d in self.holidays),
            "workdays": sorted(d.isoformat() for d in self.workdays),
            "weekend_days": sorted(self.weekend_days),
        }

    @classmethod
    def from_json_dict(cls, data: Any) -> TouSchedule:
        d = _table(data, "")
        _known(d, {"weekday", "weekend", "holiday", "holidays", "workdays", "weekend_days"}, "")

        def table(name: str) -> DayTable | None:
            if d.get(name) is None:
                if name == "weekday":
                    raise TariffError(name, "is required")
                return None
            return tuple(_slot(v, f"{name}[{i}]") for i, v in _items(d, name))

        weekday = table("weekday")
        assert weekday is not None
        return cls(
            weekday=weekday,
            weekend=table("weekend"),
            holiday=table("holiday"),
            holidays=frozenset(_date(v, f"holidays[{i}]") for i, v in _items(d, "holidays", [])),
            workdays=frozenset(_date(v, f"workdays[{i}]") for i, v in _items(d, "workdays", [])),
            weekend_days=frozenset(
                _int(v, f"weekend_days[{i}]") for i, v in _items(d, "weekend_days", [6, 7])
            ),
        )


@dataclass(frozen=True)
class BandPrices:
    sharp: Price | None = None
    peak: Price | None = None
    flat: Price | None = None
    valley: Price | None = None

    def __post_init__(self) -> None:
        for band in Band:
            value = getattr(self, band.value)
            if value is not None:
                _check_price(value, band.value)

    def get(self, band: Band) -> Price | None:
        price: Price | None = getattr(self, band.value)
        return price

    def to_json_dict(self) -> dict[str, int]:
        return {b.value: p for b in Band if (p := self.get(b)) is not None}

    @classmethod
    def from_json_dict(cls, data: Any) -> BandPrices:
        d = _table(data, "")
        _known(d, {b.value for b in Band}, "")
        return cls(**{k: _int(v, k) for k, v in d.items()})


# --- the four tariff kinds ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Versioned:
    id: str
    version: int
    effective_from: dt.datetime

    kind: ClassVar[str] = ""

    def _check_identity(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise TariffError("id", "must be a non-empty text")
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise TariffError("version", f"must be an integer ≥ 1, got {self.version!r}")
        if not isinstance(self.effective_from, dt.datetime):
            raise TariffError("effective_from", "must be a date and time")
        if self.effective_from.tzinfo is not None:
            raise TariffError("effective_from", "use site-local time without a UTC offset")

    def _identity_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "version": self.version,
            "effective_from": self.effective_from.isoformat(),
        }


@dataclass(frozen=True)
class FlatTariff(_Versioned):
    price: Price

    kind: ClassVar[str] = "flat"

    def __post_init__(self) -> None:
        self._check_identity()
        _check_price(self.price, "price")

    @property
    def ladder(self) -> Ladder | None:
        return None

    def purchase_price(self, tier: int) -> Price:
        return self.price

    def price_at(self, tier: int, at: dt.datetime) -> Price:
        return self.price

    def band_at(self, at: dt.datetime) -> Band | None:
        return None

    def next_change_after(self, at: dt.datetime) -> dt.datetime | None:
        return None

    def to_json_dict(self) -> dict[str, Any]:
        return {**self._identity_json(), "price": self.price}

    @classmethod
    def from_json_dict(cls, data: Any) -> FlatTariff:
        d = _tariff_table(data, cls.kind, {"price"})
        return cls(**_identity(d), price=_int(_req(d, "price", ""), "price"))


@dataclass(frozen=True)
class TieredTariff(_Versioned):
    ladder: Ladder
    prices: tuple[Price, ...]

    kind: ClassVar[str] = "tiered"

    def __post_init__(self) -> None:
        self._check_identity()
        if len(self.prices) != self.ladder.tiers:
            raise TariffError(
                "prices", f"needs {self.ladder.tiers} prices for {self.ladder.tiers - 1} thresholds"
            )
        for i, price in enumerate(self.prices):
            _check_price(price, f"prices[{i}]")

    def purchase_price(self, tier: int) -> Price:
        return self.prices[tier]

    def price_at(self, tier: int, at: dt.datetime) -> Price:
        return self.prices[tier]

    def band_at(self, at: dt.datetime) -> Band | None:
        return None

    def next_change_after(self, at: dt.datetime) -> dt.datetime | None:
        return None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            **self._identity_json(),
            "ladder": self.ladder.to_json_dict(),
            "prices": list(self.prices),
        }

    @classmethod
    def from_json_dict(cls, data: Any) -> TieredTariff:
        d = _tariff_table(data, cls.kind, {"ladder", "prices"})
        return cls(
            **_identity(d),
            ladder=_prefixed("ladder", lambda: Ladder.from_json_dict(_req(d, "ladder", ""))),
            prices=tuple(_int(v, f"prices[{i}]") for i, v in _items(d, "prices")),
        )


def _check_band_prices(prices: BandPrices, schedule: TouSchedule, base_band: Band) -> None:
    for band in sorted(schedule.bands() | {base_band}):
        if prices.get(band) is None:
            used = "is the conversion band" if band == base_band else "is used by the schedule"
            raise TariffError(f"prices.{band.value}", f"has no price but {used}")


@dataclass(frozen=True)
class TimeOfUseTariff(_Versioned):
    prices: BandPrices
    schedule: TouSchedule
    base_band: Band = Band.FLAT

    kind: ClassVar[str] = "tou"

    def __post_init__(self) -> None:
        self._check_identity()
        _check_band_prices(self.prices, self.schedule, self.base_band)

    @property
    def ladder(self) -> Ladder | None:
        return None

    def _band_price(self, band: Band) -> Price:
        price = self.prices.get(band)
        assert price is not None  # __post_init__ checked every band in use
        return price

    def purchase_price(self, tier: int) -> Price:
        return self._band_price(self.base_band)

    def price_at(self, tier: int, at: dt.datetime) -> Price:
        return self._band_price(self.schedule.band_at(at))

    def band_at(self, at: dt.datetime) -> Band | None:
        return self.schedule.band_at(at)

    def next_change_after(self, at: dt.datetime) -> dt.datetime | None:
        return self.schedule.next_change_after(at)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            **self._identity_json(),
            "prices": self.prices.to_json_dict(),
            "schedule": self.schedule.to_json_dict(),
            "base_band": self.base_band.value,
        }

    @classmethod
    def from_json_dict(cls, data: Any) -> TimeOfUseTariff:
        d = _tariff_table(data, cls.kind, {"prices", "schedule", "base_band"})
        return cls(**_identity(d), **_tou_parts(d))


@dataclass(frozen=True)
class TouTierTariff(_Versioned):
    """State Grid style: the time-of-use price plus the adder of the current ladder tier."""

    prices: BandPrices
    schedule: TouSchedule
    ladder: Ladder
    adders: tuple[Price, ...]
    base_band: Band = Band.FLAT

    kind: ClassVar[str] = "tou_tiered"

    def __post_init__(self) -> None:
        self._check_identity()
        _check_band_prices(self.prices, self.schedule, self.base_band)
        if len(self.adders) != self.ladder.tiers:
            raise TariffError(
                "adders", f"needs {self.ladder.tiers} adders for {self.ladder.tiers - 1} thresholds"
            )
        for i, adder in enumerate(self.adders):
            _check_price(adder, f"adders[{i}]", allow_zero=True)

    def _band_price(self, band: Band) -> Price:
        price = self.prices.get(band)
        assert price is not None
        return price

    def purchase_price(self, tier: int) -> Price:
        return self._band_price(self.base_band) + self.adders[tier]

    def price_at(self, tier: int, at: dt.datetime) -> Price:
        return self._band_price(self.schedule.band_at(at)) + self.adders[tier]

    def band_at(self, at: dt.datetime) -> Band | None:
        return self.schedule.band_at(at)

    def next_change_after(self, at: dt.datetime) -> dt.datetime | None:
        return self.schedule.next_change_after(at)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            **self._identity_json(),
            "prices": self.prices.to_json_dict(),
            "schedule": self.schedule.to_json_dict(),
            "base_band": self.base_band.value,
            "ladder": self.ladder.to_json_dict(),
            "adders": list(self.adders),
        }

    @classmethod
    def from_json_dict(cls, data: Any) -> TouTierTariff:
        d = _tariff_table(data, cls.kind, {"prices", "schedule", "base_band", "ladder", "adders"})
        return cls(
            **_identity(d),
            **_tou_parts(d),
            ladder=_prefixed("ladder", lambda: Ladder.from_json_dict(_req(d, "ladder", ""))),
            adders=tuple(_int(v, f"adders[{i}]") for i, v in _items(d, "adders")),
        )


Tariff: TypeAlias = FlatTariff | TieredTariff | TimeOfUseTariff | TouTierTariff
TARIFF_KINDS: Mapping[str, type[Tariff]] = {
    cls.kind: cls for cls in (FlatTariff, TieredTariff, TimeOfUseTariff, TouTierTariff)
}


def tariff_from_json_dict(data: Any) -> Tariff:
    """Any tariff kind from its JSON form (what the store snapshots and the cloud sends)."""
    kind = _table(data, "").get("kind")
    cls = TARIFF_KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise TariffError("kind", f"must be one of {', '.join(TARIFF_KINDS)}, got {kind!r}")
    return cls.from_json_dict(data)


TariffT = TypeVar("TariffT", bound=_Versioned)


def select_version(versions: Iterable[TariffT], at: dt.datetime) -> TariffT:
    """The version in force at ``at``: latest ``effective_from`` not after it, then highest version.

    A version re-issued with the same effective time (a correction) wins by its higher number.
    """
    best: TariffT | None = None
    for candidate in versions:
        if candidate.effective_from > at:
            continue
        if best is None or (candidate.effective_from, candidate.version) > (
            best.effective_from,
            best.version,
        ):
            best = candidate
    if best is None:
        raise NoTariffInForceError("effective_from", f"no tariff version in force at {at}")
    return best


def next_version_after(versions: Sequence[TariffT], at: dt.datetime) -> dt.datetime | None:
    """When the next version takes effect after ``at``, if any."""
    later = [v.effective_from for v in versions if v.effective_from > at]
    return min(later) if later else None


def with_version(tariff: TariffT, version: int, effective_from: dt.datetime) -> TariffT:
    """A copy of ``tariff`` as another version (the UI edits a price by adding a version)."""
    return dataclasses.replace(tariff, version=version, effective_from=effective_from)


# --- JSON helpers: every problem names its field ------------------------------------------------


def _table(data: Any, path: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TariffError(path or "<root>", f"must be an object, got {type(data).__name__}")
    return data


def _known(d: Mapping[str, Any], allowed: set[str], path: str) -> None:
    unknown = sorted(set(d) - allowed)
    if unknown:
        known = ", ".join(sorted(allowed))
        raise TariffError(f"{path}{unknown[0]}", f"unknown field (known: {known})")


def _req(d: Mapping[str, Any], key: str, path: str) -> Any:
    if key not in d:
        raise TariffError(f"{path}{key}", "is required")
    return d[key]


def _items(
    d: Mapping[str, Any], key: str, default: list[Any] | None = None
) -> list[tuple[int, Any]]:
    value = d.get(key, default) if default is not None else _req(d, key, "")
    if not isinstance(value, list):
        raise TariffError(key, f"must be a list, got {type(value).__name__}")
    return list(enumerate(value))


def _int(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TariffError(path, f"must be an integer, got {value!r}")
    return value


def _str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise TariffError(path, f"must be text, got {value!r}")
    return value


_E = TypeVar("_E", bound=enum.Enum)


def _enum(cls: type[_E], value: Any, path: str) -> _E:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in cls)
        raise TariffError(path, f"must be one of {allowed}, got {value!r}") from None


def _date(value: Any, path: str) -> dt.date:
    try:
        return dt.date.fromisoformat(_str(value, path))
    except ValueError:
        raise TariffError(path, f"must be a date YYYY-MM-DD, got {value!r}") from None


def _slot(value: Any, path: str) -> DaySlot:
    if not (isinstance(value, list) and len(value) == 2):
        raise TariffError(path, f'must be ["HH:MM", band], got {value!r}')
    try:
        start = dt.time.fromisoformat(_str(value[0], path))
    except ValueError:
        raise TariffError(path, f"must start with a time HH:MM, got {value[0]!r}") from None
    return DaySlot(start, _enum(Band, value[1], path))


def _tariff_table(data: Any, kind: str, fields: set[str]) -> dict[str, Any]:
    d = _table(data, "")
    if d.get("kind", kind) != kind:
        raise TariffError("kind", f"expected {kind!r}, got {d.get('kind')!r}")
    _known(d, fields | {"kind", "id", "version", "effective_from"}, "")
    return d


def _identity(d: Mapping[str, Any]) -> dict[str, Any]:
    text = _str(_req(d, "effective_from", ""), "effective_from")
    try:
        effective_from = dt.datetime.fromisoformat(text)
    except ValueError:
        raise TariffError("effective_from", f"must be a date and time, got {text!r}") from None
    return {
        "id": _str(_req(d, "id", ""), "id"),
        "version": _int(_req(d, "version", ""), "version"),
        "effective_from": effective_from,
    }


def _tou_parts(d: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "prices": _prefixed("prices", lambda: BandPrices.from_json_dict(_req(d, "prices", ""))),
        "schedule": _prefixed(
            "schedule", lambda: TouSchedule.from_json_dict(_req(d, "schedule", ""))
        ),
        "base_band": _enum(Band, d.get("base_band", "flat"), "base_band"),
    }


__all__ = [
    "MAX_DAY_SLOTS",
    "MAX_THRESHOLDS",
    "Band",
    "BandPrices",
    "DaySlot",
    "DayTable",
    "FlatTariff",
    "Ladder",
    "Settlement",
    "Tariff",
    "TieredTariff",
    "TimeOfUseTariff",
    "TouSchedule",
    "TouTierTariff",
    "band_in_table",
    "next_period_start",
    "next_version_after",
    "period_start",
    "select_version",
    "tariff_from_json_dict",
    "with_version",
]
