"""The per-site card key and the card MACs computed with it.

The gateway's configured site secret never leaves the gateway. What meters hold is the derived
32-byte site key; every MAC on a card is HMAC-SHA256 under that key over a label and the bytes it
protects, truncated to 8 bytes. The labels keep an issue MAC from ever verifying as a return MAC.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gateway.cards.errors import SiteKeyError

KEY_LABEL = b"prepaid-gateway/card-key/v1"
ISSUE_LABEL = b"PGC1/issue"
RETURN_LABEL = b"PGC1/return"
MAC_LEN = 8


@dataclass(frozen=True)
class SiteKey:
    """The 32-byte key that gateway and meters of one site share for card MACs."""

    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key) != 32:
            raise SiteKeyError(f"a site key is 32 bytes, got {len(self.key)}")

    def mac(self, label: bytes, data: bytes) -> bytes:
        return hmac.new(self.key, label + data, hashlib.sha256).digest()[:MAC_LEN]

    def check(self, label: bytes, data: bytes, mac: bytes) -> bool:
        return hmac.compare_digest(self.mac(label, data), mac)

    @property
    def fingerprint(self) -> str:
        """A short public identifier, to compare the key on gateway and meter without showing it."""
        return hashlib.sha256(b"fingerprint" + self.key).hexdigest()[:12]


def derive_site_key(site_secret: bytes) -> SiteKey:
    """site key = HMAC-SHA256(key = site secret, message = KEY_LABEL)."""
    if not site_secret:
        raise SiteKeyError("the site secret is empty")
    return SiteKey(hmac.new(site_secret, KEY_LABEL, hashlib.sha256).digest())


def load_site_key(source: str, environ: Mapping[str, str] | None = None) -> SiteKey:
    """Read the site secret from ``file:PATH``, ``env:NAME`` or ``secret:TEXT`` and derive the key.

    A file is read as bytes with surrounding whitespace stripped (a trailing newline from an
    editor must not change the key).
    """
    env = os.environ if environ is None else environ
    scheme, sep, rest = source.partition(":")
    if not sep or not rest:
        raise SiteKeyError(f"site key source {source!r} must be file:PATH, env:NAME or secret:TEXT")
    if scheme == "file":
        try:
            secret = Path(rest).read_bytes().strip()
        except OSError as exc:
            raise SiteKeyError(f"cannot read the site secret file {rest}: {exc.strerror}") from None
    elif scheme == "env":
        if rest not in env:
            raise SiteKeyError(f"environment variable {rest} (site secret) is not set")
        secret = env[rest].strip().encode()
    elif scheme == "secret":
        secret = rest.encode()
    else:
        raise SiteKeyError(f"unknown site key source {scheme!r}: use file:, env: or secret:")
    return derive_site_key(secret)
