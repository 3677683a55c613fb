"""The gateway's configuration file (TOML): one section per part, each validated at start.

Errors name the key and the problem (``config key 'buses[0].baud': must be an integer``), so a
technician editing /etc/prepaid-gateway/gateway.toml in the cabinet knows what to fix. The
documented example is docs/gateway.example.toml.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.appliance.config import UpdateConfig
from gateway.cards.config import CardReaderConfig
from gateway.link.config import BusConfig, check_buses
from gateway.meters.mac import MacProviderConfig
from gateway.panel.config import PanelConfig
from gateway.reading.config import ReadingConfig
from gateway.sync.config import MqttConfig
from gateway.typedconfig import ConfigError, from_dict
from web.config import PrinterConfig, WebConfig

DEFAULT_PATH = "/etc/prepaid-gateway/gateway.toml"


@dataclass(frozen=True)
class SiteConfig:
    id: str = "site1"
    name: str = ""
    # Local time for tariff periods, friendly-credit windows and receipts.
    timezone: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError("timezone", f"unknown time zone {self.timezone!r}") from None


@dataclass(frozen=True)
class DatabaseConfig:
    path: str = "/var/lib/prepaid-gateway/gateway.sqlite"
    backup_dir: str = "/var/lib/prepaid-gateway/backups"
    busy_timeout_ms: int = 5000
    readers: int = 2  # read-only connections: the UI's queries run beside a vend's commit


@dataclass(frozen=True)
class GatewayConfig:
    site: SiteConfig = field(default_factory=SiteConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    buses: tuple[BusConfig, ...] = ()
    mac_providers: tuple[MacProviderConfig, ...] = ()
    web: WebConfig = field(default_factory=WebConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    cards: CardReaderConfig = field(default_factory=CardReaderConfig)
    panel: PanelConfig = field(default_factory=PanelConfig)
    update: UpdateConfig = field(default_factory=UpdateConfig)
    reading: ReadingConfig = field(default_factory=ReadingConfig)
    printer: PrinterConfig = field(default_factory=PrinterConfig)

    def __post_init__(self) -> None:
        check_buses(self.buses)


def parse(data: dict[str, Any]) -> GatewayConfig:
    return from_dict(GatewayConfig, data)


def load(path: str | Path) -> GatewayConfig:
    """Read and validate; raises ConfigError (naming the key) or OSError."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("<file>", f"{file}: not valid TOML: {exc}") from None
    return parse(data)
