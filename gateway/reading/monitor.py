"""Exceptions and meter-side alarms found in one poll: pure, compared with the last state.

``evaluate`` returns a condition (active or not) for every kind the poll has evidence about;
kinds it has no evidence about (a set not read this time) are left alone, so an alarm raised
from the status word is not ended by a poll that only read energy. Gateway-wallet balance
alarms and keep-power come from the enforcement step, not from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.dlt645 import dataids as ids
from gateway.reading.config import ClockConfig, TamperBit
from gateway.reading.results import PollResult
from gateway.reading.targets import BalanceLimits
from gateway.store.readings import MeterStatus

SW1_REVERSE_ACTIVE = 1 << 4  # status word 1: active power direction reverse


@dataclass(frozen=True, slots=True)
class Condition:
    kind: str
    active: bool
    value: int | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Findings:
    conditions: tuple[Condition, ...]
    used_cwh: int  # forward energy since the previous reading (0 when unknown or reset)


def _kwh(cwh: int) -> str:
    sign = "-" if cwh < 0 else ""
    return f"{sign}{abs(cwh) // 100}.{abs(cwh) % 100:02d} kWh"


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d} yuan"


def evaluate(
    result: PollResult,
    previous: MeterStatus | None,
    *,
    clock: ClockConfig,
    tamper_bits: Sequence[TamperBit] = (),
    limits: BalanceLimits | None = None,
) -> Findings:
    conditions: list[Condition] = [
        Condition(
            "comm_failure",
            not result.online,
            None,
            result.error if not result.online else "",
        )
    ]
    if result.corrupt or result.bad_frames:
        conditions.append(
            Condition("checksum_error", True, result.bad_frames or 1, result.error or "")
        )
    elif result.ok:
        conditions.append(Condition("checksum_error", False))
    values = result.values
    used = 0
    if values.energy_cwh is not None:
        before = previous.energy_cwh if previous is not None else None
        if before is not None and values.energy_cwh < before:
            conditions.append(
                Condition(
                    "counter_backwards",
                    True,
                    values.energy_cwh - before,
                    f"forward energy fell from {_kwh(before)} to {_kwh(values.energy_cwh)}",
                )
            )
        else:
            conditions.append(Condition("counter_backwards", False))
            if before is not None:
                used = values.energy_cwh - before
    reverse = _reverse(values.reverse_cwh, previous, values.status_words.get(1))
    if reverse is not None:
        conditions.append(reverse)
    sw3 = values.status3
    gateway_wallet = result.meter.wallet_model == "gateway"
    if sw3 is not None:
        relay_open = bool(sw3 & ids.SW3_RELAY_OPEN)
        command_open = bool(sw3 & ids.SW3_RELAY_COMMAND_OPEN)
        conditions.append(Condition("relay_tripped", relay_open))
        stuck = command_open and not relay_open
        conditions.append(
            Condition(
                "relay_mismatch",
                stuck,
                sw3,
                "relay commanded open but still closed" if stuck else "",
            )
        )
        if not gateway_wallet:
            conditions.append(Condition("keep_power", bool(sw3 & ids.SW3_KEEP_POWER)))
    if not gateway_wallet:
        conditions.extend(_meter_wallet_alarms(result, limits))
    tamper = _tamper(values.status_words, tamper_bits)
    if tamper is not None:
        conditions.append(tamper)
    if result.drift_s is not None:
        off = abs(result.drift_s) > clock.drift_alarm_s
        conditions.append(
            Condition(
                "clock_drift",
                off,
                result.drift_s,
                f"meter clock {result.drift_s:+d} s from the gateway's" if off else "",
            )
        )
    if result.clock_set_error:
        conditions.append(
            Condition("clock_set_failed", True, result.drift_s, result.clock_set_error)
        )
    elif result.clock_set:
        conditions.append(Condition("clock_set_failed", False))
    return Findings(tuple(conditions), used)


def _reverse(
    reverse_cwh: int | None, previous: MeterStatus | None, status1: int | None
) -> Condition | None:
    evidence = False
    detail = ""
    increase: int | None = None
    if reverse_cwh is not None:
        evidence = True
        before = previous.reverse_cwh if previous is not None else None
        if before is not None and reverse_cwh > before:
            increase = reverse_cwh - before
            detail = f"reverse energy rose by {_kwh(increase)} to {_kwh(reverse_cwh)}"
    if status1 is not None:
        evidence = True
        if status1 & SW1_REVERSE_ACTIVE and not detail:
            detail = "status word 1 reports reverse active power"
    if not evidence:
        return None
    return Condition("reverse_energy", bool(detail), increase, detail)


def _tamper(words: dict[int, int], bits: Sequence[TamperBit]) -> Condition | None:
    seen = [b for b in bits if b.word in words]
    if not seen:
        return None
    mask = 0
    names: list[str] = []
    for i, b in enumerate(seen):
        if words[b.word] & (1 << b.bit):
            mask |= 1 << i
            names.append(b.name)
    return Condition("tamper", bool(mask), mask, ", ".join(names))


def _meter_wallet_alarms(result: PollResult, limits: BalanceLimits | None) -> list[Condition]:
    """Balance alarms of a meter that keeps its own wallet, from what the poll read."""
    values = result.values
    sw3 = values.status3
    money = result.meter.value_kind == "money"
    out: list[Condition] = []
    if values.remaining is not None and values.overdraft is not None:
        overdrawn = values.overdraft > 0
        out.append(
            Condition(
                "overdraft",
                overdrawn,
                -values.overdraft if money else None,
                f"overdrawn by {_yuan(values.overdraft)}" if overdrawn and money else "",
            )
        )
        if money and limits is not None and not overdrawn:
            level2 = values.remaining <= limits.alarm2_fen
            level1 = not level2 and values.remaining <= limits.alarm1_fen
            out.append(Condition("alarm2", level2, values.remaining, _yuan(values.remaining)))
            out.append(Condition("alarm1", level1, values.remaining, _yuan(values.remaining)))
            return out
        if overdrawn:
            out.append(Condition("alarm1", False))
            out.append(Condition("alarm2", False))
            return out
    if sw3 is not None:
        # Without thresholds to compare, the meter's own pre-trip alarm bit says alarm 1.
        out.append(Condition("alarm1", bool(sw3 & ids.SW3_PRETRIP_ALARM), values.remaining))
    return out
