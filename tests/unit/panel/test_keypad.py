"""Keys through gpiozero's mock pins: navigation, meter lookup, and the matrix decoder."""

from __future__ import annotations

from gpiozero.pins.mock import MockFactory

from gateway.panel import KeypadConfig, Panel, PanelConfig
from gateway.panel.fonts import PanelFont
from gateway.panel.keys import Key
from gateway.panel.matrix import MatrixDecoder
from gateway.panel.views import EntryPurpose, EntryView, MenuView, MeterView, StatusView
from tests.unit.panel.fake_backend import FakeBackend
from tests.unit.panel.support import (
    METER_A,
    METER_B,
    MatrixWiring,
    NavButtons,
    busy_state,
    save,
    text_matches,
)


def nav_config() -> PanelConfig:
    return PanelConfig(driver="dummy", keypad=KeypadConfig(kind="nav4", debounce_ms=0))


async def test_four_buttons_walk_the_menu(pin_factory: MockFactory, font: PanelFont) -> None:
    cfg = nav_config()
    async with Panel(cfg, FakeBackend([METER_A]), pin_factory=pin_factory, tick_interval=None) as p:
        p.update(busy_state())
        keys = NavButtons(pin_factory, cfg.keypad.nav, p)
        assert isinstance(p.machine.view, StatusView)
        await keys.tap("ok")
        assert p.machine.view == MenuView(None, p.machine.main_items, 0)
        await keys.tap("down", "down")
        shot = p.latest_image()
        save(shot, "nav-menu-lookup-selected")
        assert text_matches(shot, "3 查询电表", font, 3, inverse=True)
        await keys.tap("up", "up", "up")  # wraps round to the last entry
        assert p.machine.view == MenuView(None, p.machine.main_items, 4)
        await keys.tap("back")
        assert isinstance(p.machine.view, StatusView)


async def test_meter_lookup_on_four_buttons(pin_factory: MockFactory, font: PanelFont) -> None:
    cfg = nav_config()
    backend = FakeBackend([METER_A, METER_B])
    async with Panel(cfg, backend, pin_factory=pin_factory, tick_interval=None) as p:
        p.update(busy_state())
        keys = NavButtons(pin_factory, cfg.keypad.nav, p)
        await keys.tap("ok", "down", "down", "ok")  # menu -> "meter lookup"
        assert isinstance(p.machine.view, EntryView)
        # Up/down turn the digit under the cursor, OK keeps it: type 000000000012.
        await keys.tap(*["ok"] * 10)
        await keys.tap("up", "ok", "up", "ok")
        assert p.machine.view.value == "000000000012"
        await keys.tap("down", "down", "down")  # 2 -> 1 -> 0 -> done mark
        save(p.latest_image(), "nav-lookup-typed")
        await keys.tap("ok")
        assert backend.lookups == ["000000000012"]
        assert p.machine.view == MeterView(METER_A)
        shot = p.latest_image()
        save(shot, "nav-lookup-result")
        assert text_matches(shot, "000000000012", font, 0, inverse=True)
        assert text_matches(shot, "¥123.45", font, 1, align="right")
        assert text_matches(shot, "合闸", font, 2, align="right")
        assert text_matches(shot, "1234.56kWh", font, 3, align="right")


async def test_unknown_number_shows_the_backend_error_and_keeps_the_digits(
    pin_factory: MockFactory, font: PanelFont
) -> None:
    cfg = nav_config()
    async with Panel(cfg, FakeBackend([METER_A]), pin_factory=pin_factory, tick_interval=None) as p:
        p.update(busy_state("en"))
        keys = NavButtons(pin_factory, cfg.keypad.nav, p)
        await keys.tap("ok", "down", "down", "ok")
        await keys.tap("up", "up", "ok", "down", "down", "down")  # "2", then the done mark
        await keys.tap("ok")
        shot = p.latest_image()
        assert text_matches(shot, "E120 Error", font, 0, inverse=True)
        await keys.tap("ok")
        assert p.machine.view == EntryView(EntryPurpose.LOOKUP, "2", "0")


async def test_matrix_keypad_lookup_by_customer_number(
    pin_factory: MockFactory, font: PanelFont
) -> None:
    kp = KeypadConfig(kind="matrix4x4", debounce_ms=10, scan_interval_ms=2)
    wiring = MatrixWiring(pin_factory, kp.rows, kp.cols)
    backend = FakeBackend([METER_A, METER_B])
    cfg = PanelConfig(driver="dummy", keypad=kp)
    async with Panel(cfg, backend, pin_factory=pin_factory, tick_interval=None) as p:
        p.update(busy_state())
        # A digit on the status screen starts a lookup; 1002 is meter B's customer number.
        await wiring.type(p, "1002")
        assert p.machine.view == EntryView(EntryPurpose.LOOKUP, "1002", None)
        await wiring.type(p, "#")
        assert backend.lookups == ["1002"]
        shot = p.latest_image()
        save(shot, "matrix-lookup-customer")
        assert text_matches(shot, "000000000034", font, 0, inverse=True)
        assert text_matches(shot, "-¥3.20", font, 1, align="right")
        assert text_matches(shot, "拉闸", font, 2, align="right")


def test_matrix_decoder_debounces_and_ignores_chords() -> None:
    d = MatrixDecoder(stable_scans=2)
    five = frozenset({(1, 1)})
    assert d.feed(five) is None  # one scan is a bounce
    assert d.feed(five) is Key.D5
    assert d.feed(five) is None  # held: no repeat
    assert d.feed(frozenset()) is None
    assert d.feed(five) is None
    assert d.feed(five) is Key.D5  # pressed again
    chord = frozenset({(0, 0), (0, 1)})
    assert [d.feed(chord) for _ in range(5)] == [None] * 5
    assert [d.feed(frozenset({(3, 2)})) for _ in range(2)] == [None, Key.OK]
