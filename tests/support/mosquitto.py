"""A real mosquitto for tests: plain, TLS + password, and TLS + client-certificate listeners.

One process per test (it starts in ~40 ms) with persistence in the test's tmp dir, so a test
can stop the broker, wait, and start it again on the same ports with its sessions intact.
Certificates (a throwaway CA, a server cert for IP 127.0.0.1, a client cert) are made once per
session with `cryptography`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.procs import require, stop

USERNAME = "gateway"
PASSWORD = "correct horse battery"
CLIENT_CERT_CN = "gw-cert"


@dataclass(frozen=True)
class Certs:
    ca_file: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca_file: Path  # a CA that did not sign the server: TLS must fail with it


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    san: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_certs(directory: Path) -> Certs:
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, other_key = _key(), _key()
    ca = _cert("test CA", ca_key, "test CA", ca_key, ca=True)
    other = _cert("other CA", other_key, "other CA", other_key, ca=True)
    server_key = _key()
    server = _cert(
        "127.0.0.1",
        server_key,
        "test CA",
        ca_key,
        ca=False,
        san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")],
    )
    client_key = _key()
    client = _cert(CLIENT_CERT_CN, client_key, "test CA", ca_key, ca=False)
    paths = Certs(
        ca_file=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
        other_ca_file=directory / "other-ca.pem",
    )
    paths.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.other_ca_file.write_bytes(other.public_bytes(serialization.Encoding.PEM))
    paths.server_cert.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths.client_cert.write_bytes(client.public_bytes(serialization.Encoding.PEM))
    _write_key(server_key, paths.server_key)
    _write_key(client_key, paths.client_key)
    return paths


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepting(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Broker:
    directory: Path
    certs: Certs
    port: int = field(default_factory=_free_port)
    tls_port: int = field(default_factory=_free_port)
    mtls_port: int = field(default_factory=_free_port)
    host: str = "127.0.0.1"
    username: str = USERNAME
    password: str = PASSWORD
    proc: subprocess.Popen[bytes] | None = None

    @property
    def conf(self) -> Path:
        return self.directory / "mosquitto.conf"

    @property
    def log_file(self) -> Path:
        return self.directory / "mosquitto.log"

    def write_config(self) -> None:
        data = self.directory / "data"
        data.mkdir(parents=True, exist_ok=True)
        passwd = self.directory / "passwd"
        passwd.write_text("")
        subprocess.run(
            [require("mosquitto_passwd"), "-b", str(passwd), self.username, self.password],
            check=True,
            capture_output=True,
        )
        passwd.chmod(0o600)
        c = self.certs
        lines = [
            "user root" if os.geteuid() == 0 else "",
            "per_listener_settings true",
            "persistence true",
            f"persistence_location {data}/",
            f"log_dest file {self.log_file}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            # Queues sized for drain tests: the gateway's window bounds them, not the broker.
            "max_queued_messages 100000",
            "max_inflight_messages 0",
            # Nagle on the broker delays PUBACKs behind the client's delayed ACK (40 ms): a
            # real deployment should set this too (docs/mqtt.md, Scaling).
            "set_tcp_nodelay true",
            "",
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "",
            f"listener {self.tls_port} 127.0.0.1",
            "allow_anonymous false",
            f"password_file {passwd}",
            f"cafile {c.ca_file}",
            f"certfile {c.server_cert}",
            f"keyfile {c.server_key}",
            "",
            f"listener {self.mtls_port} 127.0.0.1",
            "allow_anonymous false",
            "require_certificate true",
            "use_identity_as_username true",
            f"cafile {c.ca_file}",
            f"certfile {c.server_cert}",
            f"keyfile {c.server_key}",
        ]
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "broker already running"
        self.proc = subprocess.Popen(
            [require("mosquitto"), "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        ports = (self.port, self.tls_port, self.mtls_port)
        while not all(_accepting(p) for p in ports):
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"mosquitto exited: {err}\n{self.log_text()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"mosquitto did not listen on {ports}\n{self.log_text()}")
            time.sleep(0.01)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM saves the persistence file (sessions and queues survive a restart)."""
        if self.proc is not None:
            stop(self.proc, sig)
            if self.proc.stderr:
                self.proc.stderr.close()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_text(self) -> str:
        return self.log_file.read_text() if self.log_file.exists() else ""


@pytest.fixture(scope="session")
def broker_certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def mosquitto(tmp_path: Path, broker_certs: Certs) -> Iterator[Broker]:
    broker = Broker(tmp_path / "broker", broker_certs)
    broker.write_config()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
