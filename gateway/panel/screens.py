"""Screens as pure functions: (state, view, font) -> 128x64 1-bit image. No I/O, no clock.

Row 0 is an inverse title bar on every screen; content rows follow (3 with Unifont, 4 with the
12 px font). Values that must never be cut (money, counts, times) go in a row's right part.
"""

from __future__ import annotations

from datetime import datetime

from PIL import Image

from gateway.panel.backend import MeterInfo
from gateway.panel.canvas import WIDTH, Canvas, wrap
from gateway.panel.config import Language
from gateway.panel.errors import Message
from gateway.panel.fonts import PanelFont
from gateway.panel.state import PanelState
from gateway.panel.strings import tr
from gateway.panel.units import format_centi_kwh, format_fen
from gateway.panel.views import (
    AlarmsView,
    BusyView,
    ConfirmTopUpView,
    EntryView,
    MenuView,
    MessageView,
    MeterView,
    NetworkView,
    StatusView,
    View,
)

Row = tuple[str, str]


def _hhmm(at: datetime | None) -> str:
    return at.strftime("%H:%M") if at is not None else "--:--"


def _when(at: datetime, now: datetime | None) -> str:
    """Time of day for today, month-day for older events (a sale from last week is not 'today')."""
    if now is None or at.date() == now.date():
        return at.strftime("%H:%M")
    return at.strftime("%m-%d")


def content_rows(font: PanelFont) -> int:
    """How many rows a screen has below its title bar."""
    return Canvas(font).rows - 1


def _window(first: int, total: int, visible: int) -> int:
    return max(0, min(first, total - visible))


def status_rows(state: PanelState) -> list[Row]:
    lang = state.language
    unacked = "!" if state.unacknowledged_ids() else ""
    rows: list[Row] = [
        (
            f"{tr('meters', lang)} {state.meters_online}/{state.meters_total}",
            f"{tr('alarms_short', lang)} {len(state.alarms)}{unacked}",
        ),
        (
            tr("cloud." + state.cloud.value, lang),
            f"{tr('outbox', lang)} {state.outbox_depth}",
        ),
    ]
    sale = state.last_sale
    if sale is None:
        rows.append((tr("sale", lang), tr("none", lang)))
    else:
        rows.append(
            (tr("sale", lang), f"{format_fen(sale.amount_fen)} {_when(sale.at, state.now)}")
        )
    if state.ip_addresses:
        rows.append(("IP", state.ip_addresses[0].address))
    return rows


def render_status(state: PanelState, font: PanelFont) -> Image.Image:
    c = Canvas(font)
    c.row(0, state.site_name, _hhmm(state.now), inverse=True)
    for i, (left, right) in enumerate(status_rows(state)[: c.rows - 1], start=1):
        c.row(i, left, right)
    return c.image


