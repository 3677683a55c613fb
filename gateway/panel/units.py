"""Money and energy at the panel's edge: integer fen / 0.01 kWh in, text out, and keyed amounts in.

Pure integer arithmetic for display; Decimal only to parse what was typed.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from gateway.panel import errors


def _hundredths(value: int) -> str:
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 100)
    return f"{sign}{whole}.{frac:02d}"


def format_fen(fen: int) -> str:
    """12345 -> '¥123.45'; -320 -> '-¥3.20'."""
    text = _hundredths(fen)
    return f"-¥{text[1:]}" if text.startswith("-") else f"¥{text}"


def format_centi_kwh(centi: int) -> str:
    """123456 -> '1234.56kWh'."""
    return f"{_hundredths(centi)}kWh"


def parse_amount_fen(typed: str, max_fen: int) -> int:
    """Parse an amount typed on the keypad ('*' is the decimal point) into fen.

    Raises PanelError E804 for a malformed, zero or over-precise amount and E805 above `max_fen`.
    """
    text = typed.replace("*", ".")
    if not text or text.count(".") > 1 or not text.replace(".", "").isdigit():
        raise errors.bad_amount()
    if "." in text and len(text.split(".")[1]) > 2:
        raise errors.bad_amount()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise errors.bad_amount() from None
    fen = int(amount * 100)
    if fen <= 0:
        raise errors.bad_amount()
    if fen > max_fen:
        raise errors.amount_too_large(format_fen(max_fen))
    return fen
