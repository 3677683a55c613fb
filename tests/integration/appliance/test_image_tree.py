"""The pi-gen stage tree: complete, and its configuration files valid.

The image itself cannot be built here (no pi-gen, Docker or archives); what pi-gen and the
booted Pi would read is checked with the same parsers they use where one exists locally:
systemd's fstab generator, systemd-analyze, tomllib, the firstboot parser.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from gateway.appliance.firstboot import parse_setup
from tests.integration.appliance.conftest import (
    REPO,
    make_boot_partition,
    run_install,
    stub_release,
    with_host_units,
)
from tests.support.procs import require

BUILD = REPO / "image-build"
STAGE = BUILD / "stage-gateway"
FSTAB = STAGE / "02-readonly/files/fstab"

# Keys a Raspberry Pi firmware accepts in config.txt, with the values this image may use.
CONFIG_TXT_ALLOWED = {
    "enable_uart": {"1"},
    "dtoverlay": {"disable-bt"},
    "dtparam": {"i2c_arm=on", "watchdog=on"},
}


def test_stage_tree_is_complete() -> None:
    expected_executable = [
        "prerun.sh",
        "00-gateway/01-run.sh",
        "01-boot/01-run.sh",
        "01-boot/files/edit-cmdline.sh",
        "02-readonly/01-run.sh",
        "02-readonly/files/prepaid-gateway-datapart.sh",
        "02-readonly/files/prepaid-gateway-rw",
        "03-firstboot/01-run.sh",
        "04-ssh-off/01-run.sh",
    ]
    expected_files = [
        "EXPORT_IMAGE",
        "00-gateway/00-packages",
        "01-boot/files/config.txt.fragment",
        "02-readonly/files/fstab",
        "02-readonly/files/journald-volatile.conf",
        "02-readonly/files/prepaid-gateway-datapart.service",
        "03-firstboot/files/prepaid-gateway-firstboot.service",
        "03-firstboot/files/prepaid-gateway-setup.example.toml",
    ]
    for name in expected_executable:
        path = STAGE / name
        assert path.is_file(), name
        assert path.stat().st_mode & 0o111, f"pi-gen only runs executable scripts: {name}"
    for name in expected_files:
        assert (STAGE / name).is_file(), name
    # pi-gen runs sub-directories in order; each needs the NN- prefix.
    for sub in STAGE.iterdir():
        if sub.is_dir():
            assert re.match(r"^\d\d-[a-z0-9-]+$", sub.name), sub.name
    for doc in ("README.md", "build.sh", "config"):
        assert (BUILD / doc).is_file()


def test_pi_gen_config_selects_our_stage_and_keeps_ssh_off() -> None:
    text = (BUILD / "config").read_text()
    values = dict(re.findall(r'^([A-Z_]+)="?([^"\n]*)"?$', text, re.MULTILINE))
    assert values["RELEASE"] == "bookworm"
    assert values["STAGE_LIST"].split()[-1] == "stage-gateway"
    assert values["ENABLE_SSH"] == "0"
    assert values["PUBKEY_ONLY_SSH"] == "1"
    assert values["DISABLE_FIRST_BOOT_USER_RENAME"] == "1"
    assert "FIRST_USER_PASS" not in values  # generated per build, never committed


def test_package_lists_are_well_formed() -> None:
    names = (STAGE / "00-gateway/00-packages").read_text().split()
    assert names
    for name in names:
        assert re.match(r"^[a-z0-9][a-z0-9+.-]+$", name), name
    assert {"pcscd", "python3-venv", "libpcsclite-dev", "i2c-tools"} <= set(names)


def test_config_txt_fragment_uses_only_known_keys() -> None:
    seen = set()
    for line in (STAGE / "01-boot/files/config.txt.fragment").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            assert line == "[all]"
            continue
        key, _, value = line.partition("=")
        assert key in CONFIG_TXT_ALLOWED, line
        assert value in CONFIG_TXT_ALLOWED[key], line
        seen.add((key, value))
    assert seen == {(k, v) for k, vs in CONFIG_TXT_ALLOWED.items() for v in vs}


def fstab_entries() -> list[list[str]]:
    return [
        line.split()
        for line in FSTAB.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_fstab_is_well_formed_and_the_root_is_read_only() -> None:
    entries = fstab_entries()
    targets = [e[1] for e in entries]
    assert len(targets) == len(set(targets))
    for entry in entries:
        assert len(entry) == 6, entry
        _, target, fstype, options, dump, passno = entry
        assert target.startswith("/"), entry
        assert fstype in {"proc", "vfat", "ext4", "none", "tmpfs"}, entry
        assert dump == "0"
        assert passno in {"0", "1", "2"}
        if fstype == "none":
            assert "bind" in options.split(",")
            assert entry[0].startswith("/data/")
    by_target = {e[1]: e for e in entries}
    assert "ro" in by_target["/"][3].split(",")
    assert by_target["/"][0] == "ROOTDEV"
    assert by_target["/boot/firmware"][0] == "BOOTDEV"
    assert by_target["/data"][0] == "LABEL=GWDATA"
    for persistent in (
        "/var/lib/prepaid-gateway",
        "/etc/prepaid-gateway",
        "/var/log/prepaid-gateway",
        "/var/lib/prepaid-gateway-update",
    ):
        assert persistent in by_target, persistent
    for scratch in ("/tmp", "/var/log"):
        assert by_target[scratch][2] == "tmpfs"


def test_fstab_through_systemds_generator_gives_valid_mount_units(tmp_path: Path) -> None:
    """The fstab as export-image finishes it, turned into units by systemd, then verified."""
    generator = Path("/lib/systemd/system-generators/systemd-fstab-generator")
    assert generator.exists(), "systemd's fstab generator is missing (install systemd)"
    fstab = tmp_path / "fstab"
    fstab.write_text(
        FSTAB.read_text()
        .replace("BOOTDEV", "PARTUUID=1234abcd-01")
        .replace("ROOTDEV", "PARTUUID=1234abcd-02")
    )
    out = tmp_path / "generated"
    out.mkdir()
    proc = subprocess.run(
        [str(generator), str(out), str(out), str(out)],
        env={"SYSTEMD_FSTAB": str(fstab), "SYSTEMD_LOG_LEVEL": "warning"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0
    assert proc.stderr.strip() == ""
    mounts = sorted(p.name for p in out.glob("*.mount"))
    assert "data.mount" in mounts
    assert "var-lib-prepaid\\x2dgateway.mount" in mounts
    assert "etc-prepaid\\x2dgateway.mount" in mounts
    data = (out / "data.mount").read_text()
    assert "Requires=prepaid-gateway-datapart.service" in data
    bind = (out / "var-lib-prepaid\\x2dgateway.mount").read_text()
    assert "RequiresMountsFor=/data" in bind

    root = tmp_path / "root"
    make_boot_partition(root)
    run_install(root)
    stub_release(root)
    with_host_units(root)
    units = root / "etc/systemd/system"
    shutil.copy(STAGE / "02-readonly/files/prepaid-gateway-datapart.service", units)
    script = root / "usr/local/lib/prepaid-gateway/prepaid-gateway-datapart.sh"
    shutil.copy(STAGE / "02-readonly/files/prepaid-gateway-datapart.sh", script)
    for unit in out.glob("*.mount"):
        shutil.copy(unit, units)
    analyze = require("systemd-analyze")
    verify = subprocess.run(
        [analyze, "verify", "--man=no", f"--root={root}", "--", *mounts],  # "-.mount" is /
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (verify.returncode, verify.stdout + verify.stderr) == (0, "")


def test_journal_stays_in_ram() -> None:
    text = (STAGE / "02-readonly/files/journald-volatile.conf").read_text()
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[0] == "[Journal]"
    assert "Storage=volatile" in lines


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (
            "console=serial0,115200 console=tty1 root=ROOTDEV rootfstype=ext4 fsck.repair=yes "
            "rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot",
            "console=tty1 root=ROOTDEV rootfstype=ext4 fsck.repair=yes rootwait quiet ro",
        ),
        (
            "console=serial0,115200 console=tty1 root=ROOTDEV rootfstype=ext4 fsck.repair=yes "
            "rootwait quiet splash resize",
            "console=tty1 root=ROOTDEV rootfstype=ext4 fsck.repair=yes rootwait quiet splash ro",
        ),
    ],
)
def test_kernel_command_line_edit(tmp_path: Path, before: str, after: str) -> None:
    cmdline = tmp_path / "cmdline.txt"
    cmdline.write_text(before + "\n")
    script = STAGE / "01-boot/files/edit-cmdline.sh"
    subprocess.run([str(script), str(cmdline)], check=True, timeout=30)
    assert cmdline.read_text() == after + "\n"
    subprocess.run([str(script), str(cmdline)], check=True, timeout=30)
    assert cmdline.read_text() == after + "\n"  # idempotent


def test_example_setup_file_is_accepted_by_the_first_boot_parser() -> None:
    text = (STAGE / "03-firstboot/files/prepaid-gateway-setup.example.toml").read_text()
    tomllib.loads(text)
    setup = parse_setup(text)
    assert setup.site_id == "site0421"
    assert setup.hostname() == "pgw-site0421-gw1"
    assert setup.gateway["mqtt"]["port"] == 8883
