"""The Panel service: no hardware no crash, redraw on change only, off-loop I/O, screen saver."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import threading
from datetime import timedelta

import pytest
from gpiozero.pins.mock import MockFactory
from luma.core.device import dummy
from PIL import Image

from gateway.panel import KeypadConfig, Panel, PanelConfig
from gateway.panel.fonts import PanelFont
from gateway.panel.keys import Key
from gateway.panel.views import EntryView, MenuView, StatusView
from tests.unit.panel.fake_backend import FakeBackend
from tests.unit.panel.support import (
    METER_A,
    NOW,
    FakeClock,
    NavButtons,
    alarm,
    busy_state,
    press_keys,
    text_matches,
    until,
)


class RecordingDisplay(dummy):  # type: ignore[misc]
    """luma's in-memory device, recording what the panel asks of it; `broken` = I2C errors."""

    def __init__(self) -> None:
        super().__init__(width=128, height=64, mode="1")
        self.calls: list[object] = []
        self.threads: set[int] = set()
        self.broken = False

    def display(self, image: Image.Image) -> None:
        self.threads.add(threading.get_ident())
        if self.broken:
            raise OSError(121, "Remote I/O error")
        self.calls.append("display")
        super().display(image)

    def contrast(self, level: int) -> None:
        self.calls.append(("contrast", level))

    def hide(self) -> None:
        self.calls.append("hide")

    def show(self) -> None:
        self.calls.append("show")

    def writes(self) -> int:
        return self.calls.count("display")


def cfg(**changes: object) -> PanelConfig:
    base = PanelConfig(driver="dummy", keypad=KeypadConfig(kind="matrix4x4"))
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


async def test_no_display_and_no_gpio_is_not_a_crash(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, font: PanelFont
) -> None:
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    caplog.set_level(logging.WARNING)
    # An SSD1306 on a bus this machine does not have, and gpiozero left to find real pins.
    config = PanelConfig(driver="ssd1306", i2c_port=7, keypad=KeypadConfig(kind="nav4"))
    async with Panel(config, FakeBackend([METER_A]), tick_interval=None) as panel:
        assert not panel.has_display
        assert panel.gpio is not None and panel.gpio.keys is None and panel.gpio.lights is None
        panel.update(busy_state())
        panel.press(Key.OK)  # keys can still come from elsewhere (tests, a future web keypad)
        await panel.settle()
        assert isinstance(panel.machine.view, MenuView)
        mirror = Image.open(io.BytesIO(panel.latest_png()))
        assert mirror.size == (128, 64)
        assert text_matches(mirror.convert("1"), "1 状态", font, 1, inverse=True)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("in-memory display" in m for m in messages) == 1
    assert sum("no GPIO" in m for m in messages) == 1


async def test_redraws_only_when_what_is_shown_changes() -> None:
    display = RecordingDisplay()
    panel = Panel(cfg(), FakeBackend([METER_A]), display=display, tick_interval=None)
    async with panel:
        panel.update(busy_state())
        await panel.tick()
        writes = display.writes()
        for _ in range(5):
            await panel.tick()
        panel.update(busy_state(now=NOW + timedelta(seconds=20)))  # same minute on screen
        await panel.tick()
        assert display.writes() == writes
        panel.update(busy_state(now=NOW + timedelta(minutes=1)))
        await panel.tick()
        assert display.writes() == writes + 1
        assert display.image.tobytes() == panel.latest_image().tobytes()
        panel.press(Key.OK)
        await panel.tick()
        assert display.writes() == writes + 2


async def test_rendering_and_i2c_writes_run_off_the_event_loop() -> None:
    display = RecordingDisplay()
    async with Panel(cfg(), FakeBackend([METER_A]), display=display, tick_interval=None) as panel:
        panel.update(busy_state())
        await panel.tick()
        assert display.threads and threading.get_ident() not in display.threads


