"""Each screen rendered from a fixed state, saved as PNG, and checked pixel by pixel."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from gateway.panel import LastSale, MeterInfo, PanelState
from gateway.panel.errors import wrong_pin
from gateway.panel.fonts import PanelFont, load_font
from gateway.panel.screens import (
    render_alarms,
    render_busy,
    render_confirm_topup,
    render_entry,
    render_menu,
    render_message,
    render_meter,
    render_network,
    render_status,
)
from gateway.panel.views import (
    AlarmsView,
    ConfirmTopUpView,
    EntryPurpose,
    EntryView,
    MenuItem,
    MenuView,
    MessageView,
    MeterView,
    NetworkView,
)
from tests.unit.panel.support import (
    METER_A,
    band,
    busy_state,
    lit,
    lit_fraction,
    save,
    text_matches,
)

MAIN = (MenuItem.STATUS, MenuItem.ALARMS, MenuItem.LOOKUP, MenuItem.NETWORK, MenuItem.SILENCE)


def test_status_zh_shows_counts_link_outbox_and_last_sale(font: PanelFont) -> None:
    img = render_status(busy_state(), font)
    save(img, "status-zh")
    assert img.size == (128, 64) and img.mode == "1"
    assert text_matches(img, "东区配电房", font, 0, inverse=True)
    assert text_matches(img, "14:05", font, 0, align="right", inverse=True)
    assert text_matches(img, "表 11/12", font, 1)
    assert text_matches(img, "告警 2!", font, 1, align="right")  # 2 active, one unacknowledged
    assert text_matches(img, "云 在线", font, 2)
    assert text_matches(img, "待发 5", font, 2, align="right")
    assert text_matches(img, "售", font, 3)
    assert text_matches(img, "¥50.00 14:01", font, 3, align="right")


def test_status_en_and_offline_cloud(font: PanelFont) -> None:
    from gateway.panel import CloudLink

    state = busy_state("en", cloud=CloudLink.OFFLINE, alarms=(), outbox_depth=1234)
    img = render_status(state, font)
    save(img, "status-en")
    assert text_matches(img, "Mtr 11/12", font, 1)
    assert text_matches(img, "Alm 0", font, 1, align="right")
    assert text_matches(img, "Offline", font, 2)
    assert text_matches(img, "Out 1234", font, 2, align="right")
    assert text_matches(img, "Sale", font, 3)  # label and value touch rather than cut the label
    assert text_matches(img, "¥50.00 14:01", font, 3, align="right")


def test_status_old_sale_shows_its_date_and_no_sale_says_so(font: PanelFont) -> None:
    old = LastSale(datetime(2024, 5, 1, 9, 0), "000000000012", 123456, "R9")
    img = render_status(busy_state(last_sale=old), font)
    assert text_matches(img, "¥1234.56 05-01", font, 3, align="right")
    img = render_status(busy_state(last_sale=None), font)
    assert text_matches(img, "无", font, 3, align="right")


def test_status_before_the_first_snapshot_is_blank_but_valid(font: PanelFont) -> None:
    img = render_status(PanelState(), font)
    save(img, "status-empty")
    assert text_matches(img, "--:--", font, 0, align="right", inverse=True)
    assert text_matches(img, "表 0/0", font, 1)


def test_alarms_list_highlights_the_selected_alarm(font: PanelFont) -> None:
    state = busy_state()
    img = render_alarms(state, AlarmsView(selected=1), font)
    save(img, "alarms-zh")
    assert text_matches(img, "告警 2/2", font, 0, inverse=True)
    assert text_matches(img, "13:52", font, 0, align="right", inverse=True)  # selected one's time
    assert text_matches(img, "!0001 余额不足", font, 1)  # unacknowledged: marked
    assert text_matches(img, " 0002 余额不足", font, 2, inverse=True)
    assert lit_fraction(img, band(2, font)) > 0.5 > lit_fraction(img, band(1, font))
    assert lit(img, band(3, font)) == 0


def test_alarms_empty(font: PanelFont) -> None:
    img = render_alarms(busy_state("en", alarms=()), AlarmsView(), font)
    save(img, "alarms-empty-en")
    assert lit(img, band(2, font)) > 0  # "No alarms", centred
    assert lit(img, band(1, font)) == 0


def test_network_lists_addresses_and_mqtt(font: PanelFont) -> None:
    img = render_network(busy_state(), NetworkView(), font)
    save(img, "network-zh")
    # "eth0 192.168.1.20" is 17 columns: the address gets its own row rather than a cut name.
    assert text_matches(img, "eth0", font, 1)
    assert text_matches(img, "192.168.1.20", font, 2, align="right")
    assert text_matches(img, "wlan0", font, 3)
    assert text_matches(img, "10.0.0.7", font, 3, align="right")
    assert text_matches(img, "1/6", font, 0, align="right", inverse=True)  # MQTT rows below
    scrolled = render_network(busy_state(), NetworkView(first=3), font)
    save(scrolled, "network-scrolled-zh")
    assert text_matches(scrolled, "MQTT", font, 1)
    assert text_matches(scrolled, "已连接", font, 1, align="right")
    assert text_matches(scrolled, "mqtt.example.cn:", font, 2)  # the broker, wrapped
    assert text_matches(scrolled, "8883", font, 3)


def test_menu_inverts_exactly_the_selected_line(font: PanelFont) -> None:
    state = busy_state()
    first = render_menu(state, MenuView(None, MAIN, 0), font)
    second = render_menu(state, MenuView(None, MAIN, 1), font)
    save(first, "menu-zh")
    assert text_matches(first, "1 状态", font, 1, inverse=True)
    assert text_matches(first, "2 告警列表", font, 2)
    assert text_matches(second, "2 告警列表", font, 2, inverse=True)
    assert lit_fraction(first, band(1, font)) > 0.5 > lit_fraction(first, band(2, font))
    assert lit_fraction(second, band(2, font)) > 0.5 > lit_fraction(second, band(1, font))
    # Selecting the last item scrolls it into view, still highlighted on the bottom row.
    last = render_menu(state, MenuView(None, MAIN, 4), font)
    assert text_matches(last, "5 消音", font, 3, inverse=True)
    assert text_matches(last, "5/5", font, 0, align="right", inverse=True)


def test_meter_lookup_entry_and_result(font: PanelFont) -> None:
    state = busy_state()
    entry = render_entry(state, EntryView(EntryPurpose.LOOKUP, "00000000001", None), font)
    save(entry, "lookup-entry-zh")
    assert text_matches(entry, "表号/户号", font, 0, inverse=True)
    assert text_matches(entry, "00000000001", font, 1)
    cursor = (88, 16, 96, 32)  # a block cursor right after the 11 digits
    assert lit(entry, cursor) == 8 * 16
    result = render_meter(state, MeterView(METER_A), font)
    save(result, "lookup-result-zh")
    assert text_matches(result, "000000000012", font, 0, inverse=True)
    assert text_matches(result, "余额", font, 1)
    assert text_matches(result, "¥123.45", font, 1, align="right")
    assert text_matches(result, "继电器", font, 2)
    assert text_matches(result, "合闸", font, 2, align="right")
    assert text_matches(result, "读数", font, 3)
    assert text_matches(result, "1234.56kWh", font, 3, align="right")


def test_big_money_is_never_cut_the_label_gives_way(font: PanelFont) -> None:
    rich = dataclasses.replace(METER_A, balance_fen=123456789012)
    img = render_meter(busy_state("en"), MeterView(rich), font)
    assert text_matches(img, "¥1234567890.12", font, 1, align="right")


def test_energy_wallet_and_unknown_values(font: PanelFont) -> None:
    info = MeterInfo("000000000099", balance_centi_kwh=4550)
    img = render_meter(busy_state("en"), MeterView(info), font)
    save(img, "lookup-energy-en")
    assert text_matches(img, "Left", font, 1)
    assert text_matches(img, "45.50kWh", font, 1, align="right")
    assert text_matches(img, "?", font, 2, align="right")
    assert text_matches(img, "--", font, 3, align="right")


def test_pin_entry_is_masked(font: PanelFont) -> None:
    img = render_entry(busy_state(), EntryView(EntryPurpose.RELAY_PIN, "2468", "7"), font)
    save(img, "pin-entry-nav")
    assert text_matches(img, "****", font, 1)  # typed digits hidden...
    # ...the digit being chosen shown inverse in the cursor block right after them.
    seven = Image.new("1", (8, 16), 1)
    draw = ImageDraw.Draw(seven)
    draw.fontmode = "1"
    draw.text((0, font.y_offset), "7", font=font.face, fill=0)
    assert img.crop((32, 16, 40, 32)).tobytes() == seven.tobytes()
    assert 0 < lit(img, (32, 16, 40, 32)) < 8 * 16


def test_message_screen_shows_code_and_wraps_the_remedy(font: PanelFont) -> None:
    img = render_message(busy_state("en"), MessageView(wrong_pin(2).message, ok=False), font)
    save(img, "message-e801-en")
    assert text_matches(img, "E801 Error", font, 0, inverse=True)
    assert text_matches(img, "Wrong PIN, 2", font, 1)
    assert text_matches(img, "tries left", font, 2)
    zh = render_message(busy_state(), MessageView(wrong_pin(2).message, ok=False), font)
    save(zh, "message-e801-zh")
    assert text_matches(zh, "E801 错误", font, 0, inverse=True)
    assert text_matches(zh, "PIN错误 剩2次", font, 1)


def test_confirm_topup_and_busy(font: PanelFont) -> None:
    img = render_confirm_topup(busy_state(), ConfirmTopUpView("000000000012", 5050), font)
    save(img, "topup-confirm-zh")
    assert text_matches(img, "确认充值", font, 0, inverse=True)
    assert text_matches(img, "000000000012", font, 1)
    assert text_matches(img, "¥50.50", font, 2, align="right")
    assert text_matches(img, "#确定 D取消", font, 3)
    busy = render_busy(busy_state(), font)
    save(busy, "busy-zh")
    assert lit(busy, band(2, font)) > 0 and lit(busy, band(1, font)) == 0


def test_twelve_pixel_font_gives_five_rows() -> None:
    small = load_font("wqy-zenhei-sharp")
    img = render_status(busy_state(), small)
    save(img, "status-wqy12")
    assert small.row_height == 12
    assert text_matches(img, "表 11/12", small, 1)
    assert text_matches(img, "192.168.1.20", small, 4, align="right")  # the extra fifth row


_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40)


@settings(max_examples=40, deadline=None)
@given(
    site=_text,
    online=st.integers(0, 10**6),
    outbox=st.integers(0, 10**9),
    amount=st.integers(-(10**12), 10**12),
    lang=st.sampled_from(["zh", "en"]),
)
def test_any_state_renders_a_valid_frame(
    site: str, online: int, outbox: int, amount: int, lang: str
) -> None:
    font = load_font("unifont")
    sale = LastSale(datetime(2024, 1, 1), "1", amount, "R")
    state = busy_state(
        lang, site_name=site, meters_online=online, outbox_depth=outbox, last_sale=sale
    )
    img = render_status(state, font)
    assert img.size == (128, 64) and img.mode == "1"
