"""The load relay of a prepaid meter: actual state, commanded state, why it is open.

Status word 3 reports two bits: the *actual* state (bit 4) and the *command* state (bit 6). They
differ in one case users meet daily: after "close allowed" (1B) the command is "closed" but the
relay stays open until the customer presses the meter's button.

Reasons a relay is open:
- ``remote``: a 1CH trip. Only a 1CH close (1B or 1C) clears it; a recharge does not.
- ``credit``: money (or energy) and overdraft are used up. A recharge that leaves more than the
  close-allowed amount closes it; the button does not.
- ``alarm2``: the balance fell to alarm amount 2. The customer may close it once with the
  button; a recharge above alarm 2 re-arms the stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

TripReason = Literal["remote", "credit", "alarm2"]
_REASONS: tuple[str, ...] = ("remote", "credit", "alarm2")


@dataclass
class Relay:
    open: bool = False
    command_open: bool = False
    reason: TripReason | None = None
    keep_power: bool = False
    alarm2_used: bool = False  # the alarm-2 stage fired since the last recharge above it
    remote_alarm: bool = False  # 2AH alarm on / 2BH alarm off

    def trip(self, reason: TripReason) -> None:
        self.open = True
        self.command_open = True
        self.reason = reason

    def close(self) -> None:
        self.open = False
        self.command_open = False
        self.reason = None

    def allow_close(self) -> None:
        """1B: the command becomes "closed"; an open relay waits for the button."""
        self.command_open = False
        self.reason = None

    @property
    def awaiting_button(self) -> bool:
        return self.open and (not self.command_open or self.reason == "alarm2")

    def press_button(self) -> bool:
        """The customer presses the button. True when that closed the relay."""
        if not self.awaiting_button:
            return False
        self.close()
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "open": self.open,
            "command_open": self.command_open,
            "reason": self.reason,
            "keep_power": self.keep_power,
            "alarm2_used": self.alarm2_used,
            "remote_alarm": self.remote_alarm,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Relay:
        reason = data.get("reason")
        if reason is not None and reason not in _REASONS:
            raise ValueError(f"relay reason {reason!r} is not one of {', '.join(_REASONS)}")
        return cls(
            open=bool(data.get("open", False)),
            command_open=bool(data.get("command_open", False)),
            reason=cast("TripReason | None", reason),
            keep_power=bool(data.get("keep_power", False)),
            alarm2_used=bool(data.get("alarm2_used", False)),
            remote_alarm=bool(data.get("remote_alarm", False)),
        )
