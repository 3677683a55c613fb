"""Requests the menu makes of the outside world, and the outcomes fed back to it.

The state machine never awaits: a key press returns at most one effect, the panel service runs it
(against the backend, the PIN guard, the buzzer) and hands the outcome back with `complete()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.panel.backend import MeterInfo, RelayState, TopUpRequest, TopUpResult
from gateway.panel.errors import Message


@dataclass(frozen=True)
class LookupEffect:
    number: str


@dataclass(frozen=True)
class ReadNowEffect:
    meter_no: str


@dataclass(frozen=True)
class RelayEffect:
    meter_no: str
    close: bool
    pin: str = field(repr=False)


@dataclass(frozen=True)
class TopUpEffect:
    request: TopUpRequest


@dataclass(frozen=True)
class AckAlarmsEffect:
    pass


@dataclass(frozen=True)
class SilenceEffect:
    pass


Effect = LookupEffect | ReadNowEffect | RelayEffect | TopUpEffect | AckAlarmsEffect | SilenceEffect


@dataclass(frozen=True)
class MeterOutcome:
    info: MeterInfo


@dataclass(frozen=True)
class RelayOutcome:
    relay: RelayState


@dataclass(frozen=True)
class TopUpOutcome:
    result: TopUpResult


@dataclass(frozen=True)
class CountOutcome:
    """Alarms acknowledged or silenced."""

    count: int


@dataclass(frozen=True)
class FailedOutcome:
    message: Message
    # The outcome is unknown (timeout, vend uncertain): offer to resend with the same key.
    retry: bool = False


Outcome = MeterOutcome | RelayOutcome | TopUpOutcome | CountOutcome | FailedOutcome
