"""The front panel: 128x64 OLED, keypad, status LEDs and buzzer (issue 8).

The gateway talks to it through two seams: it pushes `PanelState` snapshots with
`Panel.update()`, and it implements `PanelBackend` for the actions taken at the keypad.
"""

from gateway.panel.backend import (
    PANEL_OPERATOR,
    MeterInfo,
    PanelBackend,
    PanelOperation,
    RelayState,
    TopUpRequest,
    TopUpResult,
    VendStatus,
)
from gateway.panel.config import KeypadConfig, LedPins, NavPins, PanelConfig
from gateway.panel.errors import Message, PanelError
from gateway.panel.keys import Key
from gateway.panel.service import Panel
from gateway.panel.state import (
    AlarmItem,
    CloudLink,
    LastSale,
    MqttState,
    MqttStatus,
    NetInterface,
    PanelState,
)

__all__ = [
    "PANEL_OPERATOR",
    "AlarmItem",
    "CloudLink",
    "Key",
    "KeypadConfig",
    "LastSale",
    "LedPins",
    "Message",
    "MeterInfo",
    "MqttState",
    "MqttStatus",
    "NavPins",
    "NetInterface",
    "Panel",
    "PanelBackend",
    "PanelConfig",
    "PanelError",
    "PanelOperation",
    "PanelState",
    "RelayState",
    "TopUpRequest",
    "TopUpResult",
    "VendStatus",
]
