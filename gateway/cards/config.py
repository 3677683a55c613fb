"""The ``[cards]`` configuration section."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gateway.typedconfig import ConfigError

Backend = Literal["auto", "cpu", "sle4442"]


@dataclass(frozen=True)
class CardReaderConfig:
    """Which reader to use, where the site secret comes from, and which card medium to expect.

    ``reader``: part of the PC/SC reader name ("ACS ACR38U", "00 01"); empty means the only
    reader connected. ``site_key``: ``file:PATH`` / ``env:NAME`` / ``secret:TEXT``.
    ``backend``: ``auto`` recognises the medium from the card's ATR; ``cpu`` or ``sle4442``
    refuse any other medium. ``sle4442_psc``: the 3-byte PSC of the site's memory cards (hex).
    ``connect_retry_ms``: how long to retry connecting right after an insert (pcscd may still be
    powering the card).
    """

    reader: str = ""
    site_key: str = "file:/var/lib/prepaid-gateway/site-secret"
    backend: Backend = "auto"
    sle4442_psc: str = "FFFFFF"
    connect_retry_ms: int = 800

    def __post_init__(self) -> None:
        scheme = self.site_key.partition(":")[0]
        if scheme not in ("file", "env", "secret") or ":" not in self.site_key:
            raise ConfigError("site_key", "must be file:PATH, env:NAME or secret:TEXT")
        try:
            psc = bytes.fromhex(self.sle4442_psc)
        except ValueError:
            raise ConfigError("sle4442_psc", "must be 6 hex digits, e.g. FFFFFF") from None
        if len(psc) != 3:
            raise ConfigError("sle4442_psc", "must be 6 hex digits (3 bytes), e.g. FFFFFF")
        if not 0 <= self.connect_retry_ms <= 10_000:
            raise ConfigError("connect_retry_ms", "must be between 0 and 10000")

    @property
    def psc(self) -> bytes:
        return bytes.fromhex(self.sle4442_psc)
