"""HTTPS with the certificate generated at first start, and plain HTTP that only redirects."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509

from gateway.store.database import Database
from gateway.typedconfig import ConfigError
from web.app import create_app
from web.config import WebConfig
from web.security.tls import CERT_NAME, KEY_NAME
from web.server import start

from .conftest import MovableClock


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


async def test_https_with_a_generated_certificate_and_a_redirecting_http_port(
    db: Database, tmp_path: Path, clock: MovableClock
) -> None:
    https_port, http_port = free_ports(2)
    config = WebConfig(
        host="127.0.0.1", port=https_port, redirect_port=http_port, tls_dir=str(tmp_path / "tls")
    )
    servers = await start(create_app(db, config=config, clock=clock), config)
    try:
        cert = x509.load_pem_x509_certificate((tmp_path / "tls" / CERT_NAME).read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "localhost" in names.get_values_for_type(x509.DNSName)
        assert (tmp_path / "tls" / KEY_NAME).stat().st_mode & 0o077 == 0
        trust = ssl.create_default_context(cafile=str(tmp_path / "tls" / CERT_NAME))
        async with aiohttp.ClientSession() as session:
            # 127.0.0.1, verified as "localhost": a minimal root may have no /etc/hosts.
            page = await session.get(
                f"https://127.0.0.1:{https_port}/login", ssl=trust, server_hostname="localhost"
            )
            assert page.status == 200
            assert "Secure" in page.headers["Set-Cookie"]
            moved = await session.get(
                f"http://127.0.0.1:{http_port}/lines?x=1", allow_redirects=False
            )
            assert moved.status == 308
            assert moved.headers["Location"] == f"https://127.0.0.1:{https_port}/lines?x=1"
            api = await session.get(
                f"http://127.0.0.1:{http_port}/api/v1/lines", allow_redirects=False
            )
            assert api.status == 308  # nothing is served over plain HTTP
    finally:
        await servers.stop()
    # The same pair is reused at the next start.
    again = await start(create_app(db, config=config, clock=clock), config)
    await again.stop()
    reused = x509.load_pem_x509_certificate((tmp_path / "tls" / CERT_NAME).read_bytes())
    assert reused.serial_number == cert.serial_number


def test_plain_http_is_refused_off_loopback() -> None:
    with pytest.raises(ConfigError) as caught:
        WebConfig(tls=False, host="0.0.0.0")
    assert caught.value.key == "tls"
