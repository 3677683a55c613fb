"""scripts/install.sh against a scratch root: where everything lands, and idempotence."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from gateway.appliance.bundle import make_bundle
from gateway.appliance.releases import Layout
from gateway.appliance.signing import generate_keypair, load_private_key, load_trusted_keys
from gateway.appliance.update import StatusFile, Updater, VenvInstaller
from tests.integration.appliance.conftest import (
    REPO,
    UNITS,
    build_wheel,
    make_boot_partition,
    run_install,
)

FRAGMENT = REPO / "image-build/stage-gateway/01-boot/files/config.txt.fragment"


def tree(root: Path) -> dict[str, bytes | str]:
    """Every file's bytes and every symlink's target under root."""
    out: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            out[rel] = path.read_bytes()
    return out


def test_files_land_where_the_units_expect_them(tmp_path: Path) -> None:
    make_boot_partition(tmp_path)
    key = tmp_path / "release.pub"
    key.write_text("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n")
    run_install(tmp_path, "--update-key", str(key))

    for unit in UNITS:
        assert (tmp_path / "etc/systemd/system" / unit).read_bytes() == (
            REPO / "systemd" / unit
        ).read_bytes()
    for path in (
        "etc/sysusers.d/prepaid-gateway.conf",
        "etc/tmpfiles.d/prepaid-gateway.conf",
        "etc/polkit-1/rules.d/50-prepaid-gateway-pcscd.rules",
        "etc/systemd/system.conf.d/50-prepaid-gateway-watchdog.conf",
        "etc/modules-load.d/prepaid-gateway.conf",
        "etc/prepaid-gateway/update-keys/release.pub",
        "opt/prepaid-gateway/docs/install.md",
    ):
        assert (tmp_path / path).is_file(), path
    backup = tmp_path / "usr/local/lib/prepaid-gateway/prepaid-gateway-backup.sh"
    assert os.access(backup, os.X_OK)
    command = tmp_path / "usr/local/bin/prepaid-gateway"
    assert os.readlink(command) == "/opt/prepaid-gateway/venv/bin/prepaid-gateway"
    # enabled the way `systemctl enable` does it
    wants = tmp_path / "etc/systemd/system"
    assert (wants / "multi-user.target.wants/prepaid-gateway.service").is_symlink()
    assert (wants / "timers.target.wants/prepaid-gateway-backup.timer").is_symlink()
    assert (wants / "paths.target.wants/prepaid-gateway-update.path").is_symlink()


def test_boot_config_is_edited_once_and_idempotently(tmp_path: Path) -> None:
    boot = make_boot_partition(tmp_path)
    original = (boot / "config.txt").read_text()
    run_install(tmp_path)
    first = tree(tmp_path)
    run_install(tmp_path)
    assert tree(tmp_path) == first  # a second run changes nothing at all

    config = (boot / "config.txt").read_text()
    assert config.startswith(original)  # the stock settings stay in place, ours come last
    block = config[len(original) :].splitlines()
    assert block[0].startswith("# BEGIN prepaid-gateway")
    assert block[-1] == "# END prepaid-gateway"
    assert block[1:-1] == FRAGMENT.read_text().splitlines()
    for line in ("enable_uart=1", "dtoverlay=disable-bt", "dtparam=i2c_arm=on"):
        assert config.splitlines().count(line) == 1
    assert config.splitlines().count("dtparam=watchdog=on") == 1

    cmdline = (boot / "cmdline.txt").read_text()
    assert "console=serial0" not in cmdline  # the UART belongs to the RS485 bus
    assert cmdline.startswith("console=tty1 root=PARTUUID=1234abcd-02")


def test_existing_configuration_is_never_overwritten(tmp_path: Path) -> None:
    make_boot_partition(tmp_path)
    config = tmp_path / "etc/prepaid-gateway/gateway.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[mqtt]\nsite_id = "site0421"\n')
    run_install(tmp_path)
    assert config.read_text() == '[mqtt]\nsite_id = "site0421"\n'


def test_without_systemctl_nothing_is_enabled(tmp_path: Path) -> None:
    make_boot_partition(tmp_path)
    run_install(tmp_path, "--no-systemctl")
    assert not (tmp_path / "etc/systemd/system/multi-user.target.wants").exists()
    assert (tmp_path / "etc/systemd/system/prepaid-gateway.service").is_file()


def test_refuses_to_touch_the_real_system_without_root(tmp_path: Path) -> None:
    env = {**os.environ}
    # A copy the unprivileged user can read: the checkout may sit under /root (mode 700).
    readable = Path(tempfile.mkdtemp(prefix="install-sh-"))
    readable.chmod(0o755)
    script = readable / "install.sh"
    shutil.copy2(REPO / "scripts/install.sh", script)
    script.chmod(0o755)
    proc = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            str(script),
            "--no-apt",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 1
    assert "run as root" in proc.stderr


def test_a_non_pi_root_is_left_alone_with_a_warning(tmp_path: Path) -> None:
    result = run_install(tmp_path)
    assert "no config.txt" in result.stdout
    assert not (tmp_path / "boot").exists()


def test_default_configuration_comes_from_the_example(tmp_path: Path) -> None:
    """From a checkout with docs/gateway.example.toml, a fresh install gets it, group-readable."""
    checkout = tmp_path / "checkout"
    for part in ("scripts", "systemd", "image-build/stage-gateway/01-boot/files"):
        shutil.copytree(REPO / part, checkout / part)
    (checkout / "docs").mkdir()
    (checkout / "docs/gateway.example.toml").write_text('# example\n[mqtt]\nsite_id = "site1"\n')
    root = tmp_path / "root"
    make_boot_partition(root)
    subprocess.run(
        [str(checkout / "scripts/install.sh"), "--root", str(root), "--no-apt", "--no-venv"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    config = root / "etc/prepaid-gateway/gateway.toml"
    assert config.read_text() == '# example\n[mqtt]\nsite_id = "site1"\n'
    assert config.stat().st_mode & 0o777 == 0o640
    gid = next(
        int(line.split(":")[2])
        for line in (root / "etc/group").read_text().splitlines()
        if line.startswith("prepaid-gateway:")
    )
    assert config.stat().st_gid == gid  # the service reads it; other users cannot


def test_venv_release_is_one_the_updater_can_replace(tmp_path: Path) -> None:
    """install.sh builds a real venv (offline, from a wheel); `update` then takes over from it."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = build_wheel(wheels, "0.9.0")
    root = tmp_path / "root"
    make_boot_partition(root)
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)}
    subprocess.run(
        [
            str(REPO / "scripts/install.sh"),
            "--root",
            str(root),
            "--no-apt",
            "--python",
            sys.executable,
            "--wheel",
            str(wheel),
        ],
        capture_output=True,
        check=True,
        timeout=300,
        env=env,
    )
    prefix = root / "opt/prepaid-gateway"
    out = subprocess.run(
        [str(prefix / "venv/bin/prepaid-gateway")], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "0.9.0"
    layout = Layout(prefix)
    assert layout.current_version() == "0.9.0"
    assert layout.release_info("0.9.0")["installed_by"] == "install.sh"

    key = tmp_path / "release.key"
    generate_keypair(key, tmp_path / "release.pub")
    bundle = tmp_path / "gw.bundle"
    make_bundle(
        [build_wheel(wheels, "1.0.0")],
        load_private_key(key),
        bundle,
        created=datetime(2025, 3, 1, tzinfo=UTC),
    )
    updater = Updater(
        layout,
        load_trusted_keys([tmp_path / "release.pub"]),
        VenvInstaller(python=sys.executable, pip_python=sys.executable),
        backup=None,
        restart=lambda: True,
        health=lambda: True,
        status=StatusFile(tmp_path / "status.json"),
        work_dir=tmp_path / "work",
        backup_dir=tmp_path / "backups",
    )
    result = updater.install(bundle)
    assert (result.version, result.previous) == ("1.0.0", "0.9.0")
    assert layout.previous_version() == "0.9.0"
