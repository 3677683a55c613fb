"""The data identifiers the gateway knows, as a table: DI → name, format, length, scale, unit.

Adding a DI is adding a row. Decoding and encoding are generic over the row's format.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from gateway.dlt645 import values as v
from gateway.dlt645._fast import maker
from gateway.dlt645.errors import UnknownDataIdError, ValueFormatError
from gateway.dlt645.values import Quantity


class Kind(enum.Enum):
    NUMBER = "number"  # unsigned BCD, scaled
    SIGNED = "signed"  # BCD with sign bit in the top byte
    DIGITS = "digits"  # an identifier written in BCD digits (addresses, numbers)
    DATE = "date"  # YYMMDDWW
    TIME = "time"  # hhmmss
    WORD = "word"  # binary bit field (status words)


@dataclass(frozen=True, slots=True)
class DataId:
    di: int
    name: str
    label: str
    label_zh: str
    kind: Kind
    length: int  # bytes of one value
    decimals: int = 0
    unit: str = ""
    count: int = 1  # >1 for blocks (e.g. 0001FF00 = total + 4 tariffs)
    alt_lengths: tuple[int, ...] = ()  # lengths other meters use for a single value

    @property
    def size(self) -> int:
        return self.length * self.count


Value = Quantity | str | int | dt.date | dt.time | tuple["Value", ...]

_K, _S, _D, _DATE, _TIME, _W = (
    Kind.NUMBER,
    Kind.SIGNED,
    Kind.DIGITS,
    Kind.DATE,
    Kind.TIME,
    Kind.WORD,
)

TABLE: tuple[DataId, ...] = (
    DataId(0x00000000, "combined_active_total", "Combined active energy", "组合有功总电能", _K, 4, 2, "kWh"),
    DataId(0x00010000, "forward_active_total", "Forward active energy", "正向有功总电能", _K, 4, 2, "kWh"),
    DataId(0x00010100, "forward_active_t1", "Forward active, tariff 1 (sharp)", "正向有功尖电能", _K, 4, 2, "kWh"),
    DataId(0x00010200, "forward_active_t2", "Forward active, tariff 2 (peak)", "正向有功峰电能", _K, 4, 2, "kWh"),
    DataId(0x00010300, "forward_active_t3", "Forward active, tariff 3 (flat)", "正向有功平电能", _K, 4, 2, "kWh"),
    DataId(0x00010400, "forward_active_t4", "Forward active, tariff 4 (valley)", "正向有功谷电能", _K, 4, 2, "kWh"),
    DataId(0x0001FF00, "forward_active_block", "Forward active total + tariffs 1-4", "正向有功电能数据块", _K, 4, 2, "kWh", count=5),
    DataId(0x00020000, "reverse_active_total", "Reverse active energy", "反向有功总电能", _K, 4, 2, "kWh"),
    DataId(0x02010100, "voltage_a", "Phase A voltage", "A相电压", _K, 2, 1, "V"),
    DataId(0x02010200, "voltage_b", "Phase B voltage", "B相电压", _K, 2, 1, "V"),
    DataId(0x02010300, "voltage_c", "Phase C voltage", "C相电压", _K, 2, 1, "V"),
    DataId(0x0201FF00, "voltage_block", "Voltages A, B, C", "电压数据块", _K, 2, 1, "V", count=3),
    DataId(0x02020100, "current_a", "Phase A current", "A相电流", _S, 3, 3, "A"),
    DataId(0x02020200, "current_b", "Phase B current", "B相电流", _S, 3, 3, "A"),
    DataId(0x02020300, "current_c", "Phase C current", "C相电流", _S, 3, 3, "A"),
    DataId(0x0202FF00, "current_block", "Currents A, B, C", "电流数据块", _S, 3, 3, "A", count=3),
    DataId(0x02030000, "active_power_total", "Total active power", "总有功功率", _S, 3, 4, "kW"),
    DataId(0x0203FF00, "active_power_block", "Active power total, A, B, C", "有功功率数据块", _S, 3, 4, "kW", count=4),
    DataId(0x02060000, "power_factor_total", "Total power factor", "总功率因数", _S, 2, 3, ""),
    DataId(0x02800002, "frequency", "Grid frequency", "电网频率", _K, 2, 2, "Hz"),
    DataId(0x02800020, "current_price", "Current price", "当前电价", _K, 4, 4, "yuan/kWh"),
    DataId(0x0280000B, "current_ladder_price", "Current ladder price", "当前阶梯电价", _K, 4, 4, "yuan/kWh"),
    DataId(0x00900100, "remaining_energy", "Remaining energy", "剩余电量", _K, 4, 2, "kWh"),
    DataId(0x00900101, "overdraft_energy", "Overdraft energy", "透支电量", _K, 4, 2, "kWh"),
    DataId(0x00900200, "remaining_money", "Remaining money", "剩余金额", _K, 4, 2, "yuan"),
    DataId(0x00900201, "overdraft_money", "Overdraft money", "透支金额", _K, 4, 2, "yuan"),
    DataId(0x03330201, "purchase_count", "Purchase count", "购电次数", _K, 2, 0, "", alt_lengths=(4,)),
    DataId(0x03330601, "cumulative_purchased_money", "Cumulative purchased money", "累计购电金额", _K, 4, 2, "yuan"),
    DataId(0x04001001, "alarm_money_1", "Alarm amount 1", "报警金额1", _K, 4, 2, "yuan"),
    DataId(0x04001002, "alarm_money_2", "Alarm amount 2", "报警金额2", _K, 4, 2, "yuan"),
    DataId(0x04001003, "overdraft_limit", "Overdraft limit", "透支金额限值", _K, 4, 2, "yuan"),
    DataId(0x04001004, "hoarding_limit", "Hoarding limit", "囤积金额限值", _K, 4, 2, "yuan"),
    DataId(0x04001005, "close_allowed_amount", "Close-allowed amount", "合闸允许金额", _K, 4, 2, "yuan"),
    DataId(0x04000F01, "alarm_energy_1", "Alarm energy 1", "报警电量1", _K, 4, 2, "kWh"),
    DataId(0x04000F02, "alarm_energy_2", "Alarm energy 2", "报警电量2", _K, 4, 2, "kWh"),
    DataId(0x04000F04, "overdraft_energy_limit", "Overdraft energy limit", "透支电量限值", _K, 4, 2, "kWh"),
    DataId(0x04000101, "date", "Meter date", "日期及星期", _DATE, 4),
    DataId(0x04000102, "time", "Meter time", "时间", _TIME, 3),
    DataId(0x04000401, "comm_address", "Communication address", "通信地址", _D, 6),
    DataId(0x04000402, "meter_number", "Meter number", "表号", _D, 6),
    DataId(0x0400040E, "customer_number", "Customer number", "客户编号", _D, 6),
    DataId(0x04000501, "status_word_1", "Status word 1", "电表运行状态字1", _W, 2),
    DataId(0x04000502, "status_word_2", "Status word 2", "电表运行状态字2", _W, 2),
    DataId(0x04000503, "status_word_3", "Status word 3", "电表运行状态字3", _W, 2),
    DataId(0x04000504, "status_word_4", "Status word 4", "电表运行状态字4", _W, 2),
    DataId(0x04000505, "status_word_5", "Status word 5", "电表运行状态字5", _W, 2),
    DataId(0x04000506, "status_word_6", "Status word 6", "电表运行状态字6", _W, 2),
    DataId(0x04000507, "status_word_7", "Status word 7", "电表运行状态字7", _W, 2),
    DataId(0x040005FF, "status_block", "Status words 1-7", "电表运行状态字数据块", _W, 2, count=7),
    DataId(0x04000306, "ct_ratio", "CT ratio", "电流互感器变比", _K, 3),
    DataId(0x04000307, "pt_ratio", "PT ratio", "电压互感器变比", _K, 3),
)  # fmt: skip

_make_quantity = maker(Quantity)

BY_DI: dict[int, DataId] = {d.di: d for d in TABLE}
BY_NAME: dict[str, DataId] = {d.name: d for d in TABLE}
# Single scaled numbers with a unit (energies, money, prices): the bulk of all reads.
_PLAIN_QUANTITIES = frozenset(
    d.di for d in TABLE if d.kind is Kind.NUMBER and d.unit and d.count == 1
)

# Status word 3 bits (04000503).
SW3_RELAY_OPEN = 1 << 4
SW3_RELAY_COMMAND_OPEN = 1 << 6
SW3_PRETRIP_ALARM = 1 << 7
SW3_METER_TYPE_SHIFT = 8
SW3_KEEP_POWER = 1 << 12
SW3_AUTH_VALID = 1 << 13
SW3_ACCOUNT_OPENED = 1 << 15


def lookup(key: int | str) -> DataId:
    """A DI by number (0x04000402), hex text ('04000402') or name ('meter_number')."""
    if isinstance(key, int):
        found = BY_DI.get(key)
    else:
        found = BY_NAME.get(key)
        if found is None:
            try:
                found = BY_DI.get(int(key, 16))
            except ValueError:
                found = None
    if found is None:
        shown = f"{key:08X}" if isinstance(key, int) else key
        raise UnknownDataIdError(f"unknown data identifier {shown}")
    return found


def di_to_wire(di: int) -> bytes:
    return di.to_bytes(4, "little")


def di_from_wire(raw: bytes) -> int:
    return int.from_bytes(raw[:4], "little")


def _decode_one(d: DataId, raw: bytes) -> Value:
    kind = d.kind
    if kind is Kind.NUMBER and d.unit:
        return _make_quantity(v.bcd_decode(raw), d.decimals, d.unit)
    if kind is Kind.NUMBER:
        return (
            Quantity(v.bcd_decode(raw), d.decimals, d.unit)
            if d.decimals or d.unit
            else v.bcd_decode(raw)
        )
    if kind is Kind.SIGNED:
        return Quantity(v.signed_bcd_decode(raw), d.decimals, d.unit)
    if kind is Kind.DIGITS:
        return v.digits_decode(raw)
    if kind is Kind.WORD:
        return v.binary_decode(raw)
    if kind is Kind.DATE:
        yymmdd = v.digits_decode(raw[1:])
        try:
            return dt.date(2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:6]))
        except ValueError:
            raise ValueFormatError(f"not a date: {raw.hex(' ').upper()}") from None
    hhmmss = v.digits_decode(raw)
    try:
        return dt.time(int(hhmmss[:2]), int(hhmmss[2:4]), int(hhmmss[4:6]))
    except ValueError:
        raise ValueFormatError(f"not a time: {raw.hex(' ').upper()}") from None


def decode_value(d: DataId, raw: bytes) -> Value:
    """Decode a value field (DATA after the DI, +33 already removed)."""
    if d.di in _PLAIN_QUANTITIES and len(raw) == d.length:
        # The common case (energies, money) without the generic dispatch.
        return _make_quantity(v.bcd_decode(raw), d.decimals, d.unit)
    if d.count == 1:
        if len(raw) != d.length and len(raw) not in d.alt_lengths:
            raise ValueFormatError(f"{d.name}: expected {d.length} bytes, got {len(raw)}")
        return _decode_one(d, raw)
    if len(raw) != d.size:
        raise ValueFormatError(f"{d.name}: expected {d.size} bytes, got {len(raw)}")
    n = d.length
    return tuple(_decode_one(d, raw[i : i + n]) for i in range(0, d.size, n))


def _scaled(d: DataId, value: object) -> int:
    if isinstance(value, Quantity):
        if value.decimals == d.decimals:
            return value.scaled
        value = value.as_decimal()
    if isinstance(value, bool):
        raise ValueFormatError(f"{d.name}: not a number: {value!r}")
    if isinstance(value, int):
        return value if not d.decimals else value * 10**d.decimals
    if isinstance(value, str | Decimal):
        try:
            exact = Decimal(value).scaleb(d.decimals)
        except InvalidOperation:
            raise ValueFormatError(f"{d.name}: not a number: {value!r}") from None
        if exact != exact.to_integral_value():
            raise ValueFormatError(f"{d.name}: {value} has more than {d.decimals} decimals")
        return int(exact)
    raise ValueFormatError(f"{d.name}: cannot encode {value!r}")


def _encode_one(d: DataId, value: object) -> bytes:
    kind = d.kind
    if kind is Kind.NUMBER:
        return v.bcd_encode(_scaled(d, value), d.length)
    if kind is Kind.SIGNED:
        return v.signed_bcd_encode(_scaled(d, value), d.length)
    if kind is Kind.DIGITS:
        if not isinstance(value, str):
            raise ValueFormatError(f"{d.name}: expected a digit string, got {value!r}")
        return v.digits_encode(value, d.length)
    if kind is Kind.WORD:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueFormatError(f"{d.name}: expected an integer bit field, got {value!r}")
        return v.binary_encode(value, d.length)
    if kind is Kind.DATE:
        if not isinstance(value, dt.date):
            raise ValueFormatError(f"{d.name}: expected a date, got {value!r}")
        weekday = value.isoweekday() % 7
        return bytes([weekday]) + v.digits_encode(value.strftime("%y%m%d"), 3)
    if not isinstance(value, dt.time):
        raise ValueFormatError(f"{d.name}: expected a time, got {value!r}")
    return v.digits_encode(value.strftime("%H%M%S"), 3)


def encode_value(d: DataId, value: object) -> bytes:
    if d.count == 1:
        return _encode_one(d, value)
    if not isinstance(value, tuple | list) or len(value) != d.count:
        raise ValueFormatError(f"{d.name}: expected {d.count} values")
    return b"".join(_encode_one(d, item) for item in value)


def format_value(value: Value) -> str:
    """Human/JSON text for a value: decimals exact, dates ISO, words in hex."""
    if isinstance(value, tuple):
        return " ".join(format_value(x) for x in value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)
