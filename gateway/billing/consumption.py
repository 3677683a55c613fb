"""Gateway-wallet debiting from successive energy register readings.

Each new reading charges the energy since the last one (the baseline) by the tariff in force:

- The interval is cut wherever the price could change: a tariff version taking effect, a
  time-of-use slot boundary or midnight, a new settlement period. The energy is shared between
  the pieces in proportion to their duration (the meter only tells us the total, so constant
  power is assumed); whole centi-kWh are handed out by largest remainder, earliest piece first on
  a tie, so the pieces add up to the measured energy exactly.
- Within a piece the energy walks the ladder from the period-to-date use, which restarts at 0 at
  each new settlement period; tiers accumulate per account, across meter replacements.
- Money is the exact value (centi-kWh x price, 1/10000 fen) plus the residue carried from the
  previous debit, rounded DOWN to the fen; what is left under one fen is the new residue. Over
  any run of readings the fen charged equal the exact value less under one fen.

Readings that do not fit are reported, never charged:

- register lower than the baseline (counter reset, register cleared): new baseline, nothing charged;
- another meter id (meter replaced): new baseline, period use and residue carried over;
- more energy than the meter could pass at ``max_power_w`` (a garbled read, or a jump): held,
  nothing charged. If the next reading continues plausibly from the baseline, the held one was a
  glitch; if it continues plausibly from the held one, the jump was real: the baseline moves to
  the held reading without charging the jump (reported with the energy left unbilled);
- a reading not later than the baseline: ignored.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.billing.errors import SettingsError
from gateway.billing.tariff import (
    Band,
    Settlement,
    Tariff,
    next_period_start,
    next_version_after,
    period_start,
    select_version,
)
from gateway.billing.units import VALUE_PER_FEN, CentiKwh, Fen, Price

_MICROSECOND = dt.timedelta(microseconds=1)
_WH_PER_CENTI_KWH = 10
_MICROSECONDS_PER_HOUR = 3_600_000_000


class AnomalyKind(enum.StrEnum):
    COUNTER_RESET = "counter_reset"
    METER_CHANGED = "meter_changed"
    SPIKE = "spike"
    REBASELINED = "rebaselined"
    OUT_OF_ORDER = "out_of_order"


@dataclass(frozen=True)
class Reading:
    meter_id: str
    at: dt.datetime
    register: CentiKwh  # total active energy register


@dataclass(frozen=True)
class Anomaly:
    kind: AnomalyKind
    meter_id: str
    at: dt.datetime
    previous: CentiKwh  # the baseline register
    register: CentiKwh  # what was read
    unbilled: CentiKwh | None = None  # energy known to be skipped (REBASELINED)


@dataclass(frozen=True)
class MeteringLimits:
    max_power_w: int = 100_000  # above any single meter's rating at a residential site

    def __post_init__(self) -> None:
        if self.max_power_w <= 0:
            raise SettingsError("max_power_w", f"must be above zero, got {self.max_power_w}")


@dataclass(frozen=True)
class ConsumptionState:
    """What must persist between readings of one account's meter."""

    meter_id: str
    at: dt.datetime
    register: CentiKwh
    period_start: dt.datetime
    period_use: CentiKwh
    residue: int = 0  # value under one fen not yet charged, in 1/10000 fen
    held: Reading | None = None


@dataclass(frozen=True)
class ChargeSegment:
    start: dt.datetime
    end: dt.datetime
    tariff_id: str
    tariff_version: int
    band: Band | None
    tier: int
    energy: CentiKwh
    price: Price
    cost: Fen


@dataclass(frozen=True)
class Debit:
    state: ConsumptionState
    energy: CentiKwh
    charge: Fen
    segments: tuple[ChargeSegment, ...]
    anomalies: tuple[Anomaly, ...] = ()


def _settlement_of(tariff: Tariff) -> tuple[Settlement, int]:
    ladder = tariff.ladder
    # Without a ladder the period does not change prices; a calendar month keeps the figure useful
    # should a later version bring a ladder.
    return (ladder.settlement, ladder.start_month) if ladder else (Settlement.MONTHLY, 1)


def _period_of(tariff: Tariff, at: dt.datetime) -> dt.datetime:
    settlement, start_month = _settlement_of(tariff)
    return period_start(settlement, start_month, at)


def start_baseline(
    reading: Reading,
    versions: Sequence[Tariff],
    *,
    period_use: CentiKwh = 0,
    residue: int = 0,
) -> ConsumptionState:
    """First reading of an account's meter (new account, or after a replacement)."""
    return ConsumptionState(
        meter_id=reading.meter_id,
        at=reading.at,
        register=reading.register,
        period_start=_period_of(select_version(versions, reading.at), reading.at),
        period_use=period_use,
        residue=residue,
    )


def _rebase(
    state: ConsumptionState, reading: Reading, versions: Sequence[Tariff]
) -> ConsumptionState:
    same_period = _period_of(select_version(versions, reading.at), reading.at) == state.period_start
    return start_baseline(
        reading,
        versions,
        period_use=state.period_use if same_period else 0,
        residue=state.residue,
    )


def _plausible(energy: CentiKwh, start: dt.datetime, end: dt.datetime, max_power_w: int) -> bool:
    # One register step of slack: a reading may land just after the register ticked.
    micros = (end - start) // _MICROSECOND
    excess_wh = max(0, energy - 1) * _WH_PER_CENTI_KWH
    return excess_wh * _MICROSECONDS_PER_HOUR <= max_power_w * micros


