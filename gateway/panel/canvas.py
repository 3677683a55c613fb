"""A 128x64 1-bit canvas laid out in text rows, with the fitting rules every screen shares.

Rows are `font.row_height` tall. A row has a left part and a right part; the right part (a value:
money, a count, a time) is never cut, the left part (a label, a name) is shortened with '…'.
"""

from __future__ import annotations

from PIL import Image, ImageDraw

from gateway.panel.fonts import PanelFont

WIDTH = 128
HEIGHT = 64
_GAP = 4
_ELLIPSIS = "…"


def fit(text: str, font: PanelFont, width: int) -> str:
    """`text`, shortened with '…' if it is wider than `width` pixels."""
    if font.width(text) <= width:
        return text
    while text and font.width(text + _ELLIPSIS) > width:
        text = text[:-1]
    return text + _ELLIPSIS if text else ""


def wrap(text: str, font: PanelFont, width: int = WIDTH) -> list[str]:
    """Break `text` into lines no wider than `width`; prefer spaces, else break anywhere (CJK)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for ch in paragraph:
            if font.width(line + ch) <= width:
                line += ch
                continue
            cut = line.rfind(" ")
            if ch != " " and cut > 0:
                lines.append(line[:cut])
                line = line[cut + 1 :] + ch
            else:
                lines.append(line)
                line = "" if ch == " " else ch
        lines.append(line)
    return lines


class Canvas:
    def __init__(self, font: PanelFont) -> None:
        self.font = font
        self.image = Image.new("1", (WIDTH, HEIGHT), 0)
        self._draw = ImageDraw.Draw(self.image)
        self._draw.fontmode = "1"

    @property
    def rows(self) -> int:
        return HEIGHT // self.font.row_height

    def row_top(self, row: int) -> int:
        return row * self.font.row_height

    def row(self, row: int, left: str, right: str = "", *, inverse: bool = False) -> None:
        """Draw one row: `left` flush left (shortened if needed), `right` flush right."""
        top = self.row_top(row)
        ink = 1
        if inverse:
            self._draw.rectangle((0, top, WIDTH - 1, top + self.font.row_height - 1), fill=1)
            ink = 0
        right = fit(right, self.font, WIDTH)
        right_w = self.font.width(right)
        room = WIDTH - right_w - (_GAP if right and left else 0)
        if self.font.width(left) > room and self.font.width(left) <= WIDTH - right_w:
            room = WIDTH - right_w  # touching beats cutting the label
        left = fit(left, self.font, room)
        y = top + self.font.y_offset
        if left:
            self._draw.text((0, y), left, font=self.font.face, fill=ink)
        if right:
            self._draw.text((WIDTH - right_w, y), right, font=self.font.face, fill=ink)

    def centre(self, row: int, text: str) -> None:
        text = fit(text, self.font, WIDTH)
        x = (WIDTH - self.font.width(text)) // 2
        self._draw.text(
            (x, self.row_top(row) + self.font.y_offset), text, font=self.font.face, fill=1
        )

    def cell(self, row: int, x: int, text: str, *, inverse: bool = False) -> int:
        """Draw `text` at pixel column `x` of a row (inverse: a block cursor); returns its width."""
        top = self.row_top(row)
        width = self.font.width(text)
        ink = 1
        if inverse:
            self._draw.rectangle((x, top, x + width - 1, top + self.font.row_height - 1), fill=1)
            ink = 0
        self._draw.text((x, top + self.font.y_offset), text, font=self.font.face, fill=ink)
        return width
