"""Text at the edges becomes exact integers, or a coded error; nothing is ever rounded."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.billing import (
    AmountFormatError,
    AmountTooLargeError,
    BillingError,
    NegativeAmountError,
    TooManyDecimalsError,
    format_kwh,
    format_price,
    format_yuan,
    parse_kwh,
    parse_price,
    parse_yuan,
)


@pytest.mark.parametrize(
    ("text", "fen"),
    [("12.34", 1234), ("12", 1200), ("0.5", 50), (" 7.00 ", 700), ("12.340", 1234), ("0", 0)],
)
def test_parse_yuan(text: str, fen: int) -> None:
    assert parse_yuan(text) == fen


def test_parse_accepts_exact_numbers_but_not_floats() -> None:
    assert parse_yuan(Decimal("3.10")) == 310
    assert parse_yuan(5) == 500
    with pytest.raises(AmountFormatError) as info:
        parse_yuan(0.1)  # type: ignore[arg-type]
    assert info.value.code == "E201"


@pytest.mark.parametrize(
    ("text", "error", "code"),
    [
        ("12.345", TooManyDecimalsError, "E202"),
        ("-1.00", NegativeAmountError, "E203"),
        ("abc", AmountFormatError, "E201"),
        ("1,000", AmountFormatError, "E201"),
        ("1e3", AmountFormatError, "E201"),
        ("", AmountFormatError, "E201"),
        ("12.34元", AmountFormatError, "E201"),
        ("1000000.00", AmountTooLargeError, "E204"),
    ],
)
def test_parse_yuan_refuses(text: str, error: type[BillingError], code: str) -> None:
    with pytest.raises(error) as info:
        parse_yuan(text, field="purchase_amount")
    assert info.value.code == code
    assert info.value.field == "purchase_amount"
    assert info.value.remedy_zh
    assert info.value.remedy_en
    assert code in str(info.value)


def test_signed_amounts_for_adjustments() -> None:
    assert parse_yuan("-0.05", signed=True) == -5
    assert format_yuan(-5) == "-0.05"


def test_energy_and_price_units() -> None:
    assert parse_kwh("3.5") == 350
    assert format_kwh(350) == "3.50"
    assert parse_price("0.5283") == 5283
    assert format_price(5283) == "0.5283"
    with pytest.raises(TooManyDecimalsError):
        parse_price("0.52831")
    with pytest.raises(TooManyDecimalsError):
        parse_kwh("1.001")


def test_format_round_trips() -> None:
    for fen in (0, 1, 99, 100, 123456, 99_999_999):
        assert parse_yuan(format_yuan(fen)) == fen
    assert format_yuan(1234) == "12.34"