def _pieces(
    start: dt.datetime, end: dt.datetime, versions: Sequence[Tariff]
) -> list[tuple[dt.datetime, dt.datetime, Tariff]]:
    pieces: list[tuple[dt.datetime, dt.datetime, Tariff]] = []
    t = start
    while t < end:
        tariff = select_version(versions, t)
        settlement, start_month = _settlement_of(tariff)
        cuts = [end, next_period_start(settlement, start_month, t)]
        for cut in (next_version_after(versions, t), tariff.next_change_after(t)):
            if cut is not None:
                cuts.append(cut)
        upto = min(cuts)
        pieces.append((t, upto, tariff))
        t = upto
    return pieces


def _share(energy: CentiKwh, durations: list[int]) -> list[CentiKwh]:
    """Split ``energy`` in proportion to ``durations`` by largest remainder (exact total)."""
    total = sum(durations)
    if total == 0:
        return [energy] + [0] * (len(durations) - 1)
    shares = [energy * d // total for d in durations]
    leftover = energy - sum(shares)
    order = sorted(range(len(durations)), key=lambda i: (-(energy * durations[i] % total), i))
    for i in order[:leftover]:
        shares[i] += 1
    return shares


@dataclass
class _Priced:
    start: dt.datetime
    end: dt.datetime
    tariff: Tariff
    band: Band | None
    tier: int
    energy: CentiKwh
    price: Price

    def key(self) -> tuple[str, int, Band | None, int, Price]:
        return (self.tariff.id, self.tariff.version, self.band, self.tier, self.price)


def _charge(
    state: ConsumptionState, reading: Reading, versions: Sequence[Tariff]
) -> tuple[ConsumptionState, CentiKwh, Fen, tuple[ChargeSegment, ...]]:
    energy = reading.register - state.register
    pieces = _pieces(state.at, reading.at, versions)
    shares = _share(energy, [(b - a) // _MICROSECOND for a, b, _ in pieces])
    current_period, use = state.period_start, state.period_use
    priced: list[_Priced] = []
    for (start, end, tariff), share in zip(pieces, shares, strict=True):
        left = share
        period = _period_of(tariff, start)
        if period != current_period:
            current_period, use = period, 0
        ladder = tariff.ladder
        band = tariff.band_at(start)
        while left > 0:
            tier = ladder.tier_of(use) if ladder is not None else 0
            room = ladder.room(tier, use) if ladder is not None else None
            take = left if room is None else min(room, left)
            item = _Priced(start, end, tariff, band, tier, take, tariff.price_at(tier, start))
            if priced and priced[-1].key() == item.key() and priced[-1].end >= start:
                priced[-1].end = end
                priced[-1].energy += take
            else:
                priced.append(item)
            use += take
            left -= take
    value, charged = state.residue, 0
    segments: list[ChargeSegment] = []
    for p in priced:
        value += p.energy * p.price
        running = value // VALUE_PER_FEN
        segments.append(
            ChargeSegment(
                start=p.start,
                end=p.end,
                tariff_id=p.tariff.id,
                tariff_version=p.tariff.version,
                band=p.band,
                tier=p.tier,
                energy=p.energy,
                price=p.price,
                cost=running - charged,
            )
        )
        charged = running
    new_state = ConsumptionState(
        meter_id=state.meter_id,
        at=reading.at,
        register=reading.register,
        period_start=current_period,
        period_use=use,
        residue=value - charged * VALUE_PER_FEN,
    )
    return new_state, energy, charged, tuple(segments)


def _anomaly(kind: AnomalyKind, state: ConsumptionState, reading: Reading, **extra: int) -> Anomaly:
    return Anomaly(kind, reading.meter_id, reading.at, state.register, reading.register, **extra)


def debit(
    state: ConsumptionState,
    reading: Reading,
    versions: Sequence[Tariff],
    limits: MeteringLimits = MeteringLimits(),
) -> Debit:
    """Charge the energy between ``state`` (the baseline) and ``reading``."""
    if reading.meter_id != state.meter_id:
        anomaly = _anomaly(AnomalyKind.METER_CHANGED, state, reading)
        return Debit(_rebase(state, reading, versions), 0, 0, (), (anomaly,))
    if reading.at <= state.at:
        if reading.at == state.at and reading.register == state.register:
            return Debit(state, 0, 0, ())  # the same reading delivered twice
        return Debit(state, 0, 0, (), (_anomaly(AnomalyKind.OUT_OF_ORDER, state, reading),))
    if reading.register < state.register:
        anomaly = _anomaly(AnomalyKind.COUNTER_RESET, state, reading)
        return Debit(_rebase(state, reading, versions), 0, 0, (), (anomaly,))
    energy = reading.register - state.register
    if _plausible(energy, state.at, reading.at, limits.max_power_w):
        new_state, energy, charge, segments = _charge(state, reading, versions)
        return Debit(new_state, energy, charge, segments)
    held = state.held
    if (
        held is not None
        and held.at < reading.at
        and held.register <= reading.register
        and _plausible(reading.register - held.register, held.at, reading.at, limits.max_power_w)
    ):
        jump = _anomaly(
            AnomalyKind.REBASELINED, state, held, unbilled=held.register - state.register
        )
        moved = dataclasses.replace(_rebase(state, held, versions), held=None)
        new_state, energy, charge, segments = _charge(moved, reading, versions)
        return Debit(new_state, energy, charge, segments, (jump,))
    spike = _anomaly(AnomalyKind.SPIKE, state, reading)
    return Debit(dataclasses.replace(state, held=reading), 0, 0, (), (spike,))
