"""HTTPS certificates: the site's own, or a self-signed one generated at first start.

The generated pair lives in ``tls_dir`` (the service's state directory, writable) and is reused
afterwards, so browsers that accepted it once keep accepting it. Blocking work (key generation,
file I/O, loading into an SSL context) runs in a thread.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from web.config import WebConfig

CERT_NAME = "web-cert.pem"
KEY_NAME = "web-key.pem"
VALID_DAYS = 3650  # a cabinet may go years without anyone renewing anything


@dataclass(frozen=True)
class CertPaths:
    cert: Path
    key: Path
    generated: bool


def _san(names: Iterable[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    seen: set[str] = set()
    for name in names:
        if not name or name in seen:
            continue
        seen.add(name)
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def generate_self_signed(
    cert_path: Path, key_path: Path, names: Iterable[str], now: dt.datetime
) -> None:
    """Write a new EC P-256 key and a self-signed certificate for ``names`` (blocking)."""
    key = ec.generate_private_key(ec.SECP256R1())
    all_names = list(names)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "prepaid-gateway"),
            x509.NameAttribute(NameOID.COMMON_NAME, all_names[0] if all_names else "gateway"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(_san(all_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    key_path.parent.mkdir(parents=True, exist_ok=True)
    partial_key = key_path.with_name(key_path.name + ".partial")
    fd = os.open(partial_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    partial_cert = cert_path.with_name(cert_path.name + ".partial")
    partial_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(partial_key, key_path)
    os.replace(partial_cert, cert_path)


def certificate_names(config: WebConfig) -> list[str]:
    names = ["localhost", "127.0.0.1", "::1", socket.gethostname()]
    if config.host not in ("0.0.0.0", "::", ""):
        names.append(config.host)
    names.extend(config.cert_names)
    return names


def ensure_certificate(config: WebConfig, now: dt.datetime) -> CertPaths:
    """The site's pair if configured, else the generated pair (made now if missing)."""
    if config.cert_file:
        return CertPaths(Path(config.cert_file), Path(config.key_file), generated=False)
    folder = Path(config.tls_dir)
    cert, key = folder / CERT_NAME, folder / KEY_NAME
    if cert.exists() and key.exists():
        return CertPaths(cert, key, generated=False)
    generate_self_signed(cert, key, certificate_names(config), now)
    return CertPaths(cert, key, generated=True)


def server_context(paths: CertPaths) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(paths.cert, paths.key)
    return context


async def load_context(config: WebConfig, now: dt.datetime) -> tuple[ssl.SSLContext, CertPaths]:
    def _work() -> tuple[ssl.SSLContext, CertPaths]:
        paths = ensure_certificate(config, now)
        return server_context(paths), paths

    return await asyncio.to_thread(_work)
