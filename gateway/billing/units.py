"""Integer money, energy and price units, and the only places they meet text.

- money: fen (0.01 yuan)
- energy: centi-kWh (0.01 kWh), the resolution of DL/T 645 energy registers
- price: 0.0001 yuan/kWh, the resolution of DL/T 645 price registers (XXXX.XXXX)

The value of ``e`` centi-kWh at price ``p`` is ``e * p`` ten-thousandths of a fen
(0.01 kWh x 0.0001 yuan/kWh = 0.000001 yuan = 0.0001 fen); ``VALUE_PER_FEN`` converts.

Parsing never rounds: a value with more decimals than the unit holds is refused, except for
trailing zeros ("12.340" is exactly 12.34).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TypeAlias

from gateway.billing.errors import (
    AmountFormatError,
    AmountTooLargeError,
    NegativeAmountError,
    TooManyDecimalsError,
)

Fen: TypeAlias = int
CentiKwh: TypeAlias = int
Price: TypeAlias = int  # 0.0001 yuan/kWh

VALUE_PER_FEN = 10_000  # e * p (centi-kWh x price unit) per fen
METER_MAX = 99_999_999  # 999 999.99 in the meters' XXXXXX.XX registers
PRICE_MAX = 99_999_999  # 9999.9999 yuan/kWh, the XXXX.XXXX register

_NUMBER = re.compile(r"(-)?([0-9]+)(?:\.([0-9]+))?")


def _parse(
    value: str | int | Decimal, places: int, field: str, maximum: int, *, signed: bool
) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        # A float has already lost exactness; refusing it keeps floats away from money.
        raise AmountFormatError(field, f"expected text or an exact number, got {value!r}")
    text = str(value).strip() if not isinstance(value, Decimal) else format(value, "f")
    match = _NUMBER.fullmatch(text)
    if match is None:
        raise AmountFormatError(field, f"{text!r} is not a number")
    minus, whole, fraction = match.group(1), match.group(2), match.group(3) or ""
    significant = fraction.rstrip("0")
    if len(significant) > places:
        raise TooManyDecimalsError(field, f"{text!r} has more than {places} decimal places")
    scale: int = 10**places
    units = int(whole) * scale + int(significant.ljust(places, "0") or "0")
    if minus and units:
        if not signed:
            raise NegativeAmountError(field, f"{text!r} is negative")
        units = -units
    if abs(units) > maximum:
        raise AmountTooLargeError(field, f"{text!r} is above {_format(maximum, places)}")
    return units


def _format(units: int, places: int) -> str:
    sign = "-" if units < 0 else ""
    scale: int = 10**places
    whole, fraction = divmod(abs(units), scale)
    return f"{sign}{whole}.{fraction:0{places}d}"


def parse_yuan(value: str | int | Decimal, *, field: str = "amount", signed: bool = False) -> Fen:
    """``"12.34"`` → 1234 fen. Raises a BillingError (E201..E204) naming ``field``."""
    return _parse(value, 2, field, METER_MAX, signed=signed)


def format_yuan(fen: Fen) -> str:
    """1234 → ``"12.34"``; -5 → ``"-0.05"``."""
    return _format(fen, 2)


def parse_kwh(
    value: str | int | Decimal, *, field: str = "energy", signed: bool = False
) -> CentiKwh:
    """``"3.5"`` → 350 centi-kWh."""
    return _parse(value, 2, field, METER_MAX, signed=signed)


def format_kwh(centi_kwh: CentiKwh) -> str:
    return _format(centi_kwh, 2)


def parse_price(value: str | int | Decimal, *, field: str = "price") -> Price:
    """``"0.5283"`` yuan/kWh → 5283."""
    return _parse(value, 4, field, PRICE_MAX, signed=False)


def format_price(price: Price) -> str:
    return _format(price, 4)


def to_decimal_yuan(fen: Fen) -> Decimal:
    """For display and export only (Excel cells, JSON for people)."""
    return Decimal(fen).scaleb(-2)


def ceil_div(numerator: int, denominator: int) -> int:
    """Integer ceiling division for a positive denominator (no float round trip)."""
    return -(-numerator // denominator)
