"""Decoded values to exact integers, and the exceptions a poll reveals."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.dlt645 import dataids as ids
from gateway.dlt645.dataids import BY_DI, decode_value, encode_value
from gateway.dlt645.values import Quantity
from gateway.reading import monitor
from gateway.reading.config import ClockConfig, TamperBit
from gateway.reading.plan import DI_ENERGY_BLOCK, DI_POWER_TOTAL, DI_STATUS_BLOCK
from gateway.reading.results import PollResult
from gateway.reading.targets import BalanceLimits, MeterInfo
from gateway.reading.values import MeterValues, ValueShapeError, exact
from gateway.store.meters import Meter, MeterState
from gateway.store.metertypes import MeterProfile, MeterType, Protocol, ValueKind, WalletModel
from gateway.store.readings import MeterStatus

T0 = dt.datetime(2025, 3, 4, 2, 0, tzinfo=dt.UTC)


def test_values_are_exact_integers_in_their_units() -> None:
    values = MeterValues()
    block = decode_value(BY_DI[DI_ENERGY_BLOCK], bytes.fromhex("78563412" "01000000" "02000000"
                                                               "03000000" "04000000"))  # fmt: skip
    values.add(DI_ENERGY_BLOCK, block)
    assert values.energy_cwh == 12345678  # 123456.78 kWh
    assert values.tariffs_cwh == (1, 2, 3, 4)
    values.add(DI_POWER_TOTAL, Quantity(-12345, 4, "kW"))  # -1.2345 kW (reverse flow)
    assert values.power_dw == -12345  # -1234.5 W
    values.add(DI_STATUS_BLOCK, (1, 2, 0x1050, 4, 5, 6, 7))
    assert values.status3 == 0x1050 and values.status_words[7] == 7
    assert exact(Quantity(123, 1, "kWh"), 2, "x") == 1230
    with pytest.raises(ValueShapeError):
        exact(Quantity(12345, 3, "kWh"), 2, "x")  # would need rounding: refused
    with pytest.raises(ValueShapeError):
        values.add(0x04000101, "not a date")
    raw = encode_value(BY_DI[0x00900200], Quantity(4321, 2, "yuan"))
    values.add(0x00900200, decode_value(BY_DI[0x00900200], raw))
    assert values.remaining == 4321


def info(wallet: str = "meter") -> MeterInfo:
    model = WalletModel(wallet)
    meter = Meter(1, "000000000001", "", None, None, None, None, "b1", 1, "t", model,
                  ValueKind.MONEY, None, MeterState.INSTALLED, "", "", "")  # fmt: skip
    meter_type = MeterType(1, "t", Protocol.DLT645_2007, WalletModel(wallet), ValueKind.MONEY, 1,
                           MeterProfile(), "", "")  # fmt: skip
    from gateway.reading.plan import ReadPlan

    return MeterInfo(meter, meter_type, ReadPlan(()), 1, BalanceLimits(2000, 1000))


def status(**kw: int | None) -> MeterStatus:
    base: dict[str, object] = dict.fromkeys(MeterStatus.__dataclass_fields__)
    base.update(meter_id=1, online=True, last_error="", failures_in_row=0, polls=1, successes=1,
                retries=0, bad_frames=0, recent=1, recent_count=1, updated_at="")  # fmt: skip
    base.update(kw)
    return MeterStatus(**base)  # type: ignore[arg-type]


def found(
    result: PollResult, previous: MeterStatus | None = None, **kw: object
) -> dict[str, monitor.Condition]:
    kw.setdefault("limits", result.meter.limits)
    findings = monitor.evaluate(result, previous, clock=ClockConfig(), **kw)  # type: ignore[arg-type]
    return {c.kind: c for c in findings.conditions}


def result(values: MeterValues, *, wallet: str = "meter", **kw: object) -> PollResult:
    return PollResult(info(wallet), T0, True, values, **kw)  # type: ignore[arg-type]


def test_counter_backwards_and_used_energy() -> None:
    fell = monitor.evaluate(result(MeterValues(energy_cwh=900)), status(energy_cwh=1_000),
                            clock=ClockConfig())  # fmt: skip
    kinds = {c.kind: c for c in fell.conditions}
    assert kinds["counter_backwards"].active and kinds["counter_backwards"].value == -100
    assert fell.used_cwh == 0
    rose = monitor.evaluate(result(MeterValues(energy_cwh=1_250)), status(energy_cwh=1_000),
                            clock=ClockConfig())  # fmt: skip
    assert rose.used_cwh == 250
    assert not {c.kind: c for c in rose.conditions}["counter_backwards"].active


def test_reverse_energy_relay_tamper_and_drift() -> None:
    values = MeterValues(reverse_cwh=15, status_words={3: ids.SW3_RELAY_COMMAND_OPEN, 7: 1 << 9})
    kinds = found(
        result(values, drift_s=-75),
        status(reverse_cwh=10),
        tamper_bits=[TamperBit(7, 9, "cover_open"), TamperBit(7, 10, "terminal_cover_open")],
    )
    assert kinds["reverse_energy"].active and kinds["reverse_energy"].value == 5
    assert kinds["relay_mismatch"].active  # commanded open, still closed
    assert not kinds["relay_tripped"].active
    assert kinds["tamper"].active and kinds["tamper"].detail == "cover_open"
    assert kinds["clock_drift"].active and kinds["clock_drift"].value == -75
    quiet = found(result(MeterValues(reverse_cwh=15, status_words={3: 0}), drift_s=3),
                  status(reverse_cwh=15))  # fmt: skip
    assert not any(c.active for c in quiet.values() if c.kind != "comm_failure")


def test_no_evidence_no_condition() -> None:
    kinds = found(result(MeterValues(energy_cwh=5)), status(energy_cwh=5))
    assert "relay_tripped" not in kinds and "clock_drift" not in kinds and "tamper" not in kinds


def test_meter_wallet_balance_alarms_from_its_remaining_money() -> None:
    low = found(result(MeterValues(remaining=1_500, overdraft=0)))
    assert low["alarm1"].active and not low["alarm2"].active and not low["overdraft"].active
    lower = found(result(MeterValues(remaining=800, overdraft=0)))
    assert lower["alarm2"].active and not lower["alarm1"].active
    owing = found(result(MeterValues(remaining=0, overdraft=230)))
    assert owing["overdraft"].active and owing["overdraft"].value == -230
    gateway = found(result(MeterValues(remaining=10, overdraft=0), wallet="gateway"))
    assert "alarm1" not in gateway  # a gateway wallet's alarms come from the enforcement


def test_offline_and_corrupt_replies() -> None:
    down = PollResult(info(), T0, False, online=False, error="E120 no reply")
    kinds = found(down)
    assert kinds["comm_failure"].active and kinds["comm_failure"].detail == "E120 no reply"
    assert "checksum_error" not in kinds  # a silent meter proves nothing about checksums
    garbled = PollResult(info(), T0, False, corrupt=True, bad_frames=2, error="E123 corrupted")
    kinds = found(garbled)
    assert not kinds["comm_failure"].active  # one bad poll is not offline yet
    assert kinds["checksum_error"].active and kinds["checksum_error"].value == 2
