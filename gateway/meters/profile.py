"""Per-meter-type profiles: how to talk to one make and model of meter.

[[meter_types]]
name = "chint-ddsy666"
password_level = "02"
password = "000000"
operator = "00000000"
relay_form = "plaintext"       # plaintext | level98 (State Grid meters)
security_layout = "binary"     # 03H amount/count: binary (2013 supplement) | bcd (vendors)
mac_provider = "dummy"         # a name from [[mac_providers]], or "dummy"
supports_block_reads = true
purchase_count_length = 2      # bytes of 03330201: 2, or 4 on some meters
wallet = "money"               # money | energy | none (gateway wallet only)
wallet_query = "status_query"  # status_query (03H 078102FF) | reads (00900200 + 03330201)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from gateway.dlt645.commands import Password
from gateway.typedconfig import ConfigError

_HEX = re.compile(r"^[0-9A-Fa-f]+$")


@dataclass(frozen=True, slots=True)
class MeterProfile:
    name: str = "default"
    password_level: str = "02"
    password: str = "000000"
    operator: str = "00000000"
    relay_form: Literal["plaintext", "level98"] = "plaintext"
    security_layout: Literal["binary", "bcd"] = "binary"
    mac_provider: str = "dummy"
    supports_block_reads: bool = True
    purchase_count_length: Literal[2, 4] = 2
    wallet: Literal["money", "energy", "none"] = "money"
    wallet_query: Literal["status_query", "reads"] = "status_query"
    relay_valid_minutes: int = 60  # validity window of 1CH commands

    def __post_init__(self) -> None:
        if len(self.password_level) != 2 or not _HEX.match(self.password_level):
            raise ConfigError("password_level", "must be two hex digits such as '02' or '98'")
        if len(self.password) != 6 or not _HEX.match(self.password):
            raise ConfigError("password", "must be 6 hex digits, most significant first")
        if len(self.operator) != 8 or not _HEX.match(self.operator):
            raise ConfigError("operator", "must be 8 hex digits, most significant first")
        if not 1 <= self.relay_valid_minutes <= 7 * 24 * 60:
            raise ConfigError("relay_valid_minutes", "must be between 1 and 10080")

    @property
    def credentials(self) -> Password:
        return Password(int(self.password_level, 16), self.password.upper())


DEFAULT_PROFILE = MeterProfile()
