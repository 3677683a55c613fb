"""Receipts: the template the designer edits (F5.3) and rendering a receipt record with it.

A template is JSON (stored by the store's ``siteinfo``; backed up to and restored from a file):
the paper (A4, A5, 58 mm or 80 mm roll), margins, and elements placed in millimetres: a field
of the receipt record, a fixed text, or a rule. :func:`parse_template` validates any JSON a user
uploads (E610 naming the problem) before anything is saved.

A receipt record (``gateway.store.receipts.Receipt``) carries ``content``, written by the
services when the sale, refund or replacement happened; the keys used here are listed in
:data:`FIELDS`. Amounts in content are integers (``*_fen``, ``*_cwh``, ``price`` in 0.0001
yuan/kWh) and are formatted only here. A reprint (F3.4) is marked "copy" (副本).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from gateway.billing.units import format_kwh, format_price, format_yuan
from gateway.store.siteinfo import Organisation
from web.errors import BAD_TEMPLATE, WebError
from web.formatting import local_time
from web.i18n import N_

TEMPLATE_VERSION = 1
Paper = Literal["A4", "A5", "roll58", "roll80"]
# Width x default height (mm). A roll's height is the template's own.
PAPERS: dict[str, tuple[int, int]] = {
    "A4": (210, 297),
    "A5": (148, 210),
    "roll58": (58, 160),
    "roll80": (80, 180),
}
MAX_ELEMENTS = 80
MAX_TEXT = 200
FONT_RANGE = (6, 48)


def _money(key: str) -> Callable[[Mapping[str, Any]], str]:
    def get(content: Mapping[str, Any]) -> str:
        value = content.get(key)
        return format_yuan(value) if isinstance(value, int) else ""

    return get


def _energy(key: str) -> Callable[[Mapping[str, Any]], str]:
    def get(content: Mapping[str, Any]) -> str:
        value = content.get(key)
        return format_kwh(value) if isinstance(value, int) else ""

    return get


def _text(key: str) -> Callable[[Mapping[str, Any]], str]:
    def get(content: Mapping[str, Any]) -> str:
        value = content.get(key)
        return "" if value is None else str(value)

    return get


def _price(content: Mapping[str, Any]) -> str:
    value = content.get("price")
    return format_price(value) if isinstance(value, int) else ""


_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_UNITS = ("", "拾", "佰", "仟")
_GROUPS = ("", "万", "亿")


def yuan_in_words(fen: int) -> str:
    """Amount in Chinese capital numerals, as printed on invoices: 123.45 → 壹佰贰拾叁元肆角伍分."""
    if fen < 0:
        return "负" + yuan_in_words(-fen)
    yuan, rest = divmod(fen, 100)
    jiao, cents = divmod(rest, 10)
    words = ""
    if yuan:
        groups: list[str] = []
        index = 0
        while yuan:
            yuan, part = divmod(yuan, 10000)
            text, zero = "", False
            for position in range(3, -1, -1):
                digit = part // 10**position % 10
                if digit:
                    if zero and text:
                        text += "零"
                    text += _DIGITS[digit] + _UNITS[position]
                    zero = False
                else:
                    zero = True
            if text:
                groups.append(text + _GROUPS[index])
            elif groups and not groups[-1].startswith("零"):
                groups.append("零")
            index += 1
        words = "".join(reversed(groups)).strip("零") + "元"
    if not jiao and not cents:
        return (words or "零元") + "整"
    if jiao:
        words += _DIGITS[jiao] + "角"
    elif words:
        words += "零"
    if cents:
        words += _DIGITS[cents] + "分"
    return words


def _words(content: Mapping[str, Any]) -> str:
    value = content.get("amount_fen")
    return yuan_in_words(value) if isinstance(value, int) else ""


@dataclass(frozen=True)
class FieldDef:
    label: str  # translation key
    get: Callable[[Mapping[str, Any]], str]
    sample: str


# Keys a template may place; "org_*" come from F5.2, "receipt_*" from the receipt record.
FIELDS: dict[str, FieldDef] = {
    "org_name": FieldDef(N_("receipt.org_name"), _text("org_name"), "某某供电服务站"),
    "org_address": FieldDef(N_("receipt.org_address"), _text("org_address"), "幸福路 88 号"),
    "org_phone": FieldDef(N_("receipt.org_phone"), _text("org_phone"), "0571-88880000"),
    "org_tax_number": FieldDef(
        N_("receipt.org_tax_number"), _text("org_tax_number"), "91330100XXXXXXXX"
    ),
    "receipt_number": FieldDef(N_("receipt.number"), _text("receipt_number"), "00001024"),
    "receipt_kind": FieldDef(N_("receipt.kind"), _text("receipt_kind"), "购电"),
    "time": FieldDef(N_("receipt.time"), _text("time"), "2025-03-01 08:30:00"),
    "customer_number": FieldDef(N_("receipt.customer_number"), _text("customer_number"), "C0001"),
    "customer_name": FieldDef(N_("receipt.customer_name"), _text("customer_name"), "张三"),
    "customer_address": FieldDef(
        N_("receipt.customer_address"), _text("customer_address"), "3 栋 2 单元 101"
    ),
    "meter_address": FieldDef(N_("receipt.meter_address"), _text("meter_address"), "000000000001"),
    "amount": FieldDef(N_("receipt.amount"), _money("amount_fen"), "100.00"),
    "amount_words": FieldDef(N_("receipt.amount_words"), _words, "壹佰元整"),
    "energy": FieldDef(N_("receipt.energy"), _energy("energy_cwh"), "189.28"),
    "price": FieldDef(N_("receipt.price"), _price, "0.5283"),
    "previous_remainder": FieldDef(
        N_("receipt.previous_remainder"), _money("previous_remainder_fen"), "0.12"
    ),
    "current_remainder": FieldDef(
        N_("receipt.current_remainder"), _money("current_remainder_fen"), "0.25"
    ),
    "balance": FieldDef(N_("receipt.balance"), _money("balance_fen"), "156.30"),
    "total_purchased": FieldDef(
        N_("receipt.total_purchased"), _money("total_purchased_fen"), "1200.00"
    ),
    "purchase_count": FieldDef(N_("receipt.purchase_count"), _text("purchase_count"), "12"),
    "compensation": FieldDef(N_("receipt.compensation"), _money("compensation_fen"), "23.50"),
    "compensation_energy": FieldDef(
        N_("receipt.compensation_energy"), _energy("compensation_cwh"), "44.48"
    ),
    "refund": FieldDef(N_("receipt.refund"), _money("refund_fen"), "56.70"),
    "channel": FieldDef(N_("receipt.channel"), _text("channel"), "通讯"),
    "operator": FieldDef(N_("receipt.operator"), _text("operator_name"), "operator"),
}


@dataclass(frozen=True)
class Element:
    kind: Literal["field", "text", "line"]
    x_mm: int
    y_mm: int
    value: str = ""  # the field key, or the fixed text
    font_pt: int = 10
    bold: bool = False
    show_label: bool = True  # a field printed as "label：value"
    width_mm: int = 0  # rules only


@dataclass(frozen=True)
class ReceiptTemplate:
    paper: Paper = "A5"
    height_mm: int = 210
    margin_mm: int = 8
    elements: tuple[Element, ...] = field(default_factory=tuple)
    version: int = TEMPLATE_VERSION

    @property
    def width_mm(self) -> int:
        return PAPERS[self.paper][0]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["elements"] = [asdict(e) for e in self.elements]
        return data


def _bad(problem: str) -> WebError:
    return WebError(BAD_TEMPLATE, problem=problem)


def _int(data: Mapping[str, Any], key: str, low: int, high: int, default: int | None = None) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(f"{key} must be a whole number {low}..{high}, got {value!r}")
    return value


def parse_element(data: Any, paper: Paper, height: int, index: int) -> Element:
    if not isinstance(data, dict):
        raise _bad(f"elements[{index}] must be an object")
    unknown = sorted(set(data) - set(Element.__dataclass_fields__))
    if unknown:
        raise _bad(f"elements[{index}]: unknown key {unknown[0]!r}")
    kind = data.get("kind")
    if kind not in ("field", "text", "line"):
        raise _bad(f"elements[{index}].kind must be field, text or line")
    width = PAPERS[paper][0]
    value = data.get("value", "")
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise _bad(f"elements[{index}].value must be text of at most {MAX_TEXT} characters")
    if kind == "field" and value not in FIELDS:
        raise _bad(f"elements[{index}]: unknown field {value!r}")
    if kind == "text" and not value.strip():
        raise _bad(f"elements[{index}]: a text element needs its text")
    bold, show_label = data.get("bold", False), data.get("show_label", True)
    if not isinstance(bold, bool) or not isinstance(show_label, bool):
        raise _bad(f"elements[{index}]: bold and show_label are true or false")
    return Element(
        kind=kind,
        x_mm=_int(data, "x_mm", 0, width - 1),
        y_mm=_int(data, "y_mm", 0, height - 1),
        value=value,
        font_pt=_int(data, "font_pt", *FONT_RANGE, default=10),
        bold=bold,
        show_label=show_label,
        width_mm=_int(data, "width_mm", 0, width, default=0),
    )


def parse_template(data: Any) -> ReceiptTemplate:
    """A template from JSON (a stored one, an uploaded backup, or the designer's form)."""
    if not isinstance(data, dict):
        raise _bad("the template must be a JSON object")
    unknown = sorted(set(data) - set(ReceiptTemplate.__dataclass_fields__))
    if unknown:
        raise _bad(f"unknown key {unknown[0]!r}")
    if data.get("version", TEMPLATE_VERSION) != TEMPLATE_VERSION:
        raise _bad(f"template version {data.get('version')!r} is not {TEMPLATE_VERSION}")
    paper = data.get("paper", "A5")
    if paper not in PAPERS:
        raise _bad(f"paper must be one of {', '.join(PAPERS)}")
    height = _int(data, "height_mm", 30, 600, default=PAPERS[paper][1])
    if paper in ("A4", "A5"):
        height = PAPERS[paper][1]
    elements = data.get("elements", [])
    if not isinstance(elements, list) or len(elements) > MAX_ELEMENTS:
        raise _bad(f"elements must be a list of at most {MAX_ELEMENTS}")
    return ReceiptTemplate(
        paper=paper,
        height_mm=height,
        margin_mm=_int(data, "margin_mm", 0, 30, default=8),
        elements=tuple(parse_element(e, paper, height, i) for i, e in enumerate(elements)),
    )


def default_template() -> ReceiptTemplate:
    def f(key: str, x: int, y: int, size: int = 10, **kw: Any) -> Element:
        return Element("field", x, y, key, size, **kw)

    return ReceiptTemplate(
        paper="A5",
        height_mm=210,
        margin_mm=8,
        elements=(
            f("org_name", 30, 10, 16, bold=True, show_label=False),
            Element("text", 52, 20, "售电收据", 14, bold=True),
            f("receipt_number", 10, 30),
            f("time", 80, 30),
            Element("line", 10, 37, "", 10, width_mm=128),
            f("customer_number", 10, 42),
            f("customer_name", 80, 42),
            f("meter_address", 10, 50),
            f("receipt_kind", 80, 50),
            f("amount", 10, 60, 12, bold=True),
            f("amount_words", 10, 68),
            f("energy", 10, 76),
            f("price", 80, 76),
            f("previous_remainder", 10, 84),
            f("current_remainder", 80, 84),
            f("balance", 10, 92),
            f("purchase_count", 80, 92),
            Element("line", 10, 100, "", 10, width_mm=128),
            f("operator", 10, 105),
            f("org_phone", 80, 105),
            f("org_address", 10, 113, 9),
        ),
    )


@dataclass(frozen=True)
class Placed:
    """One element ready for the template: position, size and the text to print."""

    kind: str
    x_mm: int
    y_mm: int
    font_pt: int
    bold: bool
    width_mm: int
    label: str
    text: str
    key: str


# Fields whose facts the services record under another name (gateway.services.records).
ALIASES = {
    "operator_name": "operator",
    "total_purchased_fen": "purchased_total_fen",
}


def values_for(
    content: Mapping[str, Any],
    *,
    organisation: Organisation,
    number: int | None,
    created_at: str | None,
    kind_label: str,
) -> dict[str, str]:
    """Every field's printed text for one receipt record."""
    known = {**content}
    for field_key, source in ALIASES.items():
        if field_key not in known and source in known:
            known[field_key] = known[source]
    merged: dict[str, Any] = {
        **known,
        # As recorded at the sale, so a reprint shows what the original showed.
        "org_name": known.get("organisation") or organisation.name,
        "org_address": known.get("organisation_address") or organisation.address,
        "org_phone": known.get("organisation_phone") or organisation.phone,
        "org_tax_number": organisation.tax_number,
        "receipt_number": f"{number:08d}" if number is not None else "",
        "receipt_kind": kind_label,
        "time": local_time(created_at) if created_at else "",
    }
    return {key: definition.get(merged) for key, definition in FIELDS.items()}


def sample_values() -> dict[str, str]:
    return {key: definition.sample for key, definition in FIELDS.items()}


def place(
    template: ReceiptTemplate, values: Mapping[str, str], label: Callable[[str], str]
) -> list[Placed]:
    """The elements with their final text (labels translated by ``label``)."""
    placed = []
    for element in template.elements:
        field_label = ""
        if element.kind == "field":
            text = values.get(element.value, "")
            if element.show_label:
                field_label = label(FIELDS[element.value].label)
        else:
            text = element.value
        placed.append(
            Placed(
                kind=element.kind,
                x_mm=element.x_mm,
                y_mm=element.y_mm,
                font_pt=element.font_pt,
                bold=element.bold,
                width_mm=element.width_mm,
                label=field_label,
                text=text,
                key=element.value,
            )
        )
    return placed