async def test_dims_then_sleeps_and_the_first_key_only_wakes() -> None:
    clock = FakeClock()
    display = RecordingDisplay()
    config = cfg(dim_after_s=60, screensaver_after_s=300, contrast=200, dim_contrast=8)
    panel = Panel(config, FakeBackend([METER_A]), display=display, clock=clock, tick_interval=None)
    async with panel:
        panel.update(busy_state())
        await press_keys(panel, "#3")  # start typing a meter number...
        await press_keys(panel, "12")
        assert isinstance(panel.machine.view, EntryView)
        clock.advance(60)
        await panel.tick()
        assert panel.screen_mode == "dim" and display.calls[-2:] == [("contrast", 8), "display"]
        assert isinstance(panel.machine.view, StatusView)  # ...abandoned: dropped
        clock.advance(240)
        await panel.tick()
        assert panel.screen_mode == "off" and display.calls[-1] == "hide"
        writes = display.writes()
        panel.update(busy_state(now=NOW + timedelta(minutes=5)))
        await panel.tick()
        assert display.writes() == writes  # dark: the OLED is left alone...
        assert panel.latest_png()  # ...the web mirror still follows
        panel.press(Key.OK)
        await panel.tick()
        assert panel.screen_mode == "on" and "show" in display.calls[-3:]
        assert ("contrast", 200) in display.calls[-3:]
        assert isinstance(panel.machine.view, StatusView)  # the waking key did nothing else
        panel.press(Key.OK)
        assert isinstance(panel.machine.view, MenuView)


async def test_a_new_alarm_wakes_the_screen() -> None:
    clock = FakeClock()
    display = RecordingDisplay()
    config = cfg(dim_after_s=60, screensaver_after_s=120)
    async with Panel(
        config, FakeBackend([METER_A]), display=display, clock=clock, tick_interval=None
    ) as panel:
        panel.update(busy_state(alarms=()))
        clock.advance(200)
        await panel.tick()
        assert panel.screen_mode == "off"
        panel.update(busy_state(alarms=(alarm(7),)))
        await panel.tick()
        assert panel.screen_mode == "on"


async def test_display_failure_is_logged_once_and_recovery_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    display = RecordingDisplay()
    caplog.set_level(logging.INFO, logger="gateway.panel")
    panel = Panel(cfg(), FakeBackend([METER_A]), display=display, clock=clock, tick_interval=None)
    async with panel:
        display.broken = True
        for minute in range(1, 4):
            panel.update(busy_state(now=NOW + timedelta(minutes=minute)))
            clock.advance(10)
            await panel.tick()
        assert text_matches(
            panel.latest_image(), "14:08", panel.font, 0, align="right", inverse=True
        )  # the mirror kept going
        display.broken = False
        clock.advance(10)
        await panel.tick()  # retried even though nothing on screen changed
        assert display.image.tobytes() == panel.latest_image().tobytes()
    failing = [r for r in caplog.records if "display write failed" in r.getMessage()]
    recovered = [r for r in caplog.records if "display works again" in r.getMessage()]
    assert len(failing) == 1 and len(recovered) == 1


async def test_background_loop_and_keys_from_gpio_threads(pin_factory: MockFactory) -> None:
    config = PanelConfig(driver="dummy", keypad=KeypadConfig(kind="nav4", debounce_ms=0))
    panel = Panel(config, FakeBackend([METER_A]), pin_factory=pin_factory, tick_interval=0.01)
    async with panel:
        panel.update(busy_state())
        ok = pin_factory.pin(config.keypad.nav.ok)
        # gpiozero calls back on its own threads: press from a worker thread.
        await asyncio.to_thread(ok.drive_low)
        await asyncio.to_thread(ok.drive_high)
        await until(lambda: isinstance(panel.machine.view, MenuView), "the menu")
        await until(lambda: panel.redraws >= 2, "the background loop to redraw")
        keys = NavButtons(pin_factory, config.keypad.nav, panel)
        await keys.tap("back")
        assert isinstance(panel.machine.view, StatusView)
