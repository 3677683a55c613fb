"""What is read from a meter and how often: named read sets, per meter type.

The default sets, as data:

| set     | every  | items                                                            |
|---------|--------|------------------------------------------------------------------|
| energy  | 15 min | forward active block 0001FF00 (total + 4 tariffs) where the type  |
|         |        | reads blocks, else the total 00010000                            |
| wallet  | 15 min | remaining + overdraft money (or energy): meter-wallet types only  |
| status  | 15 min | status word 3; the 040005FF block when tamper bits are configured |
| instant | 1 h    | reverse active total, phase A voltage and current, total power    |
| clock   | 1 day  | meter date and time (drift)                                      |

``[reading.sets.<name>]`` changes them site-wide; a meter type's profile overrides them in
``extra.reading``, e.g. ``{"reading": {"instant": {"every_s": 0}, "energy": {"every_s": 600,
"items": ["forward_active_total"]}}}`` (``every_s`` 0 switches a set off).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.dlt645.dataids import lookup
from gateway.reading.config import SET_NAMES, ReadingConfig, ReadSetConfig
from gateway.typedconfig import ConfigError, from_dict

DI_ENERGY_TOTAL = 0x00010000
DI_ENERGY_BLOCK = 0x0001FF00
DI_REVERSE_TOTAL = 0x00020000
DI_REMAINING_MONEY = 0x00900200
DI_OVERDRAFT_MONEY = 0x00900201
DI_REMAINING_ENERGY = 0x00900100
DI_OVERDRAFT_ENERGY = 0x00900101
DI_STATUS_3 = 0x04000503
DI_STATUS_BLOCK = 0x040005FF
DI_VOLTAGE_A = 0x02010100
DI_CURRENT_A = 0x02020100
DI_POWER_TOTAL = 0x02030000
DI_DATE = 0x04000101
DI_TIME = 0x04000102


@dataclass(frozen=True, slots=True)
class ReadSet:
    name: str
    every_s: int
    items: tuple[int, ...]  # DIs, read in this order


@dataclass(frozen=True, slots=True)
class MeterKind:
    """What the plan depends on: wallet model, value kind, block reads, tamper detection."""

    wallet_model: str  # "meter" | "gateway"
    value_kind: str  # "money" | "energy"
    block_reads: bool = True
    profile_extra: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ReadPlan:
    sets: tuple[ReadSet, ...]

    def get(self, name: str) -> ReadSet | None:
        return next((s for s in self.sets if s.name == name), None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sets)


def default_items(name: str, kind: MeterKind, config: ReadingConfig) -> tuple[int, ...]:
    if name == "energy":
        return (DI_ENERGY_BLOCK,) if kind.block_reads else (DI_ENERGY_TOTAL,)
    if name == "wallet":
        if kind.wallet_model != "meter":
            return ()  # the gateway holds the money: nothing to read
        if kind.value_kind == "energy":
            return (DI_REMAINING_ENERGY, DI_OVERDRAFT_ENERGY)
        return (DI_REMAINING_MONEY, DI_OVERDRAFT_MONEY)
    if name == "status":
        words = {t.word for t in config.tamper_bits} - {3}
        if not words:
            return (DI_STATUS_3,)
        if kind.block_reads:
            return (DI_STATUS_BLOCK,)
        return (DI_STATUS_3, *(0x04000500 + w for w in sorted(words)))
    if name == "instant":
        return (DI_REVERSE_TOTAL, DI_VOLTAGE_A, DI_CURRENT_A, DI_POWER_TOTAL)
    if name == "clock":
        return (DI_DATE, DI_TIME)
    raise ValueError(f"unknown read set {name!r}")


def _overrides(extra: Mapping[str, Any] | None) -> dict[str, ReadSetConfig]:
    if not extra or "reading" not in extra:
        return {}
    table = extra["reading"]
    if not isinstance(table, dict):
        raise ConfigError("extra.reading", "must be a table of read sets")
    unknown = sorted(set(table) - set(SET_NAMES))
    if unknown:
        raise ConfigError(f"extra.reading.{unknown[0]}", f"unknown set (known: {SET_NAMES})")
    return {
        name: from_dict(ReadSetConfig, value, f"extra.reading.{name}")
        for name, value in table.items()
    }


def plan_for(kind: MeterKind, config: ReadingConfig) -> ReadPlan:
    """The read plan of one meter type (ConfigError for a bad ``extra.reading``)."""
    chosen = {**config.sets, **_overrides(kind.profile_extra)}
    sets: list[ReadSet] = []
    for name in SET_NAMES:
        wanted = chosen[name]
        if wanted.every_s == 0:
            continue
        if wanted.items:
            items = tuple(lookup(item).di for item in wanted.items)
        else:
            items = default_items(name, kind, config)
        if items:
            sets.append(ReadSet(name, wanted.every_s, items))
    return ReadPlan(tuple(sets))