def render_alarms(state: PanelState, view: AlarmsView, font: PanelFont) -> Image.Image:
    c = Canvas(font)
    lang = state.language
    alarms = state.alarms
    if not alarms:
        c.row(0, tr("alarms", lang), inverse=True)
        c.centre(c.rows // 2, tr("no_alarms", lang))
        return c.image
    selected = max(0, min(view.selected, len(alarms) - 1))
    visible = c.rows - 1
    first = _window(selected - visible + 1, len(alarms), visible)
    c.row(
        0,
        f"{tr('alarms', lang)} {selected + 1}/{len(alarms)}",
        _when(alarms[selected].raised_at, state.now),
        inverse=True,
    )
    for i, alarm in enumerate(alarms[first : first + visible], start=1):
        mark = " " if alarm.acknowledged else "!"
        text = f"{mark}{alarm.meter_no[-4:]} {alarm.summary(lang)}"
        c.row(i, text, inverse=(first + i - 1 == selected))
    return c.image


def network_rows(state: PanelState, font: PanelFont) -> list[Row]:
    lang = state.language
    rows: list[Row] = []
    for iface in state.ip_addresses:
        if font.width(f"{iface.name} {iface.address}") <= WIDTH:
            rows.append((iface.name, iface.address))
        else:
            rows += [(iface.name, ""), ("", iface.address)]
    if not rows:
        rows.append((tr("no_ip", lang), ""))
    rows.append(("MQTT", tr("mqtt." + state.mqtt.state.value, lang)))
    # Broker addresses and errors are long: wrap them rather than cut them.
    for text in (state.mqtt.broker, state.mqtt.detail):
        if text:
            rows += [(line, "") for line in wrap(text, font)]
    return rows


def render_network(state: PanelState, view: NetworkView, font: PanelFont) -> Image.Image:
    c = Canvas(font)
    rows = network_rows(state, font)
    visible = c.rows - 1
    first = _window(view.first, len(rows), visible)
    more = f"{first + 1}/{len(rows)}" if len(rows) > visible else ""
    c.row(0, tr("network", state.language), more, inverse=True)
    for i, (left, right) in enumerate(rows[first : first + visible], start=1):
        c.row(i, left, right)
    return c.image


def render_menu(state: PanelState, view: MenuView, font: PanelFont) -> Image.Image:
    c = Canvas(font)
    lang = state.language
    title = view.meter_no if view.meter_no is not None else tr("menu", lang)
    c.row(0, title, f"{view.selected + 1}/{len(view.items)}", inverse=True)
    visible = c.rows - 1
    first = _window(view.selected - visible + 1, len(view.items), visible)
    for i, item in enumerate(view.items[first : first + visible], start=1):
        index = first + i - 1
        c.row(i, f"{index + 1} {tr(item.value, lang)}", inverse=(index == view.selected))
    return c.image


def render_entry(state: PanelState, view: EntryView, font: PanelFont) -> Image.Image:
    c = Canvas(font)
    lang = state.language
    c.row(0, tr(view.purpose.value, lang), inverse=True)
    shown = "*" * len(view.value) if view.purpose.secret else view.value
    # A block cursor: on four buttons it holds the digit being chosen, on a keypad it is empty.
    cursor = view.cursor if view.cursor is not None else " "
    # Show the end of a long number: the digits being typed matter most.
    while shown and font.width(shown + cursor) > WIDTH:
        shown = shown[1:]
    x = c.cell(1, 0, shown)
    c.cell(1, x, cursor, inverse=True)
    hint = "hint.nav" if view.cursor is not None else "hint.matrix"
    c.row(c.rows - 1, tr(hint, lang))
    return c.image


def meter_rows(info: MeterInfo, lang: Language) -> list[Row]:
    unknown = tr("unknown", lang)
    if info.balance_fen is None and info.balance_centi_kwh is not None:
        balance = (tr("remaining", lang), format_centi_kwh(info.balance_centi_kwh))
    else:
        shown = format_fen(info.balance_fen) if info.balance_fen is not None else unknown
        balance = (tr("balance", lang), shown)
    reading = info.last_reading_centi_kwh
    rows: list[Row] = [
        balance,
        (tr("relay", lang), tr("relay." + info.relay.value, lang)),
        (tr("reading", lang), format_centi_kwh(reading) if reading is not None else unknown),
    ]
    if info.customer_name or info.customer_no:
        rows.append((info.customer_name, info.customer_no))
    return rows


def render_meter(state: PanelState, view: MeterView, font: PanelFont) -> Image.Image:
    c = Canvas(font)
    info = view.info
    c.row(0, info.meter_no, inverse=True)
    for i, (left, right) in enumerate(meter_rows(info, state.language)[: c.rows - 1], start=1):
        c.row(i, left, right)
    return c.image


def render_confirm_topup(state: PanelState, view: ConfirmTopUpView, font: PanelFont) -> Image.Image:
    c = Canvas(font)
    lang = state.language
    c.row(0, tr("confirm_topup", lang), inverse=True)
    c.row(1, view.meter_no)
    c.row(2, tr("amount", lang), format_fen(view.amount_fen))
    c.row(c.rows - 1, tr("hint.confirm", lang))
    return c.image


def render_busy(state: PanelState, font: PanelFont) -> Image.Image:
    c = Canvas(font)
    c.row(0, "", inverse=True)
    c.centre(c.rows // 2, tr("busy", state.language))
    return c.image


def message_lines(message: Message, lang: Language, font: PanelFont) -> list[str]:
    return wrap(message.text(lang), font, WIDTH)


def message_text_rows(view: MessageView, font: PanelFont) -> int:
    """Rows available for the message text (the retry hint takes the last one)."""
    return content_rows(font) - (1 if view.can_retry else 0)


def render_message(state: PanelState, view: MessageView, font: PanelFont) -> Image.Image:
    c = Canvas(font)
    lang = state.language
    msg = view.message
    title = tr("done", lang) if view.ok else tr("error", lang)
    if msg.code:
        title = f"{msg.code} {title}"
    lines = message_lines(msg, lang, font)
    visible = message_text_rows(view, font)
    first = _window(view.first, len(lines), visible)
    more = f"{first + 1}/{len(lines)}" if len(lines) > visible else ""
    c.row(0, title, more, inverse=True)
    for i, line in enumerate(lines[first : first + visible], start=1):
        c.row(i, line)
    if view.can_retry:
        c.row(c.rows - 1, tr("hint.retry", lang))
    return c.image


def render_view(state: PanelState, view: View, font: PanelFont) -> Image.Image:
    """Draw whatever the menu currently shows."""
    match view:
        case StatusView():
            return render_status(state, font)
        case AlarmsView():
            return render_alarms(state, view, font)
        case NetworkView():
            return render_network(state, view, font)
        case MenuView():
            return render_menu(state, view, font)
        case EntryView():
            return render_entry(state, view, font)
        case MeterView():
            return render_meter(state, view, font)
        case ConfirmTopUpView():
            return render_confirm_topup(state, view, font)
        case BusyView():
            return render_busy(state, font)
        case MessageView():
            return render_message(state, view, font)
