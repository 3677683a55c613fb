"""First-boot setup applied to a scratch root the way the image's unit applies it to /."""

from __future__ import annotations

import os
import shutil
import tomllib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from gateway.appliance import tomlwrite
from gateway.appliance.firstboot import DONE_NAME, ERROR_NAME, SETUP_NAME, FirstBoot, run

SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9rYXkgdGhpcyBpcyBhIHRlc3Q tech@laptop"
EXISTING_CONFIG = """# shipped default
[store]
path = "/var/lib/prepaid-gateway/gateway.db"

[mqtt]
enabled = false
host = "localhost"

[[buses]]
name = "rs485"
port = "/dev/serial0"
baud = 2400
"""


def pem_pair(
    common_name: str, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    issuer_name, issuer_key = (issuer[0].subject, issuer[1]) if issuer else (name, key)
    now = datetime(2025, 1, 1, tzinfo=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=3650))
        .sign(issuer_key, hashes.SHA256())
    )
    return cert, key


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


class Recorder:
    """Runner stand-in that records commands (usermod needs a real /etc/shadow)."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str], timeout: float) -> int:
        self.calls.append(list(argv))
        return 0


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc/prepaid-gateway").mkdir(parents=True)
    (root / "etc/prepaid-gateway/gateway.toml").write_text(EXISTING_CONFIG)
    (root / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/bash\ngwadmin:x:1000:1000:,,,:/home/gwadmin:/bin/bash\n"
    )
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n127.0.1.1\tprepaid-gateway\n")
    (root / "etc/resolv.conf").write_text("nameserver 8.8.8.8\n")
    zone = root / "usr/share/zoneinfo/Asia/Shanghai"
    zone.parent.mkdir(parents=True)
    zone.write_bytes(b"TZif2 stand-in")
    (root / "usr/sbin").mkdir(parents=True)
    (root / "usr/sbin/NetworkManager").write_text("")
    (root / "boot/firmware").mkdir(parents=True)
    return root


def snapshot(root: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = os.readlink(path)
        elif path.is_file():
            out[rel] = (path.read_bytes(), path.stat().st_mode)
    return out


def write_setup(root: Path, text: str) -> Path:
    setup = root / "boot/firmware" / SETUP_NAME
    setup.write_text(text)
    return setup


def full_setup() -> tuple[str, str]:
    ca = pem_pair("site CA")
    client, client_key = pem_pair("gw1.site0421", issuer=ca)
    private = key_pem(client_key)
    text = f'''
site_id = "site0421"
gateway_id = "gw1"

[system]
timezone = "Asia/Shanghai"
ssh_authorized_keys = ["{SSH_KEY}"]
admin_password_hash = "$y$j9T$abcdefghijklmnop$0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"

[network]
address = "192.168.10.20/24"
gateway = "192.168.10.1"
dns = ["192.168.10.1", "114.114.114.114"]

[tls]
ca = """{pem(ca[0])}"""
cert = """{pem(client)}"""
key = """{private}"""

[gateway.mqtt]
enabled = true
host = "mqtt.example.cn"
port = 8883
'''
    return text, private


def test_full_setup_is_applied_and_the_secret_file_removed(root: Path) -> None:
    text, private = full_setup()
    setup = write_setup(root, text)
    runner = Recorder()
    boot = FirstBoot(root=root, runner=runner)

    assert boot.fix_system() == ["/etc/resolv.conf follows NetworkManager"]
    assert run(setup, boot) == 0

    assert (root / "etc/hostname").read_text() == "pgw-site0421-gw1\n"
    hosts = (root / "etc/hosts").read_text().splitlines()
    assert hosts == ["127.0.0.1\tlocalhost", "127.0.1.1\tpgw-site0421-gw1"]
    assert os.readlink(root / "etc/localtime") == "/usr/share/zoneinfo/Asia/Shanghai"
    assert os.readlink(root / "etc/resolv.conf") == "/run/NetworkManager/resolv.conf"

    tls = root / "etc/prepaid-gateway/tls"
    assert (tls / "client.key").read_text() == private.strip() + "\n"
    assert (tls / "client.key").stat().st_mode & 0o777 == 0o640
    assert (tls / "ca.crt").read_text().startswith("-----BEGIN CERTIFICATE-----")

    config = tomllib.loads((root / "etc/prepaid-gateway/gateway.toml").read_text())
    assert config["mqtt"] == {
        "enabled": True,
        "host": "mqtt.example.cn",
        "port": 8883,
        "site_id": "site0421",
        "gateway_id": "gw1",
        "tls": True,
        "ca_file": "/etc/prepaid-gateway/tls/ca.crt",
        "cert_file": "/etc/prepaid-gateway/tls/client.crt",
        "key_file": "/etc/prepaid-gateway/tls/client.key",
    }
    assert config["site"] == {"id": "site0421", "timezone": "Asia/Shanghai"}
    # everything the setup did not mention is kept, arrays of tables included
    assert config["store"] == {"path": "/var/lib/prepaid-gateway/gateway.db"}
    assert config["buses"] == [{"name": "rs485", "port": "/dev/serial0", "baud": 2400}]

    nm = root / "etc/NetworkManager/system-connections/prepaid-gateway-eth0.nmconnection"
    assert nm.stat().st_mode & 0o777 == 0o600
    nm_text = nm.read_text()
    assert "address1=192.168.10.20/24,192.168.10.1" in nm_text
    assert "dns=192.168.10.1;114.114.114.114;" in nm_text

    keys = root / "home/gwadmin/.ssh/authorized_keys"
    assert keys.read_text() == SSH_KEY + "\n"
    assert keys.stat().st_mode & 0o777 == 0o600
    sshd = (root / "etc/ssh/sshd_config.d/50-prepaid-gateway.conf").read_text()
    assert "PasswordAuthentication no" in sshd
    wants = root / "etc/systemd/system/multi-user.target.wants/ssh.service"
    assert os.readlink(wants) == "/lib/systemd/system/ssh.service"
    assert runner.calls == [
        [
            "usermod",
            "--root",
            str(root),
            "-p",
            "$y$j9T$abcdefghijklmnop$0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef",
            "gwadmin",
        ]
    ]

    assert not setup.exists()
    done = (root / "boot/firmware" / DONE_NAME).read_text()
    assert "site id site0421" in done
    assert "PRIVATE KEY" not in done


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ('site_id = "site 0421"', "site_id"),
        ('[system]\ntimezone = "Mars/Olympus"', "unknown time zone"),
        ('[network]\naddress = "192.168.10.20/24"\ngateway = "10.0.0.1"', "gateway"),
        ('[system]\nadmin_password_hash = "hunter2"', "crypt hash"),
        ("[sytem]\nhostname = 'x'", "unknown key"),
        ("site_id = ", "not valid TOML"),
    ],
)
def test_bad_setup_changes_nothing_and_explains_itself(
    root: Path, text: str, complaint: str
) -> None:
    setup = write_setup(root, text)
    before = snapshot(root)

    assert run(setup, FirstBoot(root=root, runner=Recorder())) == 1

    error = (root / "boot/firmware" / ERROR_NAME).read_text()
    assert error.startswith("E911 ")
    assert complaint in error
    assert "处理办法" in error
    after = snapshot(root)
    after.pop(f"boot/firmware/{ERROR_NAME}")
    assert after == before  # the setup file stays for the technician to correct


def test_a_key_that_does_not_match_the_certificate_is_refused(root: Path) -> None:
    cert, _ = pem_pair("gw1")
    _, other_key = pem_pair("someone else")
    text = f'[tls]\ncert = """{pem(cert)}"""\nkey = """{key_pem(other_key)}"""\n'
    setup = write_setup(root, text)
    assert run(setup, FirstBoot(root=root)) == 1
    assert "does not belong to the certificate" in (root / "boot/firmware" / ERROR_NAME).read_text()
    assert not (root / "etc/prepaid-gateway/tls").exists()


def test_no_setup_file_means_nothing_to_do(root: Path) -> None:
    before = snapshot(root)
    assert run(root / "boot/firmware" / SETUP_NAME, FirstBoot(root=root)) == 0
    assert snapshot(root) == before


def test_real_zoneinfo_names_are_accepted(root: Path) -> None:
    shutil.rmtree(root / "usr/share/zoneinfo")
    shutil.copytree("/usr/share/zoneinfo/Asia", root / "usr/share/zoneinfo/Asia", symlinks=True)
    setup = write_setup(root, '[system]\ntimezone = "Asia/Urumqi"\n')
    assert run(setup, FirstBoot(root=root)) == 0
    assert (root / "etc/timezone").read_text() == "Asia/Urumqi\n"


toml_keys = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
toml_scalars = (
    st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.booleans()
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False)
)
toml_tables = st.recursive(
    st.dictionaries(toml_keys, toml_scalars | st.lists(toml_scalars, max_size=3), max_size=4),
    lambda inner: st.dictionaries(
        toml_keys, inner | st.lists(inner.filter(bool), min_size=1, max_size=2), max_size=3
    ),
    max_leaves=12,
)


@given(toml_tables)
def test_toml_writer_round_trips(data: dict[str, object]) -> None:
    assert tomllib.loads(tomlwrite.dumps(data)) == data


def test_merge_is_table_by_table() -> None:
    base = {"mqtt": {"host": "a", "port": 1883}, "buses": [{"name": "x"}]}
    merged = tomlwrite.merge(base, {"mqtt": {"port": 8883}, "buses": [{"name": "y"}]})
    assert merged == {"mqtt": {"host": "a", "port": 8883}, "buses": [{"name": "y"}]}
    assert base["mqtt"] == {"host": "a", "port": 1883}  # inputs untouched


def test_the_gateway_accepts_the_configuration_first_boot_writes(root: Path) -> None:
    from gateway.app.config import parse

    (root / "etc/prepaid-gateway/gateway.toml").unlink()  # the image's default is empty
    text, _ = full_setup()
    assert run(write_setup(root, text), FirstBoot(root=root, runner=Recorder())) == 0
    config = parse(tomllib.loads((root / "etc/prepaid-gateway/gateway.toml").read_text()))
    assert config.mqtt.site_id == config.site.id == "site0421"
    assert config.mqtt.uses_tls
    assert config.mqtt.key_file == "/etc/prepaid-gateway/tls/client.key"
    assert config.site.timezone == "Asia/Shanghai"
