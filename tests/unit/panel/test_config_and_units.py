"""The [panel] config section and the money/energy text at the panel's edge."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.panel import PanelConfig
from gateway.panel.errors import PanelError
from gateway.panel.fonts import _SPECS, FontNotFoundError, load_font
from gateway.panel.pin import PinGuard, verify_pin
from gateway.panel.units import format_centi_kwh, format_fen, parse_amount_fen
from gateway.typedconfig import ConfigError, from_dict
from tests.unit.panel.conftest import RELAY_PIN


def test_a_full_panel_section_loads(relay_pin_hash: str) -> None:
    cfg = from_dict(
        PanelConfig,
        {
            "driver": "sh1106",
            "i2c_address": 0x3D,
            "rotation": 2,
            "language": "en",
            "keypad": {"kind": "matrix4x4", "rows": [5, 6, 12, 13], "cols": [16, 19, 20, 21]},
            "leds": {"heartbeat": 22, "cloud": 23, "alarm": 24},
            "buzzer_pin": 25,
            "relay_pin_hash": relay_pin_hash,
            "dim_after_s": 30,
        },
        "panel",
    )
    assert cfg.driver == "sh1106" and cfg.i2c_address == 0x3D
    assert cfg.keypad.rows == (5, 6, 12, 13)
    assert cfg.relay_enabled and cfg.topup_enabled


@pytest.mark.parametrize(
    ("data", "key", "words"),
    [
        ({"leds": {"alarm": 5}}, "panel.leds.alarm", "already used by keypad.nav.up"),
        ({"buzzer_pin": 40}, "panel.buzzer_pin", "not a BCM pin"),
        ({"keypad": {"kind": "matrix4x4", "rows": [5, 6]}}, "panel.keypad.rows", "exactly 4"),
        ({"rotation": 1}, "panel.rotation", "must be one of"),
        ({"relay_pin_hash": "1234"}, "panel.relay_pin_hash", "argon2 hash"),
        ({"contrast": 300}, "panel.contrast", "0..255"),
        ({"dim_after_s": 600, "screensaver_after_s": 60}, "panel.screensaver_after_s", "shorter"),
        ({"i2c_adress": 60}, "panel.i2c_adress", "unknown key"),
    ],
)
def test_config_mistakes_name_the_key(data: dict[str, object], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        from_dict(PanelConfig, data, "panel")
    assert err.value.key == key
    assert words in err.value.problem


def test_relay_pin_hash_verifies_only_the_pin(relay_pin_hash: str) -> None:
    assert verify_pin(relay_pin_hash, RELAY_PIN)
    assert not verify_pin(relay_pin_hash, "0000")
    assert not verify_pin("not a hash", RELAY_PIN)


def test_pin_guard_locks_after_the_limit_and_unlocks_after_the_time() -> None:
    guard = PinGuard(max_attempts=2, lockout_s=60)
    assert guard.record(False, now=0) == 1
    assert guard.record(False, now=1) == 0
    assert guard.locked_for(now=2) == 59
    assert guard.locked_for(now=61) == 0
    assert guard.record(False, now=62) == 1  # a fresh count after the lockout


def test_missing_font_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _SPECS["unifont"]
    monkeypatch.setitem(
        _SPECS, "unifont", type(spec)(("/nonexistent/unifont.otf",), 0, 16, 16, 0, "fonts-unifont")
    )
    load_font.cache_clear()
    try:
        with pytest.raises(FontNotFoundError) as err:
            load_font("unifont")
        assert err.value.code == "E810" and "fonts-unifont" in err.value.message.en
    finally:
        load_font.cache_clear()


def test_money_and_energy_text() -> None:
    assert format_fen(12345) == "¥123.45"
    assert format_fen(5) == "¥0.05"
    assert format_fen(-320) == "-¥3.20"
    assert format_centi_kwh(123456) == "1234.56kWh"
    assert format_centi_kwh(-5) == "-0.05kWh"


@given(st.integers(1, 10**8))
def test_typed_amounts_parse_to_exact_fen(fen: int) -> None:
    typed = format_fen(fen)[1:].replace(".", "*")
    assert parse_amount_fen(typed, max_fen=10**8) == fen


@pytest.mark.parametrize("typed", ["", "*", "0", "0*00", "1*2*3", "1*005", "12a"])
def test_malformed_amounts_are_e804(typed: str) -> None:
    with pytest.raises(PanelError) as err:
        parse_amount_fen(typed, max_fen=10**6)
    assert err.value.code == "E804"


def test_amount_above_the_panel_limit_is_e805() -> None:
    with pytest.raises(PanelError) as err:
        parse_amount_fen("1000*01", max_fen=100_000)
    assert err.value.code == "E805" and "¥1000.00" in err.value.message.en
