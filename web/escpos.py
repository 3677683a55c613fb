"""A receipt as ESC/POS bytes for a thermal receipt printer (sans-IO: no sockets, no files).

The input is what the HTML receipt shows: the template's elements with their final texts
(:func:`web.receipts.place`). They are printed one per line, top to bottom and left to right as
placed on the paper (a roll printer has no x/y positions): an element in a large font (14 pt
and up) is the title, printed double size, bold and centred; a rule is a line of dashes; a
field is ``label：value``. A reprint starts with the copy mark ``副本 COPY``.

Chinese text is encoded GB18030 and printed in the printer's Chinese character mode (``FS &``,
left again with ``FS .`` before the cut), which is what the 58/80 mm printers sold in China
(Xprinter, GPrinter, HPRT, Sunmi, Epson's TM-T82 Chinese models...) do out of the box. In that
mode an ASCII byte is one column and a two-byte GB character is two columns, so lines are
wrapped by that display width (58 mm: 32 columns, 80 mm: 48) without ever splitting a
character. Characters outside GBK (GB18030's four-byte ones: rare name characters, emoji) are
not in such printers' fonts and would be printed as two garbage characters: they become ``?``.
Control characters in the data (a newline in an address, an ESC) become spaces, so a
customer's data can never carry a printer command.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from web.receipts import Placed

Paper = Literal[58, 80]

# Columns of the standard font (12x24 dots) per paper width; a CJK character takes two.
COLUMNS: Final[dict[int, int]] = {58: 32, 80: 48}
# Elements set in this many points or more are titles (double width and height).
TITLE_POINTS: Final = 14
COPY_MARK: Final = "副本 COPY"
FEED_BEFORE_CUT: Final = 4  # lines, so the last text clears the cutter
ENCODING: Final = "gb18030"


class Command(bytes, enum.Enum):
    """The ESC/POS commands used, as complete byte strings (Epson ESC/POS, Chinese models)."""

    INIT = b"\x1b\x40"  # ESC @: reset modes to the printer's defaults
    CHINESE_ON = b"\x1c\x26"  # FS &: two-byte (GB) character mode
    CHINESE_OFF = b"\x1c\x2e"  # FS .: back to one-byte characters
    ALIGN_LEFT = b"\x1b\x61\x00"  # ESC a 0
    ALIGN_CENTER = b"\x1b\x61\x01"  # ESC a 1
    BOLD_ON = b"\x1b\x45\x01"  # ESC E 1
    BOLD_OFF = b"\x1b\x45\x00"  # ESC E 0
    SIZE_NORMAL = b"\x1d\x21\x00"  # GS ! 0x00
    SIZE_DOUBLE = b"\x1d\x21\x11"  # GS ! 0x11: double width and double height
    LF = b"\x0a"  # print the line and feed one
    FEED = b"\x1b\x64" + bytes((FEED_BEFORE_CUT,))  # ESC d n: print and feed n lines
    CUT_PARTIAL = b"\x1d\x56\x01"  # GS V 1: partial cut (one point left uncut)


@dataclass(frozen=True)
class Line:
    """One printed element: text (wrapped when printed) or a rule."""

    text: str = ""
    title: bool = False
    bold: bool = False
    rule: bool = False


def _printable(char: str) -> str:
    """The character as the printer gets it: controls become spaces, non-GBK ones ``?``."""
    if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
        return " "
    if ord(char) < 0x80:
        return char
    return char if len(char.encode(ENCODING)) == 2 else "?"


def clean(text: str) -> str:
    """``text`` with only characters a Chinese-mode printer prints (see the module notes)."""
    return "".join(_printable(c) for c in text)


def char_width(char: str) -> int:
    """Columns one (cleaned) character takes: 1 for ASCII, 2 for a two-byte GB character."""
    return 1 if ord(char) < 0x80 else 2


def display_width(text: str) -> int:
    return sum(char_width(c) for c in clean(text))


def wrap(text: str, columns: int) -> list[str]:
    """``text`` cut into lines of at most ``columns`` display columns.

    Breaks after a space when a Latin word would not fit (the space is dropped), anywhere
    between two CJK characters, and inside a word only when the word alone is too wide. A
    character is never split; an empty text is one empty line.
    """
    if columns < 2:
        raise ValueError("a line needs at least two columns (one CJK character)")
    text = clean(text).strip()
    lines: list[str] = []
    line = ""
    width = 0
    for token in _tokens(text):
        token_width = sum(char_width(c) for c in token)
        if token == " ":
            if width and width + 1 <= columns:
                line, width = line + " ", width + 1
            continue
        if width + token_width > columns and line.strip():
            lines.append(line.rstrip())
            line, width = "", 0
        for char in token:
            w = char_width(char)
            if width + w > columns:
                lines.append(line.rstrip())
                line, width = "", 0
            line, width = line + char, width + w
    if line.strip() or not lines:
        lines.append(line.rstrip())
    return lines


def _tokens(text: str) -> Iterable[str]:
    """Latin words (runs of printable ASCII), single spaces and single CJK characters."""
    word = ""
    for char in text:
        if char == " " or ord(char) >= 0x80:
            if word:
                yield word
                word = ""
            yield char
        else:
            word += char
    if word:
        yield word


def encode(text: str) -> bytes:
    return clean(text).encode(ENCODING)


def receipt_bytes(
    lines: Sequence[Line],
    *,
    paper: Paper,
    copy: bool,
    cut: bool = True,
    copy_mark: str = COPY_MARK,
) -> bytes:
    """The whole print job: init, Chinese mode, the lines, leave Chinese mode, feed, cut."""
    columns = COLUMNS[paper]
    out = bytearray(Command.INIT + Command.CHINESE_ON)
    if copy:
        out += _block(Line(copy_mark, title=True, bold=True), columns)
    for line in lines:
        out += _block(line, columns)
    out += Command.CHINESE_OFF + Command.FEED
    if cut:
        out += Command.CUT_PARTIAL
    return bytes(out)


def _block(line: Line, columns: int) -> bytes:
    """One element: its modes, its wrapped text, and the modes back to normal."""
    if line.rule:
        return encode("-" * columns) + Command.LF
    out = bytearray()
    if line.title:
        out += Command.ALIGN_CENTER + Command.SIZE_DOUBLE
    if line.bold or line.title:
        out += Command.BOLD_ON
    for part in wrap(line.text, columns // 2 if line.title else columns):
        out += encode(part) + Command.LF
    if line.bold or line.title:
        out += Command.BOLD_OFF
    if line.title:
        out += Command.SIZE_NORMAL + Command.ALIGN_LEFT
    return bytes(out)


def lines_from_placed(placed: Iterable[Placed]) -> list[Line]:
    """The template's elements as printed lines, in reading order (top to bottom, then left to
    right; a roll has one column). A field with nothing to show (no balance on an energy
    meter's receipt) is left out rather than printed as a bare label."""
    ordered = sorted(placed, key=lambda p: (p.y_mm, p.x_mm))
    lines = []
    for element in ordered:
        if element.kind == "line":
            lines.append(Line(rule=True))
            continue
        if element.kind == "field" and not element.text.strip():
            continue
        text = f"{element.label}：{element.text}" if element.label else element.text
        lines.append(Line(text, title=element.font_pt >= TITLE_POINTS, bold=element.bold))
    return lines
