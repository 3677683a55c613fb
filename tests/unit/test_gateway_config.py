"""The documented example configuration is valid, and bad files name the key at fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.app import config
from gateway.typedconfig import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "gateway.example.toml"


def test_example_configuration_loads() -> None:
    loaded = config.load(EXAMPLE)
    assert [b.name for b in loaded.buses] == ["line1", "box-server", "dtu"]
    assert loaded.buses[2].dtus[0].meters[0] == "000000000101"
    assert loaded.web.tls
    assert loaded.printer.kind == "none" and loaded.printer.paper == 58


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[[buses]]\nname='a'\nkind='serial'\nport='/dev/x'\nbaud='fast'\n", "buses[0].baud"),
        ("[site]\ntimezone='Mars/Olympus'\n", "site.timezone"),
        ("[databse]\npath='x'\n", "databse"),
        ("[web]\nport=8080\ntls=false\nhost='0.0.0.0'\n", "web"),
        ("[printer]\nkind='usb'\n", "printer.kind"),
        ("[printer]\nkind='network'\n", "printer.host"),
        ("[printer]\nkind='network'\nhost='192.0.2.7'\npaper=76\n", "printer.paper"),
        ("[printer]\nkind='device'\npath='lp0'\n", "printer.path"),
        ("[printer]\nport=0\n", "printer.port"),
        ("[printer]\ncut='yes'\n", "printer.cut"),
    ],
)
def test_bad_configuration_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert info.value.key.startswith(key)


def test_not_toml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text("[site\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(path)


def test_a_bad_printer_value_says_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text("[printer]\nkind='network'\nhost='192.0.2.7'\npaper=76\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="must be one of 58, 80, got 76"):
        config.load(path)
    path.write_text("[printer]\nkind='network'\nhost='192.0.2.7'\nport=9101\n", encoding="utf-8")
    assert config.load(path).printer.target == "192.0.2.7:9101"
