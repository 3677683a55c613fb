"""Open the keypad and the lights, or run without them when the machine has no GPIO.

No GPIO (a PC, a container, a Pi without pin access) is a normal way to run: it is logged once
and the panel keeps its display and web mirror.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

from gateway.panel.config import PanelConfig
from gateway.panel.keypad import KeyCallback, KeyInput, MatrixKeypad, NavButtons
from gateway.panel.lights import Lights

log = logging.getLogger(__name__)


@dataclass
class Gpio:
    keys: KeyInput | None
    lights: Lights | None

    def close(self) -> None:
        if self.keys is not None:
            self.keys.close()
            self.keys = None
        if self.lights is not None:
            self.lights.close()
            self.lights = None


def _no_gpio(exc: Exception) -> bool:
    from gpiozero.exc import BadPinFactory

    return isinstance(exc, BadPinFactory)


def open_gpio(config: PanelConfig, on_key: KeyCallback, pin_factory: Any = None) -> Gpio:
    """Keys and lights as configured; a part that cannot be opened is left out (logged once)."""
    gpio = Gpio(keys=None, lights=None)
    with warnings.catch_warnings():
        # gpiozero warns for every pin library it tries before giving up; one log line is enough.
        warnings.simplefilter("ignore")
        try:
            if config.keypad.kind == "nav4":
                gpio.keys = NavButtons(config.keypad, on_key, pin_factory)
            elif config.keypad.kind == "matrix4x4":
                gpio.keys = MatrixKeypad(config.keypad, on_key, pin_factory)
        except Exception as exc:
            if _no_gpio(exc):
                log.warning(
                    "panel: no GPIO on this machine (%s); running without keys and LEDs", exc
                )
                return gpio
            log.exception("panel: keypad unavailable; running without keys")
        try:
            gpio.lights = Lights(config.leds, config.buzzer_pin, pin_factory)
        except Exception as exc:
            if _no_gpio(exc):
                log.warning("panel: no GPIO on this machine (%s); running without LEDs", exc)
            else:
                log.exception("panel: LEDs/buzzer unavailable; running without them")
    return gpio
