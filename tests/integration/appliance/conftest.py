"""Shared helpers for the appliance tests: the repository, scratch roots, tiny real wheels."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.support.procs import require

REPO = Path(__file__).resolve().parents[3]
UNITS = (
    "prepaid-gateway.service",
    "prepaid-gateway-backup.service",
    "prepaid-gateway-backup.timer",
    "prepaid-gateway-update.service",
    "prepaid-gateway-update.path",
)


def run_install(root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """scripts/install.sh into a scratch root, as CI runs it."""
    require("systemd-sysusers")
    require("systemd-tmpfiles")
    return subprocess.run(
        [str(REPO / "scripts/install.sh"), "--root", str(root), "--no-apt", "--no-venv", *extra],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )


def make_boot_partition(root: Path) -> Path:
    boot = root / "boot/firmware"
    boot.mkdir(parents=True)
    (boot / "config.txt").write_text(
        "# Raspberry Pi OS defaults\ndtparam=audio=on\ncamera_auto_detect=1\n"
        "[pi4]\narm_boost=1\n[all]\n"
    )
    (boot / "cmdline.txt").write_text(
        "console=serial0,115200 console=tty1 root=PARTUUID=1234abcd-02 rootfstype=ext4 "
        "fsck.repair=yes rootwait quiet\n"
    )
    return boot


def stub_release(root: Path, version: str = "0.1.0") -> Path:
    """The release layout install.sh builds, with a stand-in for the console script."""
    prefix = root / "opt/prepaid-gateway"
    binary = prefix / "releases" / version / "venv/bin/prepaid-gateway"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    (prefix / "current").symlink_to(f"releases/{version}")
    (prefix / "venv").symlink_to("current/venv")
    return prefix


def with_host_units(root: Path) -> None:
    """systemd's own units, so dependencies such as sysinit.target resolve under --root."""
    target = root / "usr/lib/systemd/system"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree("/usr/lib/systemd/system", target, symlinks=True, dirs_exist_ok=True)
    lib = root / "lib"
    if not lib.exists():
        lib.symlink_to("usr/lib")


def build_wheel(directory: Path, version: str, *, healthy: bool = True) -> Path:
    """A real, installable prepaid-gateway wheel whose console script answers `health`.

    ``healthy=False`` makes `prepaid-gateway health` exit 1: a release that starts but is
    broken, which is what the rollback must catch.
    """
    dist = f"prepaid_gateway-{version}.dist-info"
    code = (
        "import sys\n"
        f"VERSION = {version!r}\n"
        f"HEALTHY = {healthy!r}\n"
        "def main():\n"
        "    if sys.argv[1:] == ['health']:\n"
        "        sys.exit(0 if HEALTHY else 1)\n"
        "    print(VERSION)\n"
    )
    files = {
        "fakegateway/__init__.py": code,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: prepaid-gateway\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
        f"{dist}/entry_points.txt": "[console_scripts]\nprepaid-gateway = fakegateway:main\n",
    }
    path = directory / f"prepaid_gateway-{version}-py3-none-any.whl"
    record = []
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            data = text.encode()
            zf.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{name},sha256={digest.decode()},{len(data)}")
        record.append(f"{dist}/RECORD,,")
        zf.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
    return path


@pytest.fixture
def repo() -> Path:
    return REPO
