"""The systemd units, sysusers/tmpfiles entries and polkit rule, checked by the real tools.

`systemd-analyze verify --root` loads the units from a scratch root that scripts/install.sh
populated (with systemd's own units copied in, and a stand-in console script where the venv
would be), so missing executables, unknown keys and bad values all show up. It needs no
running systemd.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.appliance.conftest import (
    REPO,
    UNITS,
    make_boot_partition,
    run_install,
    stub_release,
    with_host_units,
)
from tests.support.procs import require

IMAGE_FILES = REPO / "image-build/stage-gateway"
IMAGE_UNITS = {
    "prepaid-gateway-datapart.service": IMAGE_FILES / "02-readonly/files",
    "prepaid-gateway-firstboot.service": IMAGE_FILES / "03-firstboot/files",
}


def verify(root: Path, *units: str) -> str:
    """All of systemd-analyze's complaints; '' when the units are clean."""
    analyze = require("systemd-analyze")
    proc = subprocess.run(
        [analyze, "verify", "--man=no", f"--root={root}", *units],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0 and not output:
        output = f"exit {proc.returncode}"
    return output


@pytest.fixture(scope="module")
def installed_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("root")
    make_boot_partition(root)
    run_install(root)
    stub_release(root)
    with_host_units(root)
    return root


def test_gateway_units_verify_clean(installed_root: Path) -> None:
    assert verify(installed_root, *UNITS) == ""


def test_image_units_verify_clean(installed_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(installed_root, root, symlinks=True)
    for unit, source in IMAGE_UNITS.items():
        shutil.copy(source / unit, root / "etc/systemd/system" / unit)
    script = root / "usr/local/lib/prepaid-gateway/prepaid-gateway-datapart.sh"
    shutil.copy(IMAGE_FILES / "02-readonly/files/prepaid-gateway-datapart.sh", script)
    python = root / "opt/prepaid-gateway/releases/0.1.0/venv/bin/python"
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    assert verify(root, *IMAGE_UNITS) == ""


def test_verification_catches_a_broken_unit(installed_root: Path, tmp_path: Path) -> None:
    """The check above can fail: a typo and a missing program are both reported."""
    root = tmp_path / "root"
    shutil.copytree(installed_root, root, symlinks=True)
    unit = root / "etc/systemd/system/prepaid-gateway.service"
    text = unit.read_text().replace("NoNewPrivileges=yes", "NoNewPrivilges=yes")
    unit.write_text(text.replace("/opt/prepaid-gateway/venv/bin/", "/opt/nowhere/"))
    output = verify(root, "prepaid-gateway.service")
    assert "Unknown key" in output
    assert "/opt/nowhere/prepaid-gateway" in output


def test_main_unit_is_what_the_appliance_needs() -> None:
    text = (REPO / "systemd/prepaid-gateway.service").read_text()
    settings = [line for line in text.splitlines() if line and not line.startswith("#")]
    for expected in (
        "Type=notify",
        "NotifyAccess=main",
        "WatchdogSec=30",
        "Restart=always",
        "StartLimitAction=reboot",
        "User=prepaid-gateway",
        "SupplementaryGroups=dialout i2c gpio lp",
        "ProtectSystem=strict",
        "StateDirectory=prepaid-gateway",
        "MemoryDenyWriteExecute=yes",
        "SystemCallFilter=@system-service",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        "ExecStart=/opt/prepaid-gateway/venv/bin/prepaid-gateway run "
        "--config /etc/prepaid-gateway/gateway.toml",
    ):
        assert expected in settings
    # They would hide the serial port, I2C and GPIO devices, or break pcscd's access check.
    for forbidden in ("PrivateDevices", "PrivateUsers", "DeviceAllow", "ProtectClock"):
        assert not any(line.startswith(forbidden + "=") for line in settings)


def test_service_user_gets_the_hardware_groups(installed_root: Path) -> None:
    passwd = (installed_root / "etc/passwd").read_text()
    assert any(line.startswith("prepaid-gateway:") for line in passwd.splitlines())
    groups = {
        line.split(":")[0]: line.split(":")[3].split(",")
        for line in (installed_root / "etc/group").read_text().splitlines()
    }
    for group in ("dialout", "i2c", "gpio"):
        assert "prepaid-gateway" in groups[group]


def test_tmpfiles_give_the_service_user_only_its_own_directories(installed_root: Path) -> None:
    uid = next(
        int(line.split(":")[2])
        for line in (installed_root / "etc/passwd").read_text().splitlines()
        if line.startswith("prepaid-gateway:")
    )
    state = installed_root / "var/lib/prepaid-gateway/backups"
    assert state.stat().st_uid == uid
    update = installed_root / "var/lib/prepaid-gateway-update"
    assert update.stat().st_uid == 0
    inbox = update / "inbox"
    assert inbox.stat().st_uid == 0
    assert inbox.stat().st_mode & 0o070 == 0o070  # the web UI may queue bundles, nothing else


def test_polkit_rule_admits_the_service_user_to_pcscd_and_no_one_else() -> None:
    node = require("node")
    rule = (REPO / "systemd/polkit/50-prepaid-gateway-pcscd.rules").read_text()
    harness = (
        "const rules = [];\n"
        "const polkit = {Result: {YES: 'yes', NO: 'no', NOT_HANDLED: null},\n"
        "                addRule: (f) => rules.push(f)};\n"
        + rule
        + "\nconst ask = (id, user) => rules.map((f) => f({id}, {user}))[0];\n"
        "console.log(JSON.stringify([\n"
        "  ask('org.debian.pcsc-lite.access_pcsc', 'prepaid-gateway'),\n"
        "  ask('org.debian.pcsc-lite.access_card', 'prepaid-gateway'),\n"
        "  ask('org.debian.pcsc-lite.access_card', 'www-data'),\n"
        "  ask('org.freedesktop.login1.reboot', 'prepaid-gateway'),\n"
        "]));\n"
    )
    out = subprocess.run(
        [node, "-e", harness], capture_output=True, text=True, check=True, timeout=30
    )
    assert json.loads(out.stdout) == ["yes", "yes", None, None]
