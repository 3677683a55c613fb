"""Value codecs: BCD (low byte first), signed BCD, binary little-endian; exact quantities."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gateway.dlt645.errors import ValueFormatError

_HEX_DIGITS = frozenset("0123456789")


@dataclass(frozen=True, slots=True)
class Quantity:
    """An exact decimal reading: ``scaled`` units of 10**-decimals ``unit``.

    123456.78 kWh is Quantity(12345678, 2, "kWh"). No float is ever involved.
    """

    scaled: int
    decimals: int
    unit: str = ""

    def as_decimal(self) -> Decimal:
        return Decimal(self.scaled).scaleb(-self.decimals)

    def __str__(self) -> str:
        if self.decimals == 0:
            return str(self.scaled)
        sign = "-" if self.scaled < 0 else ""
        digits = str(abs(self.scaled)).rjust(self.decimals + 1, "0")
        return f"{sign}{digits[: -self.decimals]}.{digits[-self.decimals :]}"


def bcd_decode(data: bytes) -> int:
    """Unsigned BCD, low byte first."""
    if not data:
        return 0
    try:
        # hex() yields only 0-9a-f, so int() rejects exactly the non-BCD nibbles.
        return int(data[::-1].hex())
    except ValueError:
        raise ValueFormatError(f"not BCD: {data.hex(' ').upper()}") from None


def bcd_encode(value: int, length: int) -> bytes:
    if value < 0:
        raise ValueFormatError(f"negative value {value} in unsigned BCD field")
    text = str(value)
    if len(text) > length * 2:
        raise ValueFormatError(f"value {value} does not fit {length} BCD bytes")
    return bytes.fromhex(text.rjust(length * 2, "0"))[::-1]


def signed_bcd_decode(data: bytes) -> int:
    """BCD with the sign in the top bit of the most significant (last) byte."""
    if not data:
        return 0
    top = data[-1]
    negative = bool(top & 0x80)
    magnitude = bcd_decode(data[:-1] + bytes([top & 0x7F]))
    return -magnitude if negative else magnitude


def signed_bcd_encode(value: int, length: int) -> bytes:
    raw = bytearray(bcd_encode(abs(value), length))
    if raw[-1] & 0x80:
        raise ValueFormatError(f"value {value} does not fit {length} signed BCD bytes")
    if value < 0:
        raw[-1] |= 0x80
    return bytes(raw)


def digits_decode(data: bytes) -> str:
    """A BCD identifier (address, meter or customer number) as its digit string."""
    text = data[::-1].hex().upper()
    if not _HEX_DIGITS.issuperset(text):
        raise ValueFormatError(f"not BCD digits: {data.hex(' ').upper()}")
    return text


def digits_encode(text: str, length: int) -> bytes:
    if len(text) > length * 2 or not _HEX_DIGITS.issuperset(text):
        raise ValueFormatError(f"{text!r} is not up to {length * 2} decimal digits")
    return bytes.fromhex(text.rjust(length * 2, "0"))[::-1]


def binary_decode(data: bytes) -> int:
    return int.from_bytes(data, "little")


def binary_encode(value: int, length: int) -> bytes:
    try:
        return value.to_bytes(length, "little")
    except OverflowError:
        raise ValueFormatError(f"value {value} does not fit {length} binary bytes") from None
