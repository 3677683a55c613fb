"""The relay PIN: an argon2 hash in config, and a lockout after repeated wrong entries.

A 4-8 digit PIN is guessable from its hash offline, so the hash only keeps the PIN out of plain
sight in config files and backups; the lockout is what stops guessing at the keypad.
Make a hash with `python -m gateway.panel.pin` (asks for the PIN twice, prints the hash).
"""

from __future__ import annotations

import getpass
import sys

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


def hash_pin(pin: str, hasher: PasswordHasher | None = None) -> str:
    if not (pin.isdigit() and 4 <= len(pin) <= 8):
        raise ValueError("the relay PIN must be 4-8 digits")
    return (hasher or PasswordHasher()).hash(pin)


def verify_pin(pin_hash: str, pin: str) -> bool:
    """Blocking (argon2 is deliberately slow): call it through asyncio.to_thread."""
    try:
        return PasswordHasher().verify(pin_hash, pin)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class PinGuard:
    """Counts wrong PINs; after `max_attempts` in a row refuses every try for `lockout_s`."""

    def __init__(self, max_attempts: int, lockout_s: float) -> None:
        self._max = max_attempts
        self._lockout_s = lockout_s
        self._wrong = 0
        self._locked_until: float | None = None

    def locked_for(self, now: float) -> int:
        """Seconds left of a lockout (0 = not locked)."""
        if self._locked_until is None:
            return 0
        left = self._locked_until - now
        if left <= 0:
            self._locked_until = None
            self._wrong = 0
            return 0
        return max(1, int(left + 0.999))

    def record(self, ok: bool, now: float) -> int:
        """Record an attempt; returns how many tries are left before the lockout."""
        if ok:
            self._wrong = 0
            return self._max
        self._wrong += 1
        if self._wrong >= self._max:
            self._locked_until = now + self._lockout_s
            return 0
        return self._max - self._wrong


def main() -> int:
    pin = getpass.getpass("relay PIN (4-8 digits): ")
    if getpass.getpass("again: ") != pin:
        print("the two entries differ", file=sys.stderr)
        return 1
    try:
        print(hash_pin(pin))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    print("paste it as relay_pin_hash under [panel]", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
