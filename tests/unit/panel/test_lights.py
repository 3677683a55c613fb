"""LEDs and buzzer on mock pins follow the cloud link and the alarms; time is moved by hand."""

from __future__ import annotations

import dataclasses

from gpiozero.pins.mock import MockFactory

from gateway.panel import CloudLink, KeypadConfig, Panel, PanelConfig
from gateway.panel.keys import Key
from tests.unit.panel.fake_backend import FakeBackend
from tests.unit.panel.support import METER_A, FakeClock, alarm, busy_state

PINS = {"heartbeat": 22, "cloud": 23, "alarm": 24, "buzzer": 25}


def levels(factory: MockFactory) -> dict[str, bool]:
    return {name: bool(factory.pin(pin).state) for name, pin in PINS.items()}


class Bench:
    """A panel with mock LEDs, ticked at chosen points of the one-second blink cycle."""

    def __init__(self, factory: MockFactory) -> None:
        self.factory = factory
        self.clock = FakeClock(1000.0)
        self.backend = FakeBackend([METER_A])
        cfg = PanelConfig(driver="dummy", keypad=KeypadConfig(kind="none"))
        self.panel = Panel(
            cfg, self.backend, pin_factory=factory, clock=self.clock, tick_interval=None
        )

    async def at(self, phase: float) -> dict[str, bool]:
        """Levels at `phase` seconds into the next blink cycle."""
        self.clock.t = float(int(self.clock.t) + 1) + phase
        await self.panel.tick()
        return levels(self.factory)


async def test_cloud_led_follows_the_link(pin_factory: MockFactory) -> None:
    bench = Bench(pin_factory)
    async with bench.panel as panel:
        panel.update(busy_state(alarms=(), cloud=CloudLink.ONLINE))
        assert (await bench.at(0.1))["cloud"] and (await bench.at(0.7))["cloud"]
        panel.update(busy_state(alarms=(), cloud=CloudLink.CONNECTING))
        assert (await bench.at(0.1))["cloud"] and not (await bench.at(0.7))["cloud"]
        panel.update(busy_state(alarms=(), cloud=CloudLink.OFFLINE))
        assert not (await bench.at(0.1))["cloud"] and not (await bench.at(0.7))["cloud"]


async def test_heartbeat_blinks_while_the_loop_ticks(pin_factory: MockFactory) -> None:
    bench = Bench(pin_factory)
    async with bench.panel:
        seen = [(await bench.at(p))["heartbeat"] for p in (0.1, 0.7, 0.1, 0.7)]
        assert seen == [True, False, True, False]


async def test_buzzer_until_silenced_or_acknowledged(pin_factory: MockFactory) -> None:
    bench = Bench(pin_factory)
    async with bench.panel as panel:
        panel.update(busy_state(alarms=()))
        quiet = await bench.at(0.1)
        assert not quiet["alarm"] and not quiet["buzzer"]

        panel.update(busy_state(alarms=(alarm(1),)))  # a new, unacknowledged alarm
        beep, pause, dark = await bench.at(0.1), await bench.at(0.3), await bench.at(0.7)
        assert beep["buzzer"] and beep["alarm"]
        assert not pause["buzzer"] and pause["alarm"]
        assert not dark["buzzer"] and not dark["alarm"]  # the alarm LED blinks

        # "Silence buzzer" in the menu: quiet, but the alarm LED keeps blinking.
        for key in (Key.OK, Key.DOWN, Key.DOWN, Key.DOWN, Key.DOWN, Key.OK):
            panel.press(key)
        await panel.settle()
        silenced = await bench.at(0.1)
        assert not silenced["buzzer"] and silenced["alarm"]

        panel.update(busy_state(alarms=(alarm(1), alarm(2))))  # another alarm: beeps again
        assert (await bench.at(0.1))["buzzer"]

        # Acknowledged (here: in the web UI; the next snapshot says so): quiet, LED steady on.
        acked = tuple(dataclasses.replace(a, acknowledged=True) for a in (alarm(1), alarm(2)))
        panel.update(busy_state(alarms=acked))
        on, still_on = await bench.at(0.1), await bench.at(0.7)
        assert not on["buzzer"] and on["alarm"] and still_on["alarm"]

        panel.update(busy_state(alarms=()))
        assert not (await bench.at(0.1))["alarm"]


async def test_acknowledging_on_the_panel_reaches_the_backend(pin_factory: MockFactory) -> None:
    bench = Bench(pin_factory)
    async with bench.panel as panel:
        panel.update(busy_state(alarms=(alarm(1), alarm(2), alarm(3, acknowledged=True))))
        for key in (Key.OK, Key.DOWN, Key.OK, Key.OK):  # menu -> alarms -> OK acknowledges
            panel.press(key)
        await panel.settle()
        assert bench.backend.acked == ["a1", "a2"]
