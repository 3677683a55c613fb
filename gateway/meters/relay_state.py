"""Status word 3 (04000503) as relay state, and what each 1CH action must leave behind."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.dlt645 import dataids as ids
from gateway.dlt645.commands import RelayAction

METER_TYPES = {0b00: "not prepaid", 0b01: "energy prepaid", 0b10: "money prepaid"}


@dataclass(frozen=True, slots=True)
class RelayState:
    status_word_3: int

    def _bit(self, mask: int) -> bool:
        return bool(self.status_word_3 & mask)

    @property
    def relay_open(self) -> bool:
        """The actual contact state: True = supply cut."""
        return self._bit(ids.SW3_RELAY_OPEN)

    @property
    def command_open(self) -> bool:
        """The commanded state: False with an open relay = waiting for the customer's button."""
        return self._bit(ids.SW3_RELAY_COMMAND_OPEN)

    @property
    def alarm(self) -> bool:
        return self._bit(ids.SW3_PRETRIP_ALARM)

    @property
    def keep_power(self) -> bool:
        return self._bit(ids.SW3_KEEP_POWER)

    @property
    def account_opened(self) -> bool:
        return self._bit(ids.SW3_ACCOUNT_OPENED)

    @property
    def meter_type(self) -> str:
        bits = (self.status_word_3 >> ids.SW3_METER_TYPE_SHIFT) & 0b11
        return METER_TYPES.get(bits, "unknown")

    def describe(self) -> str:
        if self.relay_open and not self.command_open:
            relay = "open, close allowed (waiting for the button)"
        elif self.relay_open:
            relay = "open (tripped)"
        elif self.command_open:
            relay = "closed, trip commanded"
        else:
            relay = "closed"
        flags = [f"relay {relay}"]
        flags.append("keep-power on" if self.keep_power else "keep-power off")
        flags.append("alarm on" if self.alarm else "alarm off")
        return ", ".join(flags)

    def __str__(self) -> str:
        return f"{self.describe()} (status word 3 = {self.status_word_3:04X})"


def readback_problem(action: RelayAction, state: RelayState) -> str | None:
    """Why ``state`` shows that ``action`` did not take effect, or None when it did.

    Alarm-off is not checked: the same bit also reports the meter's own low-balance alarm.
    """
    if action == RelayAction.TRIP and not (state.command_open or state.relay_open):
        return "trip commanded but the relay is still closed"
    if action == RelayAction.CLOSE_DIRECT and state.relay_open:
        return "direct close commanded but the relay is still open"
    if action == RelayAction.CLOSE_ALLOWED and state.command_open:
        return "close allowed commanded but the meter still commands the relay open"
    if action == RelayAction.ALARM_ON and not state.alarm:
        return "alarm on commanded but the alarm bit is clear"
    if action == RelayAction.KEEP_POWER_ON and not state.keep_power:
        return "keep-power on commanded but the keep-power bit is clear"
    if action == RelayAction.KEEP_POWER_OFF and state.keep_power:
        return "keep-power off commanded but the keep-power bit is still set"
    return None
