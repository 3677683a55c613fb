"""MAC providers for 03H recharges and level-98 relay commands (pluggable per meter type).

- ``DummyMac``: zero MACs (and a null relay cipher), for low-cost meters that check nothing.
- ``SoftwareKeyMac``: a documented HMAC/AES stand-in for a software ESAM. Each meter gets its
  own key, derived from the site master key and the meter address (like an ESAM's dispersed
  keys). It is *not* a State Grid algorithm: only meters (and the simulator) programmed with
  the same scheme accept it. ``verify_recharge`` and ``open_relay`` are the meter side.
- ``EncryptionMachineMac``: asks the utility's encryption-machine service over HTTP; without a
  configured endpoint every call fails with a clear E134 error.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from gateway.dlt645 import address as addr
from gateway.dlt645 import values as v
from gateway.dlt645.commands import RelayAction, bcd_datetime
from gateway.meters.errors import MacUnavailableError
from gateway.typedconfig import ConfigError

ZERO_MAC = b"\x00\x00\x00\x00"


@dataclass(frozen=True, slots=True)
class RechargeMacRequest:
    meter_address: str
    di: int  # 070101FF open account or 070102FF recharge
    amount: int  # fen (money wallet) or 0.01 kWh (energy wallet)
    purchase_count: int
    customer_number: str


@dataclass(frozen=True, slots=True)
class RelayCipherRequest:
    meter_address: str
    action: RelayAction
    valid_until: dt.datetime


class MacProvider(Protocol):
    @property
    def name(self) -> str: ...

    async def recharge_macs(self, request: RechargeMacRequest) -> tuple[bytes, bytes]:
        """(MAC1, MAC2), 4 bytes each."""
        ...

    async def relay_cipher(self, request: RelayCipherRequest) -> tuple[bytes, bytes]:
        """(ciphertext of 16 bytes, MAC of 4 bytes) for a level-98 1CH command."""
        ...


class DummyMac:
    """Zero MACs, and a null cipher for level-98 relay commands (N1..N8 padded to 16 bytes).

    For meters without ESAM keys that still want the level-98 layout (and the simulator).
    """

    name = "dummy"

    async def recharge_macs(self, request: RechargeMacRequest) -> tuple[bytes, bytes]:
        return ZERO_MAC, ZERO_MAC

    async def relay_cipher(self, request: RelayCipherRequest) -> tuple[bytes, bytes]:
        block = bytes([int(request.action), 0]) + bcd_datetime(request.valid_until)
        return block.ljust(16, b"\x00"), ZERO_MAC


class SoftwareKeyMac:
    """HMAC-SHA256 MACs and AES-128 relay ciphertext under a per-meter key.

    meter key = HMAC-SHA256(master, "meter" || address on the wire)[:16]
    MAC1 = HMAC-SHA256(meter key, "R1" || DI || amount LE4 || count LE4)[:4]
    MAC2 = HMAC-SHA256(meter key, "R2" || customer BCD6 || MAC1)[:4]
    relay block = N1 || 00 || valid-until (ss mm hh DD MM YY) || 8 x 00, AES-128-ECB encrypted
    relay MAC = HMAC-SHA256(meter key, "RC" || ciphertext)[:4]
    """

    def __init__(self, master_key: bytes, name: str = "software_key") -> None:
        if len(master_key) < 16:
            raise ValueError("the software master key must be at least 16 bytes")
        self._master = master_key
        self.name = name

    def meter_key(self, meter_address: str) -> bytes:
        wire = addr.to_wire(meter_address)
        return hmac.digest(self._master, b"meter" + wire, hashlib.sha256)[:16]

    def _macs(self, request: RechargeMacRequest) -> tuple[bytes, bytes]:
        key = self.meter_key(request.meter_address)
        body = (
            request.di.to_bytes(4, "little")
            + v.binary_encode(request.amount, 4)
            + v.binary_encode(request.purchase_count, 4)
        )
        mac1 = hmac.digest(key, b"R1" + body, hashlib.sha256)[:4]
        customer = v.digits_encode(request.customer_number, 6)
        mac2 = hmac.digest(key, b"R2" + customer + mac1, hashlib.sha256)[:4]
        return mac1, mac2

    async def recharge_macs(self, request: RechargeMacRequest) -> tuple[bytes, bytes]:
        return self._macs(request)

    def verify_recharge(self, request: RechargeMacRequest, mac1: bytes, mac2: bytes) -> bool:
        """The meter side: do these MACs belong to this request?"""
        good1, good2 = self._macs(request)
        return hmac.compare_digest(good1 + good2, mac1 + mac2)

    async def relay_cipher(self, request: RelayCipherRequest) -> tuple[bytes, bytes]:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        key = self.meter_key(request.meter_address)
        block = bytes([int(request.action), 0]) + bcd_datetime(request.valid_until) + bytes(8)
        encryptor = Cipher(
            algorithms.AES(key), modes.ECB()
        ).encryptor()  # one block: ECB is the ESAM's own mode
        ciphertext = encryptor.update(block) + encryptor.finalize()
        return ciphertext, hmac.digest(key, b"RC" + ciphertext, hashlib.sha256)[:4]

    def open_relay(self, meter_address: str, ciphertext: bytes, mac: bytes) -> tuple[int, bytes]:
        """The meter side: (N1, valid-until BCD) from a level-98 command; ValueError if forged."""
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        key = self.meter_key(meter_address)
        good = hmac.digest(key, b"RC" + ciphertext, hashlib.sha256)[:4]
        if not hmac.compare_digest(good, mac):
            raise ValueError("relay MAC does not verify")
        decryptor = Cipher(algorithms.AES(key), modes.ECB()).decryptor()
        block = decryptor.update(ciphertext) + decryptor.finalize()
        return block[0], block[2:8]


class EncryptionMachineMac:
    """Client of an encryption-machine service: POST JSON, get hex MACs back.

    Request ``{"op": "recharge", "meter": "000000000001", "di": "070102FF", "amount": 1000,
    "count": 3, "customer": "000000000042"}`` → ``{"mac1": "1A2B3C4D", "mac2": "..."}``;
    ``{"op": "relay", "meter": ..., "action": "1A", "valid_until": "2026-08-15T12:00:00"}`` →
    ``{"ciphertext": "<32 hex>", "mac": "<8 hex>"}``.
    """

    def __init__(self, url: str = "", *, timeout_s: float = 5.0, name: str = "encryption_machine"):
        self.url = url
        self.timeout_s = timeout_s
        self.name = name

    async def _call(self, payload: Mapping[str, Any], meter: str) -> dict[str, Any]:
        if not self.url:
            raise MacUnavailableError(
                f"MAC provider {self.name!r}: the encryption machine endpoint is not configured",
                address=meter,
            )
        import aiohttp

        try:
            timeout = aiohttp.ClientTimeout(total=self.timeout_s)
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(self.url, json=dict(payload)) as response,
            ):
                if response.status != 200:
                    raise MacUnavailableError(
                        f"encryption machine answered HTTP {response.status}", address=meter
                    )
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
            raise MacUnavailableError(
                f"encryption machine at {self.url} unreachable or invalid: {exc!r}", address=meter
            ) from exc
        if not isinstance(answer, dict):
            raise MacUnavailableError(
                "encryption machine answer is not a JSON object", address=meter
            )
        return answer

    @staticmethod
    def _hex(answer: Mapping[str, Any], key: str, size: int, meter: str) -> bytes:
        value = answer.get(key)
        if not isinstance(value, str) or not re.fullmatch(rf"[0-9A-Fa-f]{{{size * 2}}}", value):
            raise MacUnavailableError(
                f"encryption machine answer lacks {key} as {size * 2} hex digits", address=meter
            )
        return bytes.fromhex(value)

    async def recharge_macs(self, request: RechargeMacRequest) -> tuple[bytes, bytes]:
        meter = request.meter_address
        answer = await self._call(
            {
                "op": "recharge",
                "meter": meter,
                "di": f"{request.di:08X}",
                "amount": request.amount,
                "count": request.purchase_count,
                "customer": request.customer_number,
            },
            meter,
        )
        return self._hex(answer, "mac1", 4, meter), self._hex(answer, "mac2", 4, meter)

    async def relay_cipher(self, request: RelayCipherRequest) -> tuple[bytes, bytes]:
        meter = request.meter_address
        answer = await self._call(
            {
                "op": "relay",
                "meter": meter,
                "action": f"{int(request.action):02X}",
                "valid_until": request.valid_until.isoformat(),
            },
            meter,
        )
        return self._hex(answer, "ciphertext", 16, meter), self._hex(answer, "mac", 4, meter)


@dataclass(frozen=True, slots=True)
class MacProviderConfig:
    """``[[mac_providers]]``: name = "site-key", kind = "software_key", key_file = "/etc/..."."""

    name: str
    kind: Literal["dummy", "software_key", "encryption_machine"]
    key_hex: str = ""
    key_file: str = ""
    url: str = ""
    timeout_ms: int = 5000

    def __post_init__(self) -> None:
        if self.kind == "software_key":
            if bool(self.key_hex) == bool(self.key_file):
                raise ConfigError("key_hex", "give exactly one of key_hex or key_file")
            if self.key_hex and not re.fullmatch(r"([0-9A-Fa-f]{2}){16,64}", self.key_hex):
                raise ConfigError("key_hex", "must be 32..128 hex digits (16..64 bytes)")
        if self.kind == "encryption_machine" and self.url and not self.url.startswith("http"):
            raise ConfigError("url", "must be an http:// or https:// address")
        if not 100 <= self.timeout_ms <= 60_000:
            raise ConfigError("timeout_ms", "must be between 100 and 60000")


def build_mac_provider(config: MacProviderConfig) -> MacProvider:
    if config.kind == "dummy":
        return DummyMac()
    if config.kind == "software_key":
        if config.key_hex:
            key = bytes.fromhex(config.key_hex)
        else:
            try:
                key = bytes.fromhex(Path(config.key_file).read_text().strip())
            except (OSError, ValueError) as exc:
                raise ConfigError("key_file", f"cannot read a hex key: {exc}") from None
        return SoftwareKeyMac(key, config.name)
    return EncryptionMachineMac(config.url, timeout_s=config.timeout_ms / 1000, name=config.name)


def build_mac_providers(configs: Sequence[MacProviderConfig]) -> dict[str, MacProvider]:
    """Providers by name; "dummy" always exists."""
    providers: dict[str, MacProvider] = {"dummy": DummyMac()}
    for config in configs:
        providers[config.name] = build_mac_provider(config)
    return providers
