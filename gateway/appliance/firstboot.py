"""First-boot setup from one file a technician drops on the SD card's boot partition.

The boot partition is FAT, so it can be written from any office PC right after flashing. The
file ``prepaid-gateway-setup.toml`` carries what differs per site: site and gateway id, host
name, time zone, the MQTT link's TLS material, an optional static address and SSH key, and any
gateway.toml settings. Everything is checked before anything is written (a typo changes
nothing and is reported in ``prepaid-gateway-setup.error.txt`` next to the file); after a
successful run the file is deleted, because it holds a private key and the boot partition is
readable by anyone holding the card. Run as ``python -m gateway.appliance.firstboot``.
"""

from __future__ import annotations

import argparse
import grp
import ipaddress
import logging
import os
import pwd
import re
import sys
import tomllib
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from gateway.appliance import tomlwrite
from gateway.appliance.errors import ApplianceError
from gateway.appliance.hooks import Runner, remount_writable, run_command
from gateway.typedconfig import ConfigError, from_dict

log = logging.getLogger(__name__)

SETUP_NAME = "prepaid-gateway-setup.toml"
DONE_NAME = "prepaid-gateway-setup.done.txt"
ERROR_NAME = "prepaid-gateway-setup.error.txt"
SERVICE_GROUP = "prepaid-gateway"
CONFIG_DIR = Path("etc/prepaid-gateway")
TLS_DIR = CONFIG_DIR / "tls"

_HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_IDENT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ZONE = re.compile(r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$")
_IFACE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_SSH_KEY = re.compile(r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+|sk-[a-z0-9@.-]+) [A-Za-z0-9+/=]+")


@dataclass(frozen=True)
class SystemSection:
    hostname: str | None = None
    timezone: str | None = None
    # Giving a key turns SSH on (keys only, no passwords); without one SSH stays off.
    ssh_authorized_keys: tuple[str, ...] = ()
    # A crypt(3) hash (mkpasswd -m yescrypt) for console login; never a plain password.
    admin_password_hash: str | None = None

    def __post_init__(self) -> None:
        if self.hostname is not None and not _HOSTNAME.match(self.hostname):
            raise ConfigError("hostname", "use lower-case letters, digits and '-', up to 63")
        if self.timezone is not None and not _ZONE.match(self.timezone):
            raise ConfigError("timezone", "must look like Asia/Shanghai")
        for i, key in enumerate(self.ssh_authorized_keys):
            if "\n" in key or not _SSH_KEY.match(key.strip()):
                raise ConfigError(f"ssh_authorized_keys[{i}]", "is not an OpenSSH public key")
        if self.admin_password_hash is not None and not self.admin_password_hash.startswith("$"):
            raise ConfigError("admin_password_hash", "must be a crypt hash, not a password")


@dataclass(frozen=True)
class TlsSection:
    ca: str | None = None
    cert: str | None = None
    key: str | None = None

    def __post_init__(self) -> None:
        if (self.cert is None) != (self.key is None):
            raise ConfigError("key", "cert and key go together (client certificate)")
        if self.ca is not None:
            try:
                x509.load_pem_x509_certificates(self.ca.encode())
            except ValueError as exc:
                raise ConfigError("ca", f"not PEM certificates: {exc}") from None
        if self.cert is not None and self.key is not None:
            try:
                cert = x509.load_pem_x509_certificate(self.cert.encode())
            except ValueError as exc:
                raise ConfigError("cert", f"not a PEM certificate: {exc}") from None
            try:
                key = serialization.load_pem_private_key(self.key.encode(), password=None)
            except (ValueError, TypeError) as exc:
                raise ConfigError("key", f"not an unencrypted PEM private key: {exc}") from None
            spki = serialization.PublicFormat.SubjectPublicKeyInfo
            der = serialization.Encoding.DER
            if key.public_key().public_bytes(der, spki) != cert.public_key().public_bytes(
                der, spki
            ):
                raise ConfigError("key", "does not belong to the certificate")

    @property
    def present(self) -> bool:
        return self.ca is not None or self.cert is not None


@dataclass(frozen=True)
class NetworkSection:
    interface: str = "eth0"
    address: str | None = None  # CIDR, e.g. 192.168.10.20/24; absent = DHCP
    gateway: str | None = None
    dns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _IFACE.match(self.interface):
            raise ConfigError("interface", "is not an interface name")
        if self.address is None:
            if self.gateway is not None or self.dns:
                raise ConfigError("address", "is required with gateway or dns")
            return
        try:
            iface = ipaddress.ip_interface(self.address)
        except ValueError:
            raise ConfigError(
                "address", "must be an address with prefix, e.g. 10.0.0.5/24"
            ) from None
        if iface.network.prefixlen == iface.max_prefixlen:
            raise ConfigError("address", "needs a prefix length, e.g. /24")
        if self.gateway is not None:
            try:
                gw = ipaddress.ip_address(self.gateway)
            except ValueError:
                raise ConfigError("gateway", "is not an IP address") from None
            if gw not in iface.network:
                raise ConfigError("gateway", f"is not inside {iface.network}")
        for i, server in enumerate(self.dns):
            try:
                ipaddress.ip_address(server)
            except ValueError:
                raise ConfigError(f"dns[{i}]", "is not an IP address") from None


@dataclass(frozen=True)
class Setup:
    site_id: str | None = None
    gateway_id: str | None = None
    system: SystemSection = field(default_factory=SystemSection)
    tls: TlsSection = field(default_factory=TlsSection)
    network: NetworkSection = field(default_factory=NetworkSection)
    # Merged over /etc/prepaid-gateway/gateway.toml, table by table.
    gateway: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("site_id", "gateway_id"):
            value = getattr(self, name)
            if value is not None and not _IDENT.match(value):
                raise ConfigError(name, "use letters, digits, '_' and '-' (1..64)")
        try:
            tomlwrite.dumps(self.gateway)
        except ValueError as exc:
            raise ConfigError("gateway", str(exc)) from None

    def hostname(self) -> str | None:
        if self.system.hostname:
            return self.system.hostname
        if self.site_id:
            candidate = f"pgw-{self.site_id}-{self.gateway_id or 'gw1'}".lower().replace("_", "-")
            return candidate[:63].rstrip("-") if _HOSTNAME.match(candidate[:63]) else None
        return None


def parse_setup(text: str) -> Setup:
    try:
        data = tomllib.loads(text)
        return from_dict(Setup, data)
    except tomllib.TOMLDecodeError as exc:
        raise ApplianceError("E911", f"not valid TOML: {exc}") from None
    except ConfigError as exc:
        raise ApplianceError("E911", str(exc)) from None


@dataclass(frozen=True)
class FirstBoot:
    """Applies a setup inside ``root`` ("/" on the device, a scratch tree in tests)."""

    root: Path
    runner: Runner = run_command
    live: bool = False  # also act on the running system (hostname, ssh host keys, owners)

    def check(self, setup: Setup) -> None:
        """Everything that depends on the target tree, before any write."""
        zone = setup.system.timezone
        if zone is not None and not (self.root / "usr/share/zoneinfo" / zone).is_file():
            raise ApplianceError("E911", f"system.timezone: unknown time zone {zone!r}")
        if setup.system.ssh_authorized_keys or setup.system.admin_password_hash:
            self.admin_user()
        config = self.root / CONFIG_DIR / "gateway.toml"
        if config.exists():
            try:
                tomllib.loads(config.read_text())
            except tomllib.TOMLDecodeError as exc:
                raise ApplianceError("E911", f"the installed {config} is broken: {exc}") from None

    def apply(self, setup: Setup, source: str) -> list[str]:
        """Write everything; returns a human summary (no secrets)."""
        self.check(setup)
        done: list[str] = []
        tls_files = self._write_tls(setup.tls) if setup.tls.present else {}
        if tls_files:
            done.append("MQTT TLS material installed in /etc/prepaid-gateway/tls")
        done.extend(self._write_config(setup, tls_files, source))
        hostname = setup.hostname()
        if hostname:
            self._write_hostname(hostname)
            done.append(f"host name {hostname}")
        if setup.system.timezone:
            self._write_timezone(setup.system.timezone)
            done.append(f"time zone {setup.system.timezone}")
        if setup.network.address:
            self._write_network(setup.network)
            done.append(f"static address {setup.network.address} on {setup.network.interface}")
        if setup.system.ssh_authorized_keys:
            self._enable_ssh(setup.system.ssh_authorized_keys)
            done.append(f"SSH on, {len(setup.system.ssh_authorized_keys)} key(s), no passwords")
        if setup.system.admin_password_hash:
            user = self.admin_user()
            argv = ["usermod", "--root", str(self.root), "-p", setup.system.admin_password_hash]
            if self.runner([*argv, user.name], 60) != 0:
                raise ApplianceError("E911", f"could not set the password of {user.name}")
            done.append(f"console password set for {user.name}")
        return done

    def fix_system(self) -> list[str]:
        """What a read-only root cannot do for itself on first boot (runs every time needed)."""
        done = []
        machine_id = self.root / "etc/machine-id"
        # systemd made a transient id at boot; without committing it every boot gets a new one
        # (and with it a new DHCP client id, journal id, ...).
        if (
            self.live
            and os.path.ismount(machine_id)
            and self.runner(["systemd-machine-id-setup", "--commit"], 60) == 0
        ):
            done.append("machine id committed")
        resolv = self.root / "etc/resolv.conf"
        if (self.root / "usr/sbin/NetworkManager").exists() and not resolv.is_symlink():
            # NetworkManager cannot rewrite /etc/resolv.conf on a read-only root, but leaves a
            # symlink alone and keeps its target in /run current.
            tmp = resolv.with_name(".resolv.conf.tmp")
            tmp.unlink(missing_ok=True)
            os.symlink("/run/NetworkManager/resolv.conf", tmp)
            os.replace(tmp, resolv)
            done.append("/etc/resolv.conf follows NetworkManager")
        for line in done:
            log.info("first boot: %s", line)
        return done

    # -- pieces ---------------------------------------------------------------------------

    def _write_tls(self, tls: TlsSection) -> dict[str, str]:
        directory = self.root / TLS_DIR
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o750)
        self._own(directory, group=SERVICE_GROUP)
        written: dict[str, str] = {}
        for name, text, mode, key in (
            ("ca.crt", tls.ca, 0o644, "ca_file"),
            ("client.crt", tls.cert, 0o644, "cert_file"),
            ("client.key", tls.key, 0o640, "key_file"),
        ):
            if text is None:
                continue
            path = directory / name
            _write_atomic(path, text.strip() + "\n", mode)
            self._own(path, group=SERVICE_GROUP)
            written[key] = "/" + str((TLS_DIR / name).as_posix())
        return written

    def _write_config(self, setup: Setup, tls_files: dict[str, str], source: str) -> list[str]:
        overlay: dict[str, Any] = dict(setup.gateway)
        mqtt: dict[str, Any] = {}
        if setup.site_id:
            mqtt["site_id"] = setup.site_id
        if setup.gateway_id:
            mqtt["gateway_id"] = setup.gateway_id
        if tls_files:
            mqtt["tls"] = True
            mqtt.update(tls_files)
        if mqtt:
            overlay = tomlwrite.merge(overlay, {"mqtt": mqtt})
        # The gateway's own [site] table names the same site and the tariff time zone.
        site: dict[str, Any] = {}
        if setup.site_id:
            site["id"] = setup.site_id
        if setup.system.timezone:
            site["timezone"] = setup.system.timezone
        if site:
            overlay = tomlwrite.merge(overlay, {"site": site})
        if not overlay:
            return []
        path = self.root / CONFIG_DIR / "gateway.toml"
        current = tomllib.loads(path.read_text()) if path.exists() else {}
        merged = tomlwrite.merge(current, overlay)
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        header = (
            f"# Written by the first-boot setup from {source} on {stamp}.\n"
            "# Every setting is explained in docs/gateway.example.toml.\n\n"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, header + tomlwrite.dumps(merged), 0o640)
        self._own(path, group=SERVICE_GROUP)
        summary = [f"gateway.toml: {', '.join(sorted(overlay))} set"]
        if setup.site_id:
            summary.append(f"site id {setup.site_id}")
        return summary

    def _write_hostname(self, name: str) -> None:
        _write_atomic(self.root / "etc/hostname", name + "\n", 0o644)
        hosts = self.root / "etc/hosts"
        lines = hosts.read_text().splitlines() if hosts.exists() else ["127.0.0.1\tlocalhost"]
        lines = [line for line in lines if not line.startswith("127.0.1.1")]
        lines.append(f"127.0.1.1\t{name}")
        _write_atomic(hosts, "\n".join(lines) + "\n", 0o644)
        if self.live:
            self.runner(["hostname", name], 30)

    def _write_timezone(self, zone: str) -> None:
        link = self.root / "etc/localtime"
        tmp = link.with_name(".localtime.tmp")
        tmp.unlink(missing_ok=True)
        os.symlink(f"/usr/share/zoneinfo/{zone}", tmp)
        os.replace(tmp, link)
        _write_atomic(self.root / "etc/timezone", zone + "\n", 0o644)

    def _write_network(self, net: NetworkSection) -> None:
        name = f"prepaid-gateway-{net.interface}"
        iface = ipaddress.ip_interface(str(net.address))
        family = "ipv4" if iface.version == 4 else "ipv6"
        other = "ipv6" if family == "ipv4" else "ipv4"
        address = str(iface) + (f",{net.gateway}" if net.gateway else "")
        lines = [
            "[connection]",
            f"id={name}",
            "type=ethernet",
            f"interface-name={net.interface}",
            "autoconnect=true",
            "autoconnect-priority=100",
            "",
            f"[{family}]",
            "method=manual",
            f"address1={address}",
        ]
        if net.dns:
            lines.append("dns=" + ";".join(net.dns) + ";")
        lines += ["", f"[{other}]", "method=auto" if other == "ipv6" else "method=disabled", ""]
        target = self.root / "etc/NetworkManager/system-connections" / f"{name}.nmconnection"
        target.parent.mkdir(parents=True, exist_ok=True)
        # NetworkManager ignores keyfiles readable by others.
        _write_atomic(target, "\n".join(lines), 0o600)

    def _enable_ssh(self, keys: Sequence[str]) -> None:
        user = self.admin_user()
        ssh_dir = self.root / user.home.lstrip("/") / ".ssh"
        ssh_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(ssh_dir, 0o700)
        auth = ssh_dir / "authorized_keys"
        _write_atomic(auth, "".join(k.strip() + "\n" for k in keys), 0o600)
        if self.live:
            os.chown(ssh_dir, user.uid, user.gid)
            os.chown(auth, user.uid, user.gid)
        dropin = self.root / "etc/ssh/sshd_config.d/50-prepaid-gateway.conf"
        dropin.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(
            dropin,
            "# Written by the first-boot setup: keys only.\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin no\n",
            0o644,
        )
        wants = self.root / "etc/systemd/system/multi-user.target.wants"
        wants.mkdir(parents=True, exist_ok=True)
        link = wants / "ssh.service"
        if not link.is_symlink():
            link.symlink_to("/lib/systemd/system/ssh.service")
        if self.live:
            if not (self.root / "etc/ssh/ssh_host_ed25519_key").exists():
                self.runner(["ssh-keygen", "-A"], 120)
            self.runner(["systemctl", "start", "--no-block", "ssh.service"], 30)

    @dataclass(frozen=True)
    class User:
        name: str
        uid: int
        gid: int
        home: str

    def admin_user(self) -> FirstBoot.User:
        """The image's first user (uid 1000), who gets the SSH key."""
        passwd = self.root / "etc/passwd"
        if passwd.exists():
            for line in passwd.read_text().splitlines():
                parts = line.split(":")
                if len(parts) >= 7 and parts[2] == "1000":
                    return FirstBoot.User(parts[0], int(parts[2]), int(parts[3]), parts[5])
        raise ApplianceError("E911", "this system has no administrator account (uid 1000)")

    def _own(self, path: Path, group: str) -> None:
        if not self.live:
            return
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            log.warning("group %s does not exist; %s keeps its group", group, path)
            return
        os.chown(path, pwd.getpwnam("root").pw_uid, gid)


