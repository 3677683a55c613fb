"""Quick top-up on the 4x4 keypad: money lands once, whatever the keys or the link do."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from gpiozero.pins.mock import MockFactory

from gateway.panel import KeypadConfig, Panel, PanelConfig, VendStatus
from gateway.panel.fonts import PanelFont
from gateway.panel.keys import Key, key_for_legend
from gateway.panel.views import ConfirmTopUpView, EntryPurpose, EntryView, MessageView
from tests.unit.panel.fake_backend import FakeBackend
from tests.unit.panel.support import (
    METER_A,
    MatrixWiring,
    busy_state,
    press_keys,
    save,
    text_matches,
)

METER = METER_A.meter_no
OPERATOR_PIN = "9876"


def config(**changes: object) -> PanelConfig:
    cfg = PanelConfig(driver="dummy", keypad=KeypadConfig(kind="matrix4x4"))
    return dataclasses.replace(cfg, **changes)  # type: ignore[arg-type]


def keys_counter() -> Callable[[], str]:
    """Idempotency keys key-1, key-2, ... so a test can tell sales apart."""
    n = iter(range(1, 1000))
    return lambda: f"key-{next(n)}"


def panel_for(backend: FakeBackend, **changes: object) -> Panel:
    return Panel(
        config(**changes), backend, use_gpio=False, tick_interval=None, new_key=keys_counter()
    )


async def test_quick_topup_through_the_matrix_keypad(
    pin_factory: MockFactory, font: PanelFont
) -> None:
    kp = KeypadConfig(kind="matrix4x4", debounce_ms=10, scan_interval_ms=2)
    wiring = MatrixWiring(pin_factory, kp.rows, kp.cols)
    backend = FakeBackend([METER_A])
    panel = Panel(
        config(keypad=kp),
        backend,
        pin_factory=pin_factory,
        tick_interval=None,
        new_key=keys_counter(),
    )
    async with panel:
        panel.update(busy_state())
        await wiring.type(panel, "#6")  # menu, item 6: quick top-up
        assert panel.machine.view == EntryView(EntryPurpose.TOPUP_METER, "", None)
        await wiring.type(panel, f"{METER}#")
        await wiring.type(panel, "50*5#")  # * is the decimal point: 50.5 yuan
        await wiring.type(panel, f"{OPERATOR_PIN}#")
        assert panel.machine.view == ConfirmTopUpView(METER, 5050)
        shot = panel.latest_image()
        save(shot, "topup-confirm-matrix")
        assert text_matches(shot, "¥50.50", font, 2, align="right")
        assert backend.sales == []  # nothing sold before the confirmation
        await wiring.type(panel, "#")
        assert [(s.meter_no, s.amount_fen, s.operator) for s in backend.sales] == [
            (METER, 5050, "panel")
        ]
        assert backend.balance(METER) == 12345 + 5050
        shot = panel.latest_image()
        save(shot, "topup-done")
        assert text_matches(shot, "完成", font, 0, inverse=True)
        assert text_matches(shot, "充值成功 ¥50.50", font, 1)
        assert text_matches(shot, "收据 R00001", font, 3)


async def test_double_press_while_selling_sells_once() -> None:
    backend = FakeBackend([METER_A])
    backend.hang_next_topup_s = 0.3
    async with panel_for(backend) as panel:
        await press_keys(panel, f"#6{METER}#20#{OPERATOR_PIN}#")
        panel.press(panel_key("#"))
        panel.press(panel_key("#"))  # impatient second press while the first is in flight
        panel.press(panel_key("#"))
        await panel.settle()
        assert len(backend.sales) == 1
        assert backend.balance(METER) == 12345 + 2000


async def test_lost_reply_offers_a_retry_with_the_same_key(font: PanelFont) -> None:
    backend = FakeBackend([METER_A])
    backend.lose_next_topup_reply = True  # the sale is recorded, its answer never arrives
    async with panel_for(backend) as panel:
        panel.update(busy_state("en"))
        await press_keys(panel, f"#6{METER}#10#{OPERATOR_PIN}##")
        view = panel.machine.view
        assert isinstance(view, MessageView) and view.can_retry
        shot = panel.latest_image()
        save(shot, "topup-unknown-en")
        assert text_matches(shot, "E809 Error", font, 0, inverse=True)
        await press_keys(panel, "#")  # retry: same idempotency key, the first result comes back
        assert len(backend.sales) == 1
        assert backend.balance(METER) == 12345 + 1000
        assert text_matches(panel.latest_image(), "Sold ¥10.00", font, 1)


async def test_uncertain_vend_is_not_reported_as_sold(font: PanelFont) -> None:
    backend = FakeBackend([METER_A])
    backend.topup_status = VendStatus.UNCERTAIN
    async with panel_for(backend) as panel:
        await press_keys(panel, f"#6{METER}#10#{OPERATOR_PIN}##")
        view = panel.machine.view
        assert isinstance(view, MessageView) and not view.ok and view.message.code == "E809"


async def test_wrong_operator_pin_sells_nothing_then_a_new_sale_gets_a_new_key() -> None:
    backend = FakeBackend([METER_A])
    async with panel_for(backend) as panel:
        await press_keys(panel, f"#6{METER}#10#1111##")
        view = panel.machine.view
        assert isinstance(view, MessageView) and view.message.code == "E130"
        assert backend.sales == []
        await press_keys(panel, "#")  # back to the operator PIN entry, meter and amount kept
        assert panel.machine.view == EntryView(EntryPurpose.TOPUP_PIN, "", None)
        await press_keys(panel, f"{OPERATOR_PIN}##")
        assert [s.idempotency_key for s in backend.sales] == ["key-2"]


async def test_bad_amounts_are_refused_before_anything_is_sent() -> None:
    backend = FakeBackend([METER_A])
    async with panel_for(backend, topup_max_fen=50_000) as panel:
        await press_keys(panel, f"#6{METER}#0#")
        assert panel.machine.view.message.code == "E804"  # type: ignore[union-attr]
        await press_keys(panel, "#C1*005#")  # back to the entry, erase, 1.005: too precise
        assert panel.machine.view.message.code == "E804"  # type: ignore[union-attr]
        await press_keys(panel, "#CCCCC600#")
        assert panel.machine.view.message.code == "E805"  # type: ignore[union-attr]
        assert backend.sales == []


async def test_a_hung_backend_times_out_as_unknown_not_as_failed() -> None:
    backend = FakeBackend([METER_A])
    backend.hang_next_topup_s = 5
    async with panel_for(backend, backend_timeout_s=1) as panel:
        await press_keys(panel, f"#6{METER}#10#{OPERATOR_PIN}##")
        view = panel.machine.view
        assert isinstance(view, MessageView) and view.can_retry
        await press_keys(panel, "#")
        assert len(backend.sales) == 1


def panel_key(legend: str) -> Key:
    return key_for_legend(legend)
