"""Login throttling per operator name and per client address, with doubling lockouts.

After ``max_failures`` failed logins for a name (or from an address) every further failure
locks that key for ``base`` seconds, doubling up to ``cap``. A success clears the name's count;
the address's count only decays, so one valid account cannot be used to reset it. The store's
own lock (E315 after many failures) still applies on top: this only slows guessing down.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_KEYS = 10_000  # bound the memory an attacker cycling addresses can make us use
FORGET_AFTER = timedelta(hours=1)


@dataclass
class _Record:
    failures: int
    last_failure: datetime
    locked_until: datetime | None


class LoginThrottle:
    def __init__(
        self,
        clock: Callable[[], datetime],
        *,
        max_failures: int,
        base_seconds: int,
        cap_seconds: int,
    ) -> None:
        self._clock = clock
        self._max = max_failures
        self._base = base_seconds
        self._cap = cap_seconds
        self._records: OrderedDict[str, _Record] = OrderedDict()

    @staticmethod
    def _keys(name: str, address: str) -> tuple[str, str]:
        return f"name:{name.strip().casefold()}", f"addr:{address}"

    def wait_seconds(self, name: str, address: str) -> int:
        """Seconds until a login for ``name`` from ``address`` may be tried (0: now)."""
        now = self._clock()
        wait = 0.0
        for key in self._keys(name, address):
            record = self._records.get(key)
            if record is None:
                continue
            if now - record.last_failure > FORGET_AFTER:
                del self._records[key]
                continue
            if record.locked_until is not None and record.locked_until > now:
                wait = max(wait, (record.locked_until - now).total_seconds())
        return int(wait) + (1 if wait % 1 else 0)

    def failure(self, name: str, address: str) -> None:
        now = self._clock()
        for key in self._keys(name, address):
            record = self._records.pop(key, None)
            if record is None or now - record.last_failure > FORGET_AFTER:
                record = _Record(0, now, None)
            record.failures += 1
            record.last_failure = now
            over = record.failures - self._max
            if over >= 0:
                seconds = min(self._cap, self._base * (2 ** min(over, 20)))
                record.locked_until = now + timedelta(seconds=seconds)
            self._records[key] = record
        while len(self._records) > MAX_KEYS:
            self._records.popitem(last=False)

    def success(self, name: str, address: str) -> None:
        self._records.pop(self._keys(name, address)[0], None)
