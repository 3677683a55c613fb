"""The status LEDs and the buzzer through gpiozero, set from the event loop.

A pin write is a single fast syscall, so it is done on the loop (that is what makes the
heartbeat LED a loop-liveness signal); pins are only written when their level changes.
"""

from __future__ import annotations

from typing import Any

from gateway.panel.config import LedPins
from gateway.panel.indicators import Indicators


class Lights:
    def __init__(self, leds: LedPins, buzzer_pin: int | None, pin_factory: Any = None) -> None:
        from gpiozero import LED, Buzzer

        self._outputs: dict[str, Any] = {}
        self._levels: dict[str, bool] = {}
        try:
            for name in ("heartbeat", "cloud", "alarm"):
                pin = getattr(leds, name)
                if pin is not None:
                    self._outputs[name] = LED(pin, initial_value=False, pin_factory=pin_factory)
            if buzzer_pin is not None:
                self._outputs["buzzer"] = Buzzer(
                    buzzer_pin, initial_value=False, pin_factory=pin_factory
                )
        except Exception:
            self.close()
            raise
        self._levels = dict.fromkeys(self._outputs, False)

    def apply(self, indicators: Indicators) -> None:
        for name, device in self._outputs.items():
            level = bool(getattr(indicators, name))
            if self._levels[name] != level:
                device.value = level
                self._levels[name] = level

    def close(self) -> None:
        for device in self._outputs.values():
            device.close()
        self._outputs.clear()
