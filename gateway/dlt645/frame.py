"""A DL/T 645-2007 frame as an immutable value, with exact encode and decode.

`68 A0..A5 68 C L DATA CS 16`, DATA sent +33H. The values here hold DATA *without* the +33H.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import lru_cache

from gateway.dlt645 import address as addr
from gateway.dlt645._fast import maker
from gateway.dlt645.errors import ChecksumError, EndByteError, FrameError, TruncatedFrameError

PREAMBLE = b"\xfe\xfe\xfe\xfe"
_PLUS33 = bytes((i + 0x33) & 0xFF for i in range(256))
_MINUS33 = bytes((i - 0x33) & 0xFF for i in range(256))


class Function(enum.IntEnum):
    SECURITY = 0x03
    BROADCAST_TIME = 0x08
    READ = 0x11
    READ_FOLLOW = 0x12
    READ_ADDRESS = 0x13
    WRITE = 0x14
    WRITE_ADDRESS = 0x15
    FREEZE = 0x16
    CHANGE_BAUD = 0x17
    CHANGE_PASSWORD = 0x18
    DEMAND_CLEAR = 0x19
    METER_CLEAR = 0x1A
    EVENT_CLEAR = 0x1B
    RELAY = 0x1C


DIRECTION = 0x80
ABNORMAL = 0x40
FOLLOWS = 0x20


def plus33(data: bytes) -> bytes:
    return data.translate(_PLUS33)


def minus33(data: bytes) -> bytes:
    return data.translate(_MINUS33)


@lru_cache(maxsize=65536)
def _header(address: str) -> tuple[bytes, int]:
    """68 A0..A5 68 for an address, with its byte sum (the checksum's constant part)."""
    header = b"\x68" + addr.to_wire(address) + b"\x68"
    return header, sum(header)


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame. ``address`` is 12 characters (digits, A for wildcard nibbles)."""

    address: str
    control: int
    data: bytes = b""

    @property
    def function(self) -> int:
        return self.control & 0x1F

    @property
    def from_meter(self) -> bool:
        return bool(self.control & DIRECTION)

    @property
    def abnormal(self) -> bool:
        return bool(self.control & ABNORMAL)

    @property
    def has_more(self) -> bool:
        return bool(self.control & FOLLOWS)

    def to_bytes(self, preamble: bool = True) -> bytes:
        data = self.data
        length = len(data)
        if length > 255:
            raise FrameError(f"DATA of {length} bytes exceeds 255")
        header, header_sum = _header(self.address)
        wire = data.translate(_PLUS33)
        control = self.control
        tail = bytes(
            (control, length, *wire, (header_sum + control + length + sum(wire)) & 0xFF, 0x16)
        )
        return (PREAMBLE + header + tail) if preamble else (header + tail)

    @classmethod
    def from_bytes(cls, raw: bytes) -> Frame:
        """Decode exactly one frame (leading FE bytes allowed); raise FrameError otherwise."""
        n = len(raw)
        start = n - len(raw.lstrip(b"\xfe"))
        if n - start < 12:
            raise TruncatedFrameError("frame shorter than 12 bytes", raw)
        if raw[start] != 0x68 or raw[start + 7] != 0x68:
            raise FrameError("no 68 ... 68 frame header", raw)
        length = raw[start + 9]
        end = start + 10 + length
        if n < end + 2:
            raise TruncatedFrameError(f"frame announces {length} data bytes but is cut short", raw)
        if n > end + 2:
            raise FrameError(f"{n - end - 2} bytes after the end of the frame", raw)
        return cls._decode_at(raw, start, length)

    @classmethod
    def _decode_at(cls, raw: bytes | bytearray, start: int, length: int) -> Frame:
        end = start + 10 + length
        checksum = sum(raw[start:end]) & 0xFF
        if raw[end] != checksum:
            raise ChecksumError(
                f"checksum {raw[end]:02X} should be {checksum:02X}", bytes(raw[start : end + 2])
            )
        if raw[end + 1] != 0x16:
            raise EndByteError(
                f"end byte {raw[end + 1]:02X} is not 16", bytes(raw[start : end + 2])
            )
        return _make_frame(
            addr.from_wire(bytes(raw[start + 1 : start + 7])),
            raw[start + 8],
            bytes(raw[start + 10 : end]).translate(_MINUS33),
        )

    def describe(self) -> str:
        """One line for traces and logs."""
        try:
            fn = Function(self.function).name
        except ValueError:
            fn = f"{self.function:02X}H"
        flags = ("reply" if self.from_meter else "request") + (" abnormal" if self.abnormal else "")
        return f"{self.address} {fn} {flags} C={self.control:02X} data={self.data.hex(' ').upper()}"


# Hot-path constructor (validated callers only): see _fast.py.
_make_frame = maker(Frame)


def make_frame(address: str, control: int, data: bytes) -> Frame:
    """Build a Frame from an already-normalised address (codec-internal fast path)."""
    return _make_frame(address, control, data)
