"""What the LEDs and the buzzer do, as a pure function of the state and the time.

heartbeat  blinks at 1 Hz while the event loop runs: it is toggled from the loop on purpose,
           so a stuck loop shows as a frozen LED.
cloud      on = master station online, blinking = connecting, off = offline or not configured.
alarm      blinking = an alarm nobody has acknowledged, on = alarms all acknowledged, off = none.
buzzer     beeps (0.2 s every second) while an unacknowledged alarm is neither acknowledged
           (panel or web) nor silenced at the panel; a new alarm beeps again.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.panel.state import CloudLink, PanelState


@dataclass(frozen=True)
class Indicators:
    heartbeat: bool
    cloud: bool
    alarm: bool
    buzzer: bool


def _phase(t: float, period: float) -> float:
    return (t % period) / period


def indicator_outputs(state: PanelState, silenced: frozenset[str], t: float) -> Indicators:
    """Output levels at monotonic time `t` (seconds)."""
    blink_on = _phase(t, 1.0) < 0.5
    unacked = state.unacknowledged_ids()
    if state.cloud is CloudLink.ONLINE:
        cloud = True
    elif state.cloud is CloudLink.CONNECTING:
        cloud = blink_on
    else:
        cloud = False
    alarm = blink_on if unacked else bool(state.alarms)
    beeping = bool(unacked - silenced)
    return Indicators(
        heartbeat=blink_on,
        cloud=cloud,
        alarm=alarm,
        buzzer=beeping and _phase(t, 1.0) < 0.2,
    )


def silence(state: PanelState) -> frozenset[str]:
    """The alarm ids a press of "silence buzzer" covers: those unacknowledged right now."""
    return state.unacknowledged_ids()
