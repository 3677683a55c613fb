"""Operator password hashing with argon2id (argon2-cffi, RFC 9106 low-memory parameters).

Hashing and verifying take tens of milliseconds of CPU and 64 MiB on purpose: call the
``*_async`` variants from the event loop (they run in a thread).
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from gateway.store.errors import WeakPasswordError

DEFAULT_OPERATOR = "operator"
DEFAULT_PASSWORD = "00000000"  # the manual's factory password; must be changed at first login
MIN_LENGTH = 8
MAX_LENGTH = 128

_hasher = PasswordHasher()


def check_strength(password: str) -> None:
    """The rules for a new password (E313)."""
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(
            f"password has {len(password)} characters, needs at least {MIN_LENGTH}"
        )
    if len(password) > MAX_LENGTH:
        raise WeakPasswordError(f"password is longer than {MAX_LENGTH} characters")
    if password == DEFAULT_PASSWORD:
        raise WeakPasswordError("the factory password cannot be chosen again")
    if password.strip() != password:
        raise WeakPasswordError("password must not start or end with spaces")


def hash_password(password: str) -> str:
    return str(_hasher.hash(password))


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(password_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return bool(_hasher.check_needs_rehash(password_hash))


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password_hash: str, password: str) -> bool:
    return await asyncio.to_thread(verify_password, password_hash, password)
