"""Builders for every request the gateway sends, and parsers for the meters' replies.

Pure functions: values in, Frame out; Frame in, values out (or a typed MeterError/SecurityError).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from gateway.dlt645 import address as addr
from gateway.dlt645 import values as v
from gateway.dlt645._fast import maker
from gateway.dlt645.dataids import (
    BY_DI,
    DataId,
    Value,
    decode_value,
    di_from_wire,
    di_to_wire,
    lookup,
)
from gateway.dlt645.errors import (
    ErrFlag,
    FrameError,
    MeterError,
    SecurityError,
    SerrFlag,
    ValueFormatError,
)
from gateway.dlt645.frame import ABNORMAL, DIRECTION, FOLLOWS, Frame, Function, make_frame

# 03H security data identifiers (2013 remote-prepaid supplement).
DI_IDENTITY_AUTH = 0x070000FF
DI_OPEN_ACCOUNT = 0x070101FF
DI_RECHARGE = 0x070102FF
DI_STATUS_QUERY = 0x078102FF

BAUD_BITS: dict[int, int] = {1200: 0x04, 2400: 0x08, 4800: 0x10, 9600: 0x20, 19200: 0x40}


class RelayAction(enum.IntEnum):
    """N1 of the 1CH command."""

    TRIP = 0x1A
    CLOSE_ALLOWED = 0x1B
    CLOSE_DIRECT = 0x1C
    ALARM_ON = 0x2A
    ALARM_OFF = 0x2B
    KEEP_POWER_ON = 0x3A
    KEEP_POWER_OFF = 0x3B


@dataclass(frozen=True, slots=True)
class Password:
    """PA (level) + P0..P2. ``code`` is 6 hex digits, most significant first ('123456')."""

    level: int = 0x02
    code: str = "000000"

    def to_wire(self) -> bytes:
        return bytes([self.level]) + bytes.fromhex(self.code.rjust(6, "0"))[::-1]

    @classmethod
    def from_wire(cls, raw: bytes) -> Password:
        return cls(raw[0], raw[1:4][::-1].hex().upper())


def operator_to_wire(operator: str) -> bytes:
    """Operator code C0..C3: 8 hex digits, most significant first ('44332211')."""
    try:
        return bytes.fromhex(operator.rjust(8, "0"))[::-1]
    except ValueError:
        raise ValueFormatError(f"operator code {operator!r} must be 8 hex digits") from None


def operator_from_wire(raw: bytes) -> str:
    return raw[:4][::-1].hex().upper()


def bcd_datetime(moment: dt.datetime) -> bytes:
    """ss mm hh DD MM YY as BCD, seconds first."""
    return v.digits_encode(moment.strftime("%y%m%d%H%M%S"), 6)


def parse_bcd_datetime(raw: bytes) -> dt.datetime:
    text = v.digits_decode(raw[:6])
    try:
        # Meter years are 20YY; strptime's %y would put 69..99 in the 1900s.
        yy, mo, dd, hh, mi, ss = (int(text[i : i + 2]) for i in range(0, 12, 2))
        return dt.datetime(2000 + yy, mo, dd, hh, mi, ss)
    except ValueError:
        raise ValueFormatError(f"not a date-time: {raw.hex(' ').upper()}") from None


# --- requests ---------------------------------------------------------------------------------


def read_data(address: str, di: int) -> Frame:
    return make_frame(addr.normalise(address), Function.READ, di_to_wire(di))


def read_follow(address: str, di: int, seq: int) -> Frame:
    return Frame(addr.normalise(address), Function.READ_FOLLOW, di_to_wire(di) + bytes([seq]))


def read_address() -> Frame:
    return Frame(addr.WILDCARD, Function.READ_ADDRESS)


def broadcast_time(moment: dt.datetime) -> Frame:
    return Frame(addr.BROADCAST, Function.BROADCAST_TIME, bcd_datetime(moment))


def write_data(
    address: str, di: int, value: bytes, password: Password, operator: str = "00000000"
) -> Frame:
    data = di_to_wire(di) + password.to_wire() + operator_to_wire(operator) + value
    return Frame(addr.normalise(address), Function.WRITE, data)


def write_address(new_address: str) -> Frame:
    return Frame(addr.WILDCARD, Function.WRITE_ADDRESS, addr.to_wire(new_address))


def freeze(address: str, minute: int = 99, hour: int = 99, day: int = 99, month: int = 99) -> Frame:
    data = bytes(int(str(x), 16) for x in (minute, hour, day, month))
    return Frame(addr.normalise(address), Function.FREEZE, data)


def change_baud(address: str, baud: int) -> Frame:
    if baud not in BAUD_BITS:
        raise ValueFormatError(f"baud {baud} not one of {sorted(BAUD_BITS)}")
    return Frame(addr.normalise(address), Function.CHANGE_BAUD, bytes([BAUD_BITS[baud]]))


def meter_clear(address: str, password: Password, operator: str = "00000000") -> Frame:
    data = password.to_wire() + operator_to_wire(operator)
    return Frame(addr.normalise(address), Function.METER_CLEAR, data)


def relay(
    address: str,
    action: RelayAction,
    valid_until: dt.datetime,
    password: Password,
    operator: str = "00000000",
) -> Frame:
    """1CH plaintext form (L=16)."""
    data = (
        password.to_wire()
        + operator_to_wire(operator)
        + bytes([action, 0x00])
        + bcd_datetime(valid_until)
    )
    return Frame(addr.normalise(address), Function.RELAY, data)


def relay_encrypted(address: str, operator: str, ciphertext: bytes, mac: bytes) -> Frame:
    """1CH level-98 form (L=28); ciphertext and MAC come from the utility's encryption machine."""
    if len(ciphertext) != 16 or len(mac) != 4:
        raise ValueFormatError("level-98 relay needs 16 bytes of ciphertext and a 4-byte MAC")
    data = Password(0x98).to_wire() + operator_to_wire(operator) + ciphertext + mac
    return Frame(addr.normalise(address), Function.RELAY, data)


