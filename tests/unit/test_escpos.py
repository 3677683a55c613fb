"""The receipt as ESC/POS bytes: exact bytes of a small receipt, wrapping by display width
(CJK characters are two columns, never split), the copy mark, and data that cannot carry a
printer command."""

from __future__ import annotations

import pytest

from web.escpos import (
    Command,
    Line,
    clean,
    display_width,
    lines_from_placed,
    receipt_bytes,
    wrap,
)
from web.receipts import default_template, place, sample_values

SMALL = [
    Line("售电收据", title=True),
    Line("No: 00000012"),
    Line(rule=True),
    Line("金额：50.00", bold=True),
]


def test_a_small_receipt_byte_for_byte() -> None:
    data = receipt_bytes(SMALL, paper=58, copy=False)
    assert (
        data
        == (
            b"\x1b\x40"  # ESC @
            b"\x1c\x26"  # FS &: Chinese mode
            b"\x1b\x61\x01\x1d\x21\x11\x1b\x45\x01"  # centre, double size, bold
            b"\xca\xdb\xb5\xe7\xca\xd5\xbe\xdd\x0a"  # 售电收据 LF
            b"\x1b\x45\x00\x1d\x21\x00\x1b\x61\x00"  # bold off, normal size, left
            b"No: 00000012\x0a" + b"-" * 32 + b"\x0a"
            b"\x1b\x45\x01"
            b"\xbd\xf0\xb6\xee\xa3\xba50.00\x0a"  # 金额：50.00
            b"\x1b\x45\x00"
            b"\x1c\x2e"  # FS .: leave Chinese mode
            b"\x1b\x64\x04"  # ESC d 4: feed past the cutter
            b"\x1d\x56\x01"  # GS V 1: partial cut
        )
    )


def test_the_command_table_is_what_the_bytes_are_made_of() -> None:
    data = receipt_bytes(SMALL, paper=80, copy=False, cut=False)
    assert data.startswith(Command.INIT + Command.CHINESE_ON)
    assert data.endswith(Command.CHINESE_OFF + Command.FEED)
    assert Command.CUT_PARTIAL not in data
    assert b"-" * 48 + Command.LF in data


def test_a_reprint_starts_with_the_copy_mark() -> None:
    original = receipt_bytes(SMALL, paper=58, copy=False)
    copy = receipt_bytes(SMALL, paper=58, copy=True)
    mark = (
        Command.ALIGN_CENTER
        + Command.SIZE_DOUBLE
        + Command.BOLD_ON
        + "副本 COPY".encode("gb18030")
        + Command.LF
        + Command.BOLD_OFF
        + Command.SIZE_NORMAL
        + Command.ALIGN_LEFT
    )
    assert copy == Command.INIT + Command.CHINESE_ON + mark + original[4:]
    assert "副本 COPY".encode("gb18030") == b"\xb8\xb1\xb1\xbe COPY"


def test_a_long_chinese_address_wraps_by_display_width() -> None:
    address = "地址：浙江省杭州市西湖区文三路幸福小区3栋2单元101室"
    lines = wrap(address, 32)
    assert lines == ["地址：浙江省杭州市西湖区文三路幸", "福小区3栋2单元101室"]
    assert all(display_width(line) <= 32 for line in lines)
    assert "".join(lines) == address
    data = receipt_bytes([Line(address)], paper=58, copy=False)
    assert "地址：浙江省杭州市西湖区文三路幸\n福小区3栋2单元101室\n".encode("gb18030") in data


def test_wrapping_never_splits_a_character_at_an_odd_width() -> None:
    # 31 ASCII columns then a CJK character: it does not fit in the one column left.
    text = "A" * 31 + "张三"
    assert wrap(text, 32) == ["A" * 31, "张三"]
    assert wrap("电" * 20, 32) == ["电" * 16, "电" * 4]
    # A title is double width: half the columns.
    data = receipt_bytes([Line("某某供电服务站营业厅收费处", title=True)], paper=58, copy=False)
    assert "某某供电服务站营业厅收费处".encode("gb18030") not in data
    assert "某某供电服务站营业厅收费\n处\n".encode("gb18030") not in data
    assert "某某供电服务站营业\n厅收费处\n".encode("gb18030") not in data
    assert "某某供电服务站营\n业厅收费处\n".encode("gb18030") in data


def test_latin_text_breaks_between_words() -> None:
    assert wrap("Receipt number: 00000012 Operator: cashier", 16) == [
        "Receipt number:",
        "00000012",
        "Operator:",
        "cashier",
    ]
    assert wrap("x" * 40, 16) == ["x" * 16, "x" * 16, "x" * 8]
    assert wrap("", 32) == [""]


def test_data_cannot_carry_printer_commands_or_unprintable_characters() -> None:
    assert clean("张三\x1bi\n101") == "张三 i 101"
    assert clean("𠮷野家") == "?野家"  # a four-byte GB18030 character: not in a GBK font
    data = receipt_bytes([Line("名字：\x1d\x56\x00张三")], paper=58, copy=False)
    assert data.count(b"\x1d\x56") == 1  # only the real cut


def test_the_default_template_prints_in_reading_order() -> None:
    placed = place(default_template(), sample_values(), lambda key: key.split(".")[-1])
    lines = lines_from_placed(placed)
    assert lines[0] == Line("某某供电服务站", title=True, bold=True)
    assert lines[1] == Line("售电收据", title=True, bold=True)
    assert lines[2].text == "number：00001024"
    assert lines[4].rule
    assert Line("amount：100.00", bold=True) in lines
    assert [line.text for line in lines].index("operator：operator") > lines.index(
        Line("amount：100.00", bold=True)
    )


def test_empty_fields_are_left_out() -> None:
    values = {**sample_values(), "balance": ""}
    placed = place(default_template(), values, lambda key: key)
    assert not any("balance" in line.text for line in lines_from_placed(placed))


def test_paper_widths() -> None:
    with pytest.raises(ValueError, match="two columns"):
        wrap("x", 1)
    assert receipt_bytes([Line("x" * 48)], paper=80, copy=False).count(b"x" * 48) == 1
    assert receipt_bytes([Line("x" * 48)], paper=58, copy=False).count(b"x" * 32) == 1
