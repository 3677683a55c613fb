"""The `[panel]` config section: display, keypad, LEDs, buzzer, relay PIN and idle timers.

Pin numbers are BCM GPIO numbers. The defaults keep clear of I2C (2, 3), the UART of the RS485
HAT (14, 15) and SPI (7-11), so a bare Pi with the reference wiring in docs/panel.md works as is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from gateway.typedconfig import ConfigError

Driver = Literal["ssd1306", "sh1106", "dummy"]
KeypadKind = Literal["nav4", "matrix4x4", "none"]
FontName = Literal["unifont", "wqy-zenhei-sharp"]
Language = Literal["zh", "en"]

# BCM numbers a user may wire on the 40-pin header.
_GPIO_RANGE = range(2, 28)


def _check_pin(key: str, pin: int) -> None:
    if pin not in _GPIO_RANGE:
        raise ConfigError(key, f"GPIO {pin} is not a BCM pin on the header (2..27)")


@dataclass(frozen=True)
class NavPins:
    """Four push buttons to ground (internal pull-ups)."""

    up: int = 5
    down: int = 6
    ok: int = 13
    back: int = 19


@dataclass(frozen=True)
class KeypadConfig:
    kind: KeypadKind = "nav4"
    nav: NavPins = field(default_factory=NavPins)
    # A 4x4 membrane keypad: rows are driven low one at a time, columns read with pull-ups.
    rows: tuple[int, ...] = (5, 6, 13, 19)
    cols: tuple[int, ...] = (26, 16, 20, 21)
    debounce_ms: int = 30
    scan_interval_ms: int = 10

    # Errors name keys relative to this table; from_dict prefixes the table's own key.
    def __post_init__(self) -> None:
        if self.kind == "matrix4x4" and (len(self.rows) != 4 or len(self.cols) != 4):
            raise ConfigError("rows", "matrix4x4 needs exactly 4 rows and 4 cols")
        if not 0 <= self.debounce_ms <= 500:
            raise ConfigError("debounce_ms", "must be 0..500")
        if not 1 <= self.scan_interval_ms <= 200:
            raise ConfigError("scan_interval_ms", "must be 1..200")

    def pins(self) -> dict[str, int]:
        """Every pin this keypad uses, by config key."""
        if self.kind == "nav4":
            n = self.nav
            return {
                "keypad.nav.up": n.up,
                "keypad.nav.down": n.down,
                "keypad.nav.ok": n.ok,
                "keypad.nav.back": n.back,
            }
        if self.kind == "matrix4x4":
            out = {f"keypad.rows[{i}]": p for i, p in enumerate(self.rows)}
            out.update({f"keypad.cols[{i}]": p for i, p in enumerate(self.cols)})
            return out
        return {}


@dataclass(frozen=True)
class LedPins:
    """Status LEDs (anode to the pin through a resistor); a missing key means no such LED."""

    heartbeat: int | None = 22
    cloud: int | None = 23
    alarm: int | None = 24


@dataclass(frozen=True)
class PanelConfig:
    enabled: bool = True
    driver: Driver = "ssd1306"
    i2c_port: int = 1
    i2c_address: int = 0x3C
    # Only 0 and 180 degrees: the screens are laid out for a 128x64 landscape panel.
    rotation: Literal[0, 2] = 0
    contrast: int = 255
    dim_contrast: int = 8
    language: Language = "zh"
    font: FontName = "unifont"
    keypad: KeypadConfig = field(default_factory=KeypadConfig)
    leds: LedPins = field(default_factory=LedPins)
    buzzer_pin: int | None = 25
    # argon2 hash of the relay PIN (make one with `python -m gateway.panel.pin`); empty disables
    # relay actions on the panel. Only the hash is stored so a copied config does not leak the PIN.
    relay_pin_hash: str = ""
    pin_max_attempts: int = 3
    pin_lockout_s: int = 300
    dim_after_s: int = 60
    screensaver_after_s: int = 300
    topup_max_fen: int = 100_000
    backend_timeout_s: int = 60

    def __post_init__(self) -> None:
        if self.i2c_port < 0:
            raise ConfigError("i2c_port", "must be >= 0")
        if not 0x03 <= self.i2c_address <= 0x77:
            raise ConfigError("i2c_address", "must be a 7-bit I2C address (0x3C or 0x3D usually)")
        for key in ("contrast", "dim_contrast"):
            if not 0 <= getattr(self, key) <= 255:
                raise ConfigError(key, "must be 0..255")
        if self.relay_pin_hash and not self.relay_pin_hash.startswith("$argon2"):
            raise ConfigError(
                "relay_pin_hash",
                "must be an argon2 hash: run `python -m gateway.panel.pin` and paste its output",
            )
        if not 1 <= self.pin_max_attempts <= 10:
            raise ConfigError("pin_max_attempts", "must be 1..10")
        for key in ("pin_lockout_s", "dim_after_s", "screensaver_after_s"):
            if getattr(self, key) < 0:
                raise ConfigError(key, "must be >= 0 (0 turns it off)")
        if (
            self.dim_after_s
            and self.screensaver_after_s
            and (self.screensaver_after_s < self.dim_after_s)
        ):
            raise ConfigError("screensaver_after_s", "must not be shorter than dim_after_s")
        if not 1 <= self.topup_max_fen <= 100_000_000:
            raise ConfigError("topup_max_fen", "must be 1..100000000 (fen)")
        if not 1 <= self.backend_timeout_s <= 600:
            raise ConfigError("backend_timeout_s", "must be 1..600")
        self._check_pins()

    def _check_pins(self) -> None:
        used: dict[int, str] = {}
        pins = dict(self.keypad.pins())
        for name in ("heartbeat", "cloud", "alarm"):
            pin = getattr(self.leds, name)
            if pin is not None:
                pins[f"leds.{name}"] = pin
        if self.buzzer_pin is not None:
            pins["buzzer_pin"] = self.buzzer_pin
        for key, pin in pins.items():
            _check_pin(key, pin)
            if pin in used:
                raise ConfigError(key, f"GPIO {pin} is already used by {used[pin]}")
            used[pin] = key

    @property
    def relay_enabled(self) -> bool:
        return bool(self.relay_pin_hash)

    @property
    def topup_enabled(self) -> bool:
        # Amounts and PINs need digit keys; four navigation buttons are too slow and error-prone.
        return self.keypad.kind == "matrix4x4"