def _security(address: str, di: int, operator: str, payload: bytes) -> Frame:
    data = di_to_wire(di) + operator_to_wire(operator) + payload
    return Frame(addr.normalise(address), Function.SECURITY, data)


def identity_auth(
    address: str, operator: str, ciphertext: bytes, random1: bytes, factor: bytes
) -> Frame:
    if not (len(ciphertext) == len(random1) == len(factor) == 8):
        raise ValueFormatError("identity authentication needs 8-byte ciphertext, random, factor")
    return _security(address, DI_IDENTITY_AUTH, operator, ciphertext + random1 + factor)


@dataclass(frozen=True, slots=True)
class RechargePayload:
    """The 03H open/recharge payload. Amount in fen and count are binary little-endian."""

    amount_fen: int
    purchase_count: int
    customer_number: str
    mac1: bytes = b"\x00\x00\x00\x00"
    mac2: bytes = b"\x00\x00\x00\x00"

    def to_wire(self) -> bytes:
        return (
            v.binary_encode(self.amount_fen, 4)
            + v.binary_encode(self.purchase_count, 4)
            + self.mac1
            + v.digits_encode(self.customer_number, 6)
            + self.mac2
        )

    @classmethod
    def from_wire(cls, raw: bytes) -> RechargePayload:
        if len(raw) != 22:
            raise ValueFormatError(f"recharge payload must be 22 bytes, got {len(raw)}")
        return cls(
            v.binary_decode(raw[0:4]),
            v.binary_decode(raw[4:8]),
            v.digits_decode(raw[12:18]),
            raw[8:12],
            raw[18:22],
        )


def open_account(address: str, operator: str, payload: RechargePayload) -> Frame:
    return _security(address, DI_OPEN_ACCOUNT, operator, payload.to_wire())


def recharge(address: str, operator: str, payload: RechargePayload) -> Frame:
    return _security(address, DI_RECHARGE, operator, payload.to_wire())


def status_query(address: str, operator: str) -> Frame:
    return _security(address, DI_STATUS_QUERY, operator, b"")


_DI_ECHOING = frozenset((Function.READ, Function.READ_FOLLOW, Function.SECURITY))

# --- replies ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadReply:
    address: str
    di: int
    raw: bytes
    more: bool
    seq: int | None = None

    def value(self) -> Value:
        return decode_value(BY_DI.get(self.di) or lookup(self.di), self.raw)


_make_read_reply = maker(ReadReply)


@dataclass(frozen=True, slots=True)
class WalletStatus:
    """078102FF reply: remaining money in fen (binary), purchase count, customer number."""

    remaining_fen: int
    purchase_count: int
    customer_number: str
    key_info: bytes


