"""Meter addresses: 12 digits, low byte first on the wire; A nibbles are wildcards."""

from __future__ import annotations

from functools import lru_cache

from gateway.dlt645.errors import ValueFormatError

BROADCAST = "999999999999"
WILDCARD = "AAAAAAAAAAAA"
_ALLOWED = frozenset("0123456789A")


@lru_cache(maxsize=65536)
def normalise(address: str) -> str:
    """Upper-case, left-padded to 12 characters; raise on anything but digits and A."""
    text = address.strip().upper()
    if not text or len(text) > 12 or not _ALLOWED.issuperset(text):
        raise ValueFormatError(f"meter address {address!r} must be up to 12 digits")
    return text.rjust(12, "0")


@lru_cache(maxsize=65536)
def to_wire(address: str) -> bytes:
    return bytes.fromhex(normalise(address))[::-1]


@lru_cache(maxsize=65536)
def from_wire(raw: bytes) -> str:
    return raw[::-1].hex().upper()


def matches(pattern: str, address: str) -> bool:
    """Does a request address (possibly with A wildcards) select this meter's address?"""
    if pattern == address:
        return True
    return "A" in pattern and all(p in ("A", a) for p, a in zip(pattern, address, strict=True))