def _write_atomic(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def run(setup_path: Path, boot: FirstBoot) -> int:
    """Apply ``setup_path`` if present. 0 = applied or nothing to do, 1 = refused."""
    if not setup_path.exists():
        log.info("no %s: nothing to set up", setup_path)
        return 0
    error_file = setup_path.with_name(ERROR_NAME)
    try:
        setup = parse_setup(setup_path.read_text(encoding="utf-8-sig"))
        summary = boot.apply(setup, setup_path.name)
    except (ApplianceError, OSError) as exc:
        error = exc if isinstance(exc, ApplianceError) else ApplianceError("E911", str(exc))
        log.error("%s", error.describe())  # noqa: TRY400 - the operator needs no traceback
        _write_atomic(error_file, error.for_operator() + "\n", 0o644)
        return 1
    error_file.unlink(missing_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    report = [f"prepaid-gateway first-boot setup applied {stamp}:", *(f"- {s}" for s in summary)]
    _write_atomic(setup_path.with_name(DONE_NAME), "\n".join(report) + "\n", 0o644)
    setup_path.unlink()  # it holds the TLS private key; the FAT partition has no permissions
    for line in summary:
        log.info("first boot: %s", line)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.appliance.firstboot")
    parser.add_argument("--setup", type=Path, default=Path("/boot/firmware") / SETUP_NAME)
    parser.add_argument("--root", type=Path, default=Path("/"))
    parser.add_argument("--no-remount", action="store_true", help="do not remount read-write")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    live = args.root == Path("/")
    boot = FirstBoot(root=args.root, live=live)
    with ExitStack() as stack:
        if live and not args.no_remount:
            # The image mounts / and the boot partition read-only; both are written once here.
            stack.enter_context(remount_writable(args.root / "etc"))
            if args.setup.exists():
                stack.enter_context(remount_writable(args.setup.parent))
        boot.fix_system()
        return run(args.setup, boot)


if __name__ == "__main__":
    sys.exit(main())
