"""Key input through gpiozero: four buttons, or a scanned 4x4 matrix.

Callbacks arrive on gpiozero's threads (or the scan thread); `on_key` must be thread-safe
(the panel passes a function that hands the key to the event loop with call_soon_threadsafe).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from gateway.panel.config import KeypadConfig
from gateway.panel.keys import Key
from gateway.panel.matrix import MatrixDecoder, Position

log = logging.getLogger(__name__)

KeyCallback = Callable[[Key], None]


class KeyInput(Protocol):
    def close(self) -> None: ...


class NavButtons:
    """Four buttons between a GPIO and ground, using the Pi's internal pull-ups."""

    def __init__(self, config: KeypadConfig, on_key: KeyCallback, pin_factory: Any = None) -> None:
        from gpiozero import Button

        bounce = config.debounce_ms / 1000 if config.debounce_ms else None
        nav = config.nav
        self._buttons: list[Any] = []
        try:
            for pin, key in (
                (nav.up, Key.UP),
                (nav.down, Key.DOWN),
                (nav.ok, Key.OK),
                (nav.back, Key.BACK),
            ):
                button = Button(pin, pull_up=True, bounce_time=bounce, pin_factory=pin_factory)
                button.when_pressed = _callback(on_key, key)
                self._buttons.append(button)
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        for button in self._buttons:
            button.close()
        self._buttons.clear()


def _callback(on_key: KeyCallback, key: Key) -> Callable[[], None]:
    def pressed() -> None:
        on_key(key)

    return pressed


class MatrixKeypad:
    """Drives one row low at a time and reads the columns (pulled up) on a scan thread."""

    def __init__(self, config: KeypadConfig, on_key: KeyCallback, pin_factory: Any = None) -> None:
        from gpiozero import DigitalOutputDevice, InputDevice

        self._on_key = on_key
        self._interval = config.scan_interval_ms / 1000
        self._decoder = MatrixDecoder(config.debounce_ms // config.scan_interval_ms)
        self._rows: list[Any] = []
        self._cols: list[Any] = []
        try:
            for pin in config.rows:
                self._rows.append(
                    DigitalOutputDevice(
                        pin, active_high=False, initial_value=False, pin_factory=pin_factory
                    )
                )
            for pin in config.cols:
                self._cols.append(InputDevice(pin, pull_up=True, pin_factory=pin_factory))
        except Exception:
            self._close_devices()
            raise
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._scan_loop, name="panel-keypad", daemon=True)
        self._thread.start()

    def scan_once(self) -> frozenset[Position]:
        pressed: set[Position] = set()
        for r, row in enumerate(self._rows):
            row.on()
            for c, col in enumerate(self._cols):
                if col.is_active:
                    pressed.add((r, c))
            row.off()
        return frozenset(pressed)

    def _scan_loop(self) -> None:
        failing = False
        while not self._stop.wait(self._interval):
            try:
                key = self._decoder.feed(self.scan_once())
            except Exception:
                if not failing:
                    log.exception("panel: keypad scan failed; retrying")
                    failing = True
                continue
            if failing:
                log.info("panel: keypad scan works again")
                failing = False
            if key is not None:
                self._on_key(key)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        self._close_devices()

    def _close_devices(self) -> None:
        for device in (*self._rows, *self._cols):
            device.close()
        self._rows.clear()
        self._cols.clear()
