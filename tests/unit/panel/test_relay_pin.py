"""The PIN-guarded relay action: refused without the right PIN, every attempt logged."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.panel import KeypadConfig, Panel, PanelConfig, PanelOperation, RelayState
from gateway.panel.fonts import PanelFont
from gateway.panel.views import EntryView, MessageView, MeterView
from tests.unit.panel.conftest import RELAY_PIN
from tests.unit.panel.fake_backend import FakeBackend
from tests.unit.panel.support import (
    METER_A,
    FakeClock,
    busy_state,
    press_keys,
    save,
    text_matches,
)

METER = METER_A.meter_no


def config(pin_hash: str, **changes: object) -> PanelConfig:
    cfg = PanelConfig(
        driver="dummy",
        keypad=KeypadConfig(kind="matrix4x4"),
        relay_pin_hash=pin_hash,
        pin_max_attempts=3,
        pin_lockout_s=300,
    )
    return dataclasses.replace(cfg, **changes)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def open_relay_off(panel: Panel) -> None:
    """Look up meter A, open its menu and choose "relay off" (item 3)."""
    await press_keys(panel, f"{METER}#")
    assert isinstance(panel.machine.view, MeterView)
    await press_keys(panel, "#3")


async def test_wrong_pin_is_refused_logged_and_changes_nothing(
    relay_pin_hash: str, clock: FakeClock, font: PanelFont
) -> None:
    backend = FakeBackend([METER_A])
    panel = Panel(config(relay_pin_hash), backend, use_gpio=False, clock=clock, tick_interval=None)
    async with panel:
        panel.update(busy_state())
        await open_relay_off(panel)
        assert isinstance(panel.machine.view, EntryView)
        await press_keys(panel, "1111#")
        shot = panel.latest_image()
        save(shot, "relay-wrong-pin")
        assert text_matches(shot, "E801 错误", font, 0, inverse=True)
        assert text_matches(shot, "PIN错误 剩2次", font, 1)
        assert backend.relay_calls == []
        assert backend.meters[METER].relay is RelayState.CLOSED
        assert backend.operations == [PanelOperation("relay_off", METER, False, "wrong_pin")]


async def test_right_pin_switches_the_relay_and_is_logged(
    relay_pin_hash: str, clock: FakeClock, font: PanelFont
) -> None:
    backend = FakeBackend([METER_A])
    panel = Panel(config(relay_pin_hash), backend, use_gpio=False, clock=clock, tick_interval=None)
    async with panel:
        panel.update(busy_state())
        await open_relay_off(panel)
        await press_keys(panel, f"{RELAY_PIN}#")
        assert backend.relay_calls == [(METER, False, "panel")]
        assert backend.operations == [PanelOperation("relay_off", METER, True, "")]
        assert isinstance(panel.machine.view, MessageView) and panel.machine.view.ok
        await press_keys(panel, "#")
        shot = panel.latest_image()
        save(shot, "relay-off-done")
        assert text_matches(shot, "拉闸", font, 2, align="right")  # the meter screen follows


async def test_three_wrong_pins_lock_even_the_right_one_out(
    relay_pin_hash: str, clock: FakeClock, font: PanelFont
) -> None:
    backend = FakeBackend([METER_A])
    panel = Panel(config(relay_pin_hash), backend, use_gpio=False, clock=clock, tick_interval=None)
    async with panel:
        panel.update(busy_state("en"))
        await open_relay_off(panel)
        for attempt in ("1111", "2222", "3333"):
            await press_keys(panel, f"{attempt}#")
            if attempt != "3333":
                await press_keys(panel, "#3")  # dismiss the message (back to the menu), retry
        assert text_matches(panel.latest_image(), "E802 Error", font, 0, inverse=True)
        await press_keys(panel, "#3")
        await press_keys(panel, f"{RELAY_PIN}#")
        assert text_matches(panel.latest_image(), "E802 Error", font, 0, inverse=True)
        assert backend.relay_calls == []
        reasons = [(op.accepted, op.reason) for op in backend.operations]
        assert reasons == [(False, "wrong_pin")] * 3 + [(False, "locked")]
        clock.advance(299)
        await press_keys(panel, "#3")
        await press_keys(panel, f"{RELAY_PIN}#")
        assert backend.relay_calls == []  # still locked a second before the end
        clock.advance(1)
        await press_keys(panel, "#3")
        await press_keys(panel, f"{RELAY_PIN}#")
        assert backend.relay_calls == [(METER, False, "panel")]


async def test_without_a_configured_pin_the_relay_is_refused(clock: FakeClock) -> None:
    backend = FakeBackend([METER_A])
    panel = Panel(config(""), backend, use_gpio=False, clock=clock, tick_interval=None)
    async with panel:
        panel.update(busy_state())
        await open_relay_off(panel)
        view = panel.machine.view
        assert isinstance(view, MessageView) and view.message.code == "E803"
        assert backend.relay_calls == []
        assert backend.operations == [PanelOperation("relay_off", METER, False, "disabled")]


async def test_no_operation_log_no_relay(relay_pin_hash: str, clock: FakeClock) -> None:
    backend = FakeBackend([METER_A])
    backend.fail_log = True
    panel = Panel(config(relay_pin_hash), backend, use_gpio=False, clock=clock, tick_interval=None)
    async with panel:
        panel.update(busy_state())
        await open_relay_off(panel)
        await press_keys(panel, f"{RELAY_PIN}#")
        view = panel.machine.view
        assert isinstance(view, MessageView) and view.message.code == "E808"
        assert backend.relay_calls == []
