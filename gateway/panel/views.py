"""What is on screen, as values: the menu state machine produces them, the renderers draw them.

A view plus the `PanelState` is everything a screen depends on, so comparing the pair tells the
panel whether to redraw.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from gateway.panel.backend import MeterInfo
from gateway.panel.errors import Message


class MenuItem(enum.Enum):
    STATUS = "menu.status"
    ALARMS = "menu.alarms"
    LOOKUP = "menu.lookup"
    NETWORK = "menu.network"
    SILENCE = "menu.silence"
    TOPUP = "menu.topup"
    READ_NOW = "menu.read_now"
    RELAY_ON = "menu.relay_on"
    RELAY_OFF = "menu.relay_off"
    METER_TOPUP = "menu.meter_topup"


class EntryPurpose(enum.Enum):
    LOOKUP = "entry.lookup"
    RELAY_PIN = "entry.relay_pin"
    TOPUP_METER = "entry.topup_meter"
    TOPUP_AMOUNT = "entry.topup_amount"
    TOPUP_PIN = "entry.topup_pin"

    @property
    def secret(self) -> bool:
        return self in (EntryPurpose.RELAY_PIN, EntryPurpose.TOPUP_PIN)


# On four-button keypads the cursor cycles through the digits and this "done" mark.
DONE_MARK = "√"


@dataclass(frozen=True)
class StatusView:
    pass


@dataclass(frozen=True)
class AlarmsView:
    selected: int = 0


@dataclass(frozen=True)
class NetworkView:
    first: int = 0


@dataclass(frozen=True)
class MenuView:
    # The looked-up meter's number for its action menu, None for the main menu.
    meter_no: str | None
    items: tuple[MenuItem, ...]
    selected: int = 0


@dataclass(frozen=True)
class EntryView:
    purpose: EntryPurpose
    value: str = field(default="", repr=False)
    # Four-button keypads: the character under the cursor (a digit or DONE_MARK); None on a matrix.
    cursor: str | None = None


@dataclass(frozen=True)
class MeterView:
    info: MeterInfo


@dataclass(frozen=True)
class ConfirmTopUpView:
    meter_no: str
    amount_fen: int


@dataclass(frozen=True)
class BusyView:
    pass


@dataclass(frozen=True)
class MessageView:
    message: Message
    ok: bool
    first: int = 0
    # OK repeats the last request with the same idempotency key (outcome was unknown).
    can_retry: bool = False


View = (
    StatusView
    | AlarmsView
    | NetworkView
    | MenuView
    | EntryView
    | MeterView
    | ConfirmTopUpView
    | BusyView
    | MessageView
)
