"""The registers a virtual meter serves (11H reads) and accepts (14H writes), as tables.

Each readable DI maps to a getter on the meter's state; each writable DI to a setter. A getter
or setter answers None/False when the DI exists in DL/T 645 but not on this kind of meter
(remaining energy on a money meter, money limits on an energy meter): the meter then answers
ERR 02 "no such data", like a real meter of that type.

Values are built as the codec's types (Quantity for scaled numbers, str for digit strings, date,
time, int for status words) and encoded by ``dataids.encode_value``: the simulator never
formats a BCD byte itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

from gateway.dlt645 import Quantity, Value, encode_value, lookup
from gateway.dlt645 import dataids as ids

if TYPE_CHECKING:
    from gateway.simulator.meter import VirtualMeter

Getter = Callable[["VirtualMeter", dt.datetime], Value | None]
Setter = Callable[["VirtualMeter", Value, dt.datetime], bool]

VOLTAGE_DV = 2200  # 220.0 V, single phase
FREQUENCY_CHZ = 5000  # 50.00 Hz
POWER_FACTOR_E3 = 1000  # 1.000: a resistive household load

METER_TYPE_BITS = {"none": 0b00, "energy": 0b01, "money": 0b10}


def _kwh(cwh: int) -> Quantity:
    return Quantity(cwh, 2, "kWh")


def _yuan(fen: int) -> Quantity:
    return Quantity(fen, 2, "yuan")


def _money(m: VirtualMeter, value: int) -> Value | None:
    return _yuan(value) if m.wallet == "money" else None


def _energy(m: VirtualMeter, value: int) -> Value | None:
    return _kwh(value) if m.wallet == "energy" else None


def _prepaid(m: VirtualMeter, value: int) -> Value | None:
    """Wallet-unit values served by both prepaid kinds (fen or 0.01 kWh, shown with 2 decimals)."""
    return (
        Quantity(value, 2, "yuan" if m.wallet == "money" else "kWh") if m.wallet != "none" else None
    )


def _current_ma(m: VirtualMeter, now: dt.datetime) -> int:
    return m.power_w(now) * 1000 * 10 // VOLTAGE_DV  # I = P / U, U in 0.1 V


def _phase_a(value: Quantity) -> tuple[Quantity, Quantity, Quantity]:
    """A single-phase meter: phase A carries everything, B and C read zero."""
    zero = Quantity(0, value.decimals, value.unit)
    return (value, zero, zero)


def status_word_3(m: VirtualMeter, now: dt.datetime) -> int:
    relay = m.relay
    word = METER_TYPE_BITS[m.wallet] << ids.SW3_METER_TYPE_SHIFT
    if relay.open:
        word |= ids.SW3_RELAY_OPEN
    if relay.command_open:
        word |= ids.SW3_RELAY_COMMAND_OPEN
    if relay.remote_alarm or m.pretrip_alarm:
        word |= ids.SW3_PRETRIP_ALARM
    if relay.keep_power:
        word |= ids.SW3_KEEP_POWER
    if m.auth_valid(now):
        word |= ids.SW3_AUTH_VALID
    if m.account_opened:
        word |= ids.SW3_ACCOUNT_OPENED
    return word


def _status_words(m: VirtualMeter, now: dt.datetime) -> tuple[int, ...]:
    # Words 1, 2 and 4..7 report clock battery, phase faults, demand and event flags: none of
    # which the simulator models, so they stay 0 (a healthy meter).
    return (0, 0, status_word_3(m, now), 0, 0, 0, 0)


def _sw(index: int) -> Getter:
    return lambda m, now: _status_words(m, now)[index]


READERS: dict[int, Getter] = {
    0x00000000: lambda m, now: _kwh(m.energy_cwh + m.reverse_cwh),
    0x00010000: lambda m, now: _kwh(m.energy_cwh),
    0x00010100: lambda m, now: _kwh(m.tariff_cwh[0]),
    0x00010200: lambda m, now: _kwh(m.tariff_cwh[1]),
    0x00010300: lambda m, now: _kwh(m.tariff_cwh[2]),
    0x00010400: lambda m, now: _kwh(m.tariff_cwh[3]),
    0x0001FF00: lambda m, now: tuple(_kwh(x) for x in (m.energy_cwh, *m.tariff_cwh)),
    0x00020000: lambda m, now: _kwh(m.reverse_cwh),
    0x02010100: lambda m, now: Quantity(VOLTAGE_DV, 1, "V"),
    0x02010200: lambda m, now: Quantity(0, 1, "V"),
    0x02010300: lambda m, now: Quantity(0, 1, "V"),
    0x0201FF00: lambda m, now: _phase_a(Quantity(VOLTAGE_DV, 1, "V")),
    0x02020100: lambda m, now: Quantity(_current_ma(m, now), 3, "A"),
    0x02020200: lambda m, now: Quantity(0, 3, "A"),
    0x02020300: lambda m, now: Quantity(0, 3, "A"),
    0x0202FF00: lambda m, now: _phase_a(Quantity(_current_ma(m, now), 3, "A")),
    0x02030000: lambda m, now: Quantity(m.power_w(now) * 10, 4, "kW"),
    0x0203FF00: lambda m, now: (
        Quantity(m.power_w(now) * 10, 4, "kW"),
        Quantity(m.power_w(now) * 10, 4, "kW"),
        Quantity(0, 4, "kW"),
        Quantity(0, 4, "kW"),
    ),
    0x02060000: lambda m, now: Quantity(POWER_FACTOR_E3, 3),
    0x02800002: lambda m, now: Quantity(FREQUENCY_CHZ, 2, "Hz"),
    0x02800020: lambda m, now: Quantity(m.price_e4, 4, "yuan/kWh"),
    # No ladder configured: the ladder price is the flat price.
    0x0280000B: lambda m, now: Quantity(m.price_e4, 4, "yuan/kWh"),
    0x00900100: lambda m, now: _energy(m, m.remaining),
    0x00900101: lambda m, now: _energy(m, m.overdraft),
    0x00900200: lambda m, now: _money(m, m.remaining),
    0x00900201: lambda m, now: _money(m, m.overdraft),
    0x03330201: lambda m, now: m.purchase_count % 10_000 if m.wallet != "none" else None,
    0x03330601: lambda m, now: _prepaid(m, m.cumulative_purchased),
    0x04001001: lambda m, now: _money(m, m.alarm1),
    0x04001002: lambda m, now: _money(m, m.alarm2),
    0x04001003: lambda m, now: _money(m, m.overdraft_limit),
    0x04001004: lambda m, now: _prepaid(m, m.hoarding_limit),
    0x04001005: lambda m, now: _prepaid(m, m.close_allowed),
    0x04000F01: lambda m, now: _energy(m, m.alarm1),
    0x04000F02: lambda m, now: _energy(m, m.alarm2),
    0x04000F04: lambda m, now: _energy(m, m.overdraft_limit),
    0x04000101: lambda m, now: m.meter_time(now).date(),
    0x04000102: lambda m, now: m.meter_time(now).time().replace(microsecond=0),
    0x04000401: lambda m, now: m.address,
    0x04000402: lambda m, now: m.meter_number,
    0x0400040E: lambda m, now: m.customer_number,
    0x04000501: _sw(0),
    0x04000502: _sw(1),
    0x04000503: _sw(2),
    0x04000504: _sw(3),
    0x04000505: _sw(4),
    0x04000506: _sw(5),
    0x04000507: _sw(6),
    0x040005FF: _status_words,
    0x04000306: lambda m, now: m.ct_ratio,
    0x04000307: lambda m, now: m.pt_ratio,
}  # fmt: skip


def read_register(m: VirtualMeter, di: int, now: dt.datetime) -> bytes | None:
    """The value bytes of ``di`` (without the DI), or None when this meter has no such data."""
    getter = READERS.get(di)
    if getter is None:
        return None
    value = getter(m, now)
    if value is None:
        return None
    return encode_value(lookup(di), value)


# --- writes ----------------------------------------------------------------------------------


def _scaled(value: Value) -> int:
    if isinstance(value, Quantity):
        return value.scaled
    if isinstance(value, int):
        return value
    raise ValueError(f"not a number: {value!r}")


def _limit(attr: str, wallet: str) -> Setter:
    def setter(m: VirtualMeter, value: Value, now: dt.datetime) -> bool:
        if m.wallet == "none" or wallet not in ("any", m.wallet):
            return False
        setattr(m, attr, _scaled(value))
        return True

    return setter


def _set_customer(m: VirtualMeter, value: Value, now: dt.datetime) -> bool:
    m.customer_number = str(value)
    return True


def _set_price(m: VirtualMeter, value: Value, now: dt.datetime) -> bool:
    m.price_e4 = _scaled(value)
    return True


def _set_date(m: VirtualMeter, value: Value, now: dt.datetime) -> bool:
    if not isinstance(value, dt.date):
        raise TypeError("not a date")
    m.set_meter_time(dt.datetime.combine(value, m.meter_time(now).time()), now)
    return True


def _set_time(m: VirtualMeter, value: Value, now: dt.datetime) -> bool:
    if not isinstance(value, dt.time):
        raise TypeError("not a time")
    m.set_meter_time(dt.datetime.combine(m.meter_time(now).date(), value), now)
    return True


def _set_ratio(attr: str) -> Setter:
    def setter(m: VirtualMeter, value: Value, now: dt.datetime) -> bool:
        ratio = _scaled(value)
        if ratio < 1:
            raise ValueError("a transformer ratio is at least 1")
        setattr(m, attr, ratio)
        return True

    return setter


WRITERS: dict[int, Setter] = {
    0x04001001: _limit("alarm1", "money"),
    0x04001002: _limit("alarm2", "money"),
    0x04001003: _limit("overdraft_limit", "money"),
    0x04001004: _limit("hoarding_limit", "any"),
    0x04001005: _limit("close_allowed", "any"),
    0x04000F01: _limit("alarm1", "energy"),
    0x04000F02: _limit("alarm2", "energy"),
    0x04000F04: _limit("overdraft_limit", "energy"),
    0x0400040E: _set_customer,
    0x02800020: _set_price,
    0x04000101: _set_date,
    0x04000102: _set_time,
    0x04000306: _set_ratio("ct_ratio"),
    0x04000307: _set_ratio("pt_ratio"),
}
