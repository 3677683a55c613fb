"""The panel's only way into the gateway: the `PanelBackend` protocol and its value types.

The lead implements it on top of gateway/services. Every method may raise `PanelError` for an
operator error (the message is shown as is); any other exception is logged and shown as E808.
The panel wraps every call in a timeout (config `backend_timeout_s`).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

# Operator id the panel acts as in the operation log and the ledger.
PANEL_OPERATOR = "panel"


class RelayState(enum.Enum):
    CLOSED = "closed"  # supply on
    OPEN = "open"  # supply off
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class MeterInfo:
    """What a lookup or a read shows. Money in fen, energy in 0.01 kWh; None = not known."""

    meter_no: str
    customer_no: str = ""
    customer_name: str = ""
    balance_fen: int | None = None
    # Energy-type meter wallets hold kWh, not money.
    balance_centi_kwh: int | None = None
    relay: RelayState = RelayState.UNKNOWN
    last_reading_centi_kwh: int | None = None
    last_read_at: datetime | None = None


class VendStatus(enum.Enum):
    CONFIRMED = "confirmed"  # the meter took the credit
    QUEUED = "queued"  # recorded; the gateway delivers it when the meter answers
    UNCERTAIN = "uncertain"  # not known yet; recovery decides from the purchase count


@dataclass(frozen=True)
class TopUpRequest:
    meter_no: str
    amount_fen: int
    operator_pin: str = field(repr=False)
    # Same key = same sale: a repeated request returns the first result and sells nothing.
    idempotency_key: str
    operator: str = PANEL_OPERATOR


@dataclass(frozen=True)
class TopUpResult:
    status: VendStatus
    receipt_no: str
    meter_no: str
    amount_fen: int


PanelAction = Literal["relay_on", "relay_off"]


@dataclass(frozen=True)
class PanelOperation:
    """One guarded action attempted at the panel, for the operation log (accepted or not)."""

    action: PanelAction
    meter_no: str
    accepted: bool
    # Why it was refused: "wrong_pin", "locked", "disabled"; empty when accepted.
    reason: str = ""
    operator: str = PANEL_OPERATOR


class PanelBackend(Protocol):
    async def lookup(self, number: str) -> MeterInfo:
        """Find a meter by meter number or customer number (raises PanelError if none)."""
        ...

    async def read_now(self, meter_no: str) -> MeterInfo:
        """Read the meter now (operator priority on its bus) and return fresh values."""
        ...

    async def set_relay(self, meter_no: str, close: bool, operator: str) -> RelayState:
        """Close (supply on) or open the relay; returns the state the meter confirmed."""
        ...

    async def top_up(self, request: TopUpRequest) -> TopUpResult:
        """Sell credit through the exactly-once vend path; prints the receipt if configured."""
        ...

    async def acknowledge_alarms(self, alarm_ids: Sequence[str], operator: str) -> int:
        """Acknowledge alarms; returns how many were newly acknowledged."""
        ...

    async def log_operation(self, entry: PanelOperation) -> None:
        """Append a guarded-action attempt to the operation log."""
        ...
