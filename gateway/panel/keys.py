"""Keys as the menu sees them, and how the two keypad kinds map onto them.

Four buttons give UP, DOWN, OK, BACK. The 4x4 matrix adds digits, DELETE and STAR:

    1 2 3 A        A = up      B = down
    4 5 6 B        C = delete  D = back
    7 8 9 C        # = OK      * = decimal point in amounts
    * 0 # D
"""

from __future__ import annotations

import enum


class Key(enum.Enum):
    UP = "up"
    DOWN = "down"
    OK = "ok"
    BACK = "back"
    DELETE = "delete"
    STAR = "star"
    D0 = "0"
    D1 = "1"
    D2 = "2"
    D3 = "3"
    D4 = "4"
    D5 = "5"
    D6 = "6"
    D7 = "7"
    D8 = "8"
    D9 = "9"

    @property
    def digit(self) -> str | None:
        return self.value if self.value.isdigit() else None


MATRIX_LAYOUT: tuple[tuple[str, ...], ...] = (
    ("1", "2", "3", "A"),
    ("4", "5", "6", "B"),
    ("7", "8", "9", "C"),
    ("*", "0", "#", "D"),
)

_LEGEND_TO_KEY: dict[str, Key] = {
    "A": Key.UP,
    "B": Key.DOWN,
    "C": Key.DELETE,
    "D": Key.BACK,
    "#": Key.OK,
    "*": Key.STAR,
    **{d: Key(d) for d in "0123456789"},
}


def matrix_key(row: int, col: int) -> Key:
    """The key at a matrix position (row and column from 0, as wired)."""
    return _LEGEND_TO_KEY[MATRIX_LAYOUT[row][col]]


def key_for_legend(legend: str) -> Key:
    """The key printed `legend` on the 4x4 keypad ('5', '#', 'A' ...)."""
    return _LEGEND_TO_KEY[legend]
