"""Ed25519 release keys: generate, load, and find the trusted ones.

Keys are PEM files (PKCS#8 private, SubjectPublicKeyInfo public) so ``openssl pkey`` can read
them too. A key is named by its id: the first 16 hex digits of SHA-256 over the raw public key.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.appliance.errors import ApplianceError


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_keypair(private_path: Path, public_path: Path) -> str:
    """Write a new key pair (private file mode 0600, never overwritten); return its id."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    public = private.public_key()
    public_path.write_bytes(
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key_id(public)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ApplianceError("E912", f"{path}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ApplianceError("E912", f"{path}: not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError, UnsupportedAlgorithm) as exc:
        raise ApplianceError("E912", f"{path}: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ApplianceError("E912", f"{path}: not an Ed25519 public key")
    return key


def load_trusted_keys(locations: Iterable[Path]) -> dict[str, Ed25519PublicKey]:
    """Public keys from files and from ``*.pub`` in directories; missing locations are skipped."""
    found: dict[str, Ed25519PublicKey] = {}
    for location in locations:
        if location.is_dir():
            files = sorted(location.glob("*.pub"))
        elif location.is_file():
            files = [location]
        else:
            continue
        for path in files:
            key = load_public_key(path)
            found[key_id(key)] = key
    return found