@dataclass(frozen=True, slots=True)
class AuthReply:
    random2: bytes
    esam_serial: bytes


def matches(request: Frame, reply: Frame) -> bool:
    """Is ``reply`` the answer to ``request``: direction, function, address (and DI for reads)?"""
    control = reply.control
    if not control & DIRECTION or control & 0x1F != request.control & 0x1F:
        return False
    if request.address != reply.address and not addr.matches(request.address, reply.address):
        return False
    if control & ABNORMAL:
        return True
    if control & 0x1F in _DI_ECHOING:
        return reply.data[:4] == request.data[:4]
    return True


def check_reply(request: Frame, reply: Frame) -> Frame:
    """Raise MeterError/SecurityError for an abnormal reply; FrameError for a mismatched one."""
    if not matches(request, reply):
        raise FrameError(f"reply does not answer the request: {reply.describe()}")
    if reply.abnormal:
        if reply.function == Function.SECURITY:
            if len(reply.data) >= 2:
                raise SecurityError(SerrFlag(v.binary_decode(reply.data[:2])))
            raise SecurityError(None, ErrFlag(reply.data[0] if reply.data else 0))
        raise MeterError(reply.function, ErrFlag(reply.data[0] if reply.data else 0))
    return reply


def parse_read(request: Frame, reply: Frame) -> ReadReply:
    control = reply.control
    if control & ABNORMAL or not matches(request, reply):
        check_reply(request, reply)  # raises the meter's error or a mismatch
    data = reply.data
    if len(data) < 4:
        raise FrameError("read reply without a data identifier", reply.to_bytes(False))
    if request.control & 0x1F == Function.READ_FOLLOW:
        return ReadReply(reply.address, di_from_wire(data), data[4:-1], reply.has_more, data[-1])
    return _make_read_reply(
        reply.address, int.from_bytes(data[:4], "little"), data[4:], bool(control & FOLLOWS), None
    )


def parse_read_address(reply: Frame) -> str:
    if reply.function != Function.READ_ADDRESS or not reply.from_meter or reply.abnormal:
        raise FrameError(f"not a read-address reply: {reply.describe()}")
    if len(reply.data) != 6:
        raise FrameError("read-address reply must carry 6 bytes")
    return addr.from_wire(reply.data)


def parse_status_query(request: Frame, reply: Frame) -> WalletStatus:
    check_reply(request, reply)
    d = reply.data[4:]
    if len(d) != 26:
        raise FrameError(f"status query reply must carry 26 bytes after the DI, got {len(d)}")
    return WalletStatus(
        v.binary_decode(d[0:4]), v.binary_decode(d[8:12]), v.digits_decode(d[16:22]), d[22:26]
    )


def parse_identity_auth(request: Frame, reply: Frame) -> AuthReply:
    check_reply(request, reply)
    d = reply.data[4:]
    if len(d) != 12:
        raise FrameError("identity authentication reply must carry 12 bytes")
    return AuthReply(d[:4], d[4:])


# --- the meter side (used by the simulator) ---------------------------------------------------


def reply_to(request: Frame, address: str, data: bytes = b"", more: bool = False) -> Frame:
    control = request.function | DIRECTION | (FOLLOWS if more else 0)
    return Frame(address, control, data)


def error_reply(request: Frame, address: str, err: ErrFlag) -> Frame:
    return Frame(address, request.function | DIRECTION | ABNORMAL, bytes([int(err)]))


def security_error_reply(
    request: Frame, address: str, serr: SerrFlag, one_byte: bool = False
) -> Frame:
    """03H abnormal reply; ``one_byte`` gives the vendor variant with a single ERR byte."""
    data = bytes([int(serr) & 0xFF]) if one_byte else v.binary_encode(int(serr), 2)
    return Frame(address, Function.SECURITY | DIRECTION | ABNORMAL, data)


def status_query_reply_data(status: WalletStatus) -> bytes:
    zeros = b"\x00" * 4
    return (
        di_to_wire(DI_STATUS_QUERY)
        + v.binary_encode(status.remaining_fen, 4)
        + zeros
        + v.binary_encode(status.purchase_count, 4)
        + zeros
        + v.digits_encode(status.customer_number, 6)
        + status.key_info
    )


def describe_dataid(d: DataId) -> str:
    return f"{d.di:08X} {d.name}"
