"""Relay commands that must take effect: 1CH, read back status word 3, retry within a limit.

The driver already reads status word 3 after every 1CH and says when the relay did not do what
was commanded. This adds the retry policy the enforcement needs:

- a refusal (abnormal reply: wrong password, keep-power, command past valid-until) is final for
  this round: the meter said no, and asking again at once changes nothing;
- a read-back that shows no effect is retried (a relay may be slow to move);
- a lost reply is checked by reading status word 3 before any resend (the command may have been
  carried out even though its answer was lost).

A failed round is not the end: the decision is made again at the next reading.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.dlt645.commands import RelayAction
from gateway.link.errors import LinkError
from gateway.link.priority import Priority
from gateway.meters.driver import MeterDriver
from gateway.meters.errors import MeterDriverError, MeterRefusedError, ReadbackMismatchError
from gateway.meters.relay_state import RelayState, readback_problem


@dataclass(frozen=True, slots=True)
class RelayOutcome:
    ok: bool
    done: tuple[RelayAction, ...]  # actions confirmed by read-back, in order
    state: RelayState | None  # the last status word 3 seen
    error: str = ""  # code and message of the failure
    refused: bool = False  # the meter refused, or did not act after every attempt
    attempts: int = 0


async def command(
    driver: MeterDriver,
    actions: Sequence[RelayAction],
    *,
    attempts: int = 3,
    priority: Priority = Priority.ALARM,
) -> RelayOutcome:
    """Carry out ``actions`` in order; stop at the first that cannot be confirmed."""
    done: list[RelayAction] = []
    state: RelayState | None = None
    used = 0
    for action in actions:
        confirmed = False
        error = ""
        refused = False
        for _ in range(attempts):
            used += 1
            try:
                state = (await driver.relay(action, priority=priority)).state
                confirmed = True
                break
            except MeterRefusedError as exc:
                return RelayOutcome(False, tuple(done), state, f"{exc.code} {exc}", True, used)
            except ReadbackMismatchError as exc:
                error, refused = f"{exc.code} {exc}", True
            except (LinkError, MeterDriverError) as exc:
                error, refused = f"{getattr(exc, 'code', 'E139')} {exc}", False
                try:
                    state = await driver.relay_state(priority=priority)
                except (LinkError, MeterDriverError):
                    continue
                if readback_problem(action, state) is None:
                    confirmed = True  # carried out; only its answer was lost
                    break
        if not confirmed:
            return RelayOutcome(False, tuple(done), state, error, refused, used)
        done.append(action)
    return RelayOutcome(True, tuple(done), state, "", False, used)
