"""Exact arithmetic for energy registers and money deduction. Integers only, no float.

Energy accrues in watt-microseconds until a whole register step (0.01 kWh, a "tick") is
complete, like a meter's pulse counter. Money meters deduct price × ticks: one tick at a price in
0.0001 yuan/kWh costs price × 10**-6 yuan = price × 10**-4 fen, so the sub-fen part is carried in
units of 10**-4 fen and nothing is ever rounded away.
"""

from __future__ import annotations

TICK_WUS = 36_000_000_000  # 0.01 kWh = 10 Wh = 36,000 Ws, in watt-microseconds
SUBFEN_PER_FEN = 10_000  # price (0.0001 yuan/kWh) × ticks (0.01 kWh) is in 10**-4 fen
REGISTER_WRAP = 100_000_000  # XXXXXX.XX registers roll over after 999999.99
MAX_BALANCE = 99_999_999  # the largest value a 4-byte BCD register can show


def accrue(power_w: int, duration_us: int, carry_wus: int) -> tuple[int, int]:
    """(whole ticks, new carry) after drawing ``power_w`` for ``duration_us``."""
    total = carry_wus + power_w * duration_us
    return divmod(total, TICK_WUS)


def duration_for_ticks(ticks: int, power_w: int, carry_wus: int) -> int:
    """Microseconds of drawing ``power_w`` needed until ``ticks`` whole ticks are complete."""
    need = ticks * TICK_WUS - carry_wus
    if need <= 0:
        return 0
    return -(-need // power_w)


def cost(ticks: int, price_e4: int, carry_subfen: int) -> tuple[int, int]:
    """(whole fen to deduct, new sub-fen carry) for ``ticks`` at ``price_e4``."""
    return divmod(carry_subfen + ticks * price_e4, SUBFEN_PER_FEN)


def ticks_for_cost(fen: int, price_e4: int, carry_subfen: int) -> int | None:
    """The fewest ticks after which at least ``fen`` whole fen have been deducted.

    None when the price is zero (money never runs out).
    """
    need = fen * SUBFEN_PER_FEN - carry_subfen
    if need <= 0:
        return 0
    if price_e4 <= 0:
        return None
    return -(-need // price_e4)
