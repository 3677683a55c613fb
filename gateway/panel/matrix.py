"""Decoding a scanned 4x4 matrix keypad: debounce, and no guessing when several keys are down.

Without diodes, three keys held at once can make a fourth appear ("ghosting"), so only a single
pressed key counts. A key is reported once, when it has been seen alone in `stable_scans`
consecutive scans; holding it does not repeat.
"""

from __future__ import annotations

from gateway.panel.keys import Key, matrix_key

Position = tuple[int, int]


class MatrixDecoder:
    def __init__(self, stable_scans: int) -> None:
        self._stable = max(1, stable_scans)
        self._seen: Position | None = None
        self._count = 0

    def feed(self, pressed: frozenset[Position]) -> Key | None:
        """One scan's closed contacts (row, col) -> the key to report now, if any."""
        candidate = next(iter(pressed)) if len(pressed) == 1 else None
        if candidate == self._seen:
            self._count += 1
        else:
            self._seen = candidate
            self._count = 1
        if candidate is not None and self._count == self._stable:
            return matrix_key(*candidate)
        return None
