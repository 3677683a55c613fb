"""The snapshot the gateway hands the panel: everything the screens and LEDs show.

The lead fills a fresh `PanelState` whenever something changes (or once a second) and calls
`Panel.update()`. It is frozen and compared by value, which is how the panel knows when to redraw.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from gateway.panel.config import Language


class CloudLink(enum.Enum):
    """Whether the master station is reachable (drives the cloud LED)."""

    ONLINE = "online"
    CONNECTING = "connecting"
    OFFLINE = "offline"
    DISABLED = "disabled"


class MqttState(enum.Enum):
    CONNECTED = "connected"
    CONNECTING = "connecting"
    DISCONNECTED = "disconnected"
    DISABLED = "disabled"


@dataclass(frozen=True)
class AlarmItem:
    """One active alarm. `summary_*` is short: the panel has 16 half-width columns."""

    id: str
    meter_no: str
    summary_zh: str
    summary_en: str
    raised_at: datetime
    acknowledged: bool = False

    def summary(self, lang: Language) -> str:
        return self.summary_zh if lang == "zh" else self.summary_en


@dataclass(frozen=True)
class LastSale:
    at: datetime
    meter_no: str
    amount_fen: int
    receipt_no: str


@dataclass(frozen=True)
class NetInterface:
    name: str
    address: str


@dataclass(frozen=True)
class MqttStatus:
    state: MqttState = MqttState.DISABLED
    broker: str = ""
    # Last connection error, already short and human readable ("connection refused").
    detail: str = ""


@dataclass(frozen=True)
class PanelState:
    now: datetime | None = None
    site_name: str = ""
    meters_online: int = 0
    meters_total: int = 0
    alarms: tuple[AlarmItem, ...] = ()
    cloud: CloudLink = CloudLink.DISABLED
    outbox_depth: int = 0
    last_sale: LastSale | None = None
    ip_addresses: tuple[NetInterface, ...] = ()
    mqtt: MqttStatus = MqttStatus()
    language: Language = "zh"

    def unacknowledged_ids(self) -> frozenset[str]:
        return frozenset(a.id for a in self.alarms if not a.acknowledged)
