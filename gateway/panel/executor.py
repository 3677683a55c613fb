"""Runs the menu's effects: backend calls with a timeout, the relay PIN check, the buzzer silence.

Every relay attempt is written to the operation log before anything else happens, accepted or
refused; if the log cannot be written the action is refused (a guarded action must leave a trace).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from gateway.panel import errors
from gateway.panel.backend import PANEL_OPERATOR, PanelAction, PanelBackend, PanelOperation
from gateway.panel.config import PanelConfig
from gateway.panel.effects import (
    AckAlarmsEffect,
    CountOutcome,
    Effect,
    FailedOutcome,
    LookupEffect,
    MeterOutcome,
    Outcome,
    ReadNowEffect,
    RelayEffect,
    RelayOutcome,
    SilenceEffect,
    TopUpEffect,
    TopUpOutcome,
)
from gateway.panel.pin import PinGuard, verify_pin

log = logging.getLogger(__name__)


class EffectRunner:
    def __init__(
        self,
        backend: PanelBackend,
        config: PanelConfig,
        *,
        clock: Callable[[], float],
        silence: Callable[[], int],
        unacknowledged: Callable[[], Sequence[str]],
        verify: Callable[[str, str], bool] = verify_pin,
    ) -> None:
        self._backend = backend
        self._config = config
        self._clock = clock
        self._silence = silence
        self._unacknowledged = unacknowledged
        self._verify = verify
        self.guard = PinGuard(config.pin_max_attempts, config.pin_lockout_s)

    async def run(self, effect: Effect) -> Outcome:
        try:
            async with asyncio.timeout(self._config.backend_timeout_s):
                return await self._run(effect)
        except errors.PanelError as exc:
            return FailedOutcome(exc.message)
        except Exception as exc:
            if isinstance(effect, TopUpEffect):
                # The sale may or may not have happened: only a retry with the same key is safe.
                log.warning("panel top-up %s: outcome unknown (%r)", effect.request, exc)
                return FailedOutcome(errors.outcome_unknown().message, retry=True)
            log.exception("panel action %r failed", effect)
            return FailedOutcome(errors.backend_failed().message)

    async def _run(self, effect: Effect) -> Outcome:
        backend = self._backend
        match effect:
            case LookupEffect():
                return MeterOutcome(await backend.lookup(effect.number))
            case ReadNowEffect():
                return MeterOutcome(await backend.read_now(effect.meter_no))
            case RelayEffect():
                return await self._relay(effect)
            case TopUpEffect():
                return TopUpOutcome(await backend.top_up(effect.request))
            case AckAlarmsEffect():
                ids = list(self._unacknowledged())
                return CountOutcome(await backend.acknowledge_alarms(ids, PANEL_OPERATOR))
            case SilenceEffect():
                return CountOutcome(self._silence())

    async def _relay(self, effect: RelayEffect) -> Outcome:
        action: PanelAction = "relay_on" if effect.close else "relay_off"

        async def record(accepted: bool, reason: str = "") -> None:
            entry = PanelOperation(action, effect.meter_no, accepted, reason)
            await self._backend.log_operation(entry)

        if not self._config.relay_enabled:
            await record(False, "disabled")
            raise errors.relay_disabled()
        locked = self.guard.locked_for(self._clock())
        if locked:
            await record(False, "locked")
            raise errors.pin_locked(locked)
        ok = await asyncio.to_thread(self._verify, self._config.relay_pin_hash, effect.pin)
        left = self.guard.record(ok, self._clock())
        await record(ok, "" if ok else "wrong_pin")
        if not ok:
            if left == 0:
                raise errors.pin_locked(self._config.pin_lockout_s)
            raise errors.wrong_pin(left)
        relay = await self._backend.set_relay(effect.meter_no, effect.close, PANEL_OPERATOR)
        return RelayOutcome(relay)
