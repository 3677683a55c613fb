"""Shell scripts: shellcheck-clean, and the backup script's behaviour with real files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.appliance.conftest import REPO
from tests.support.procs import require

STAGE = REPO / "image-build/stage-gateway"
SCRIPTS = sorted(
    {
        REPO / "scripts/install.sh",
        REPO / "scripts/prepaid-gateway-backup.sh",
        REPO / "image-build/build.sh",
        REPO / "image-build/config",
        STAGE / "prerun.sh",
        STAGE / "02-readonly/files/prepaid-gateway-rw",
        *STAGE.rglob("*.sh"),
    }
)
BACKUP = REPO / "scripts/prepaid-gateway-backup.sh"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_shellcheck_clean(script: Path) -> None:
    shellcheck = require("shellcheck")
    proc = subprocess.run(
        [shellcheck, "--shell=bash", "--severity=style", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout
    if script.name != "config":  # sourced by pi-gen, not run
        assert os.access(script, os.X_OK), f"{script} is not executable"


def test_shellcheck_would_catch_a_bug(tmp_path: Path) -> None:
    shellcheck = require("shellcheck")
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/bin/bash\nrm -rf $dir/*\n")
    proc = subprocess.run([shellcheck, str(bad)], capture_output=True, check=False, timeout=60)
    assert proc.returncode != 0


def fake_gateway(tmp_path: Path, *, fail: bool = False) -> Path:
    """Stands in for `prepaid-gateway db backup FILE`, copying a database file."""
    database = tmp_path / "gateway.db"
    database.write_bytes(b"SQLite format 3\x00 sales ledger")
    tool = tmp_path / "prepaid-gateway"
    body = "exit 3" if fail else f'[ "$1 $2" = "db backup" ] && cp "{database}" "$3"'
    tool.write_text(f"#!/bin/sh\n{body}\n")
    tool.chmod(0o755)
    return tool


def run_backup(
    tmp_path: Path, mode: str, stamp: str, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BACKUP), mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={
            "PATH": os.environ["PATH"],
            "PREPAID_GATEWAY_BIN": str(tmp_path / "prepaid-gateway"),
            "PREPAID_GATEWAY_BACKUP_DIR": str(tmp_path / "backups"),
            "PREPAID_GATEWAY_BACKUP_KEEP": "3",
            "PREPAID_GATEWAY_USB_KEEP": "2",
            "PREPAID_GATEWAY_BACKUP_STAMP": stamp,
            **env,
        },
    )


def test_daily_backups_rotate_keeping_the_newest(tmp_path: Path) -> None:
    fake_gateway(tmp_path)
    for day in range(1, 6):
        assert run_backup(tmp_path, "data", f"2025030{day}-023000").returncode == 0
    backups = sorted(p.name for p in (tmp_path / "backups").iterdir())
    assert backups == [
        "gateway-20250303-023000.db",
        "gateway-20250304-023000.db",
        "gateway-20250305-023000.db",
    ]
    newest = tmp_path / "backups/gateway-20250305-023000.db"
    assert newest.read_bytes() == (tmp_path / "gateway.db").read_bytes()


def test_a_failed_backup_rotates_nothing_away(tmp_path: Path) -> None:
    fake_gateway(tmp_path)
    for day in range(1, 4):
        run_backup(tmp_path, "data", f"2025030{day}-023000")
    before = sorted(p.name for p in (tmp_path / "backups").iterdir())
    fake_gateway(tmp_path, fail=True)
    proc = run_backup(tmp_path, "data", "20250304-023000")
    assert proc.returncode != 0
    assert "db backup failed" in proc.stderr
    assert sorted(p.name for p in (tmp_path / "backups").iterdir()) == before


def test_usb_copy_goes_to_the_stick_and_rotates_there(tmp_path: Path) -> None:
    fake_gateway(tmp_path)
    stick = tmp_path / "stick"
    for day in range(1, 4):
        run_backup(tmp_path, "data", f"2025030{day}-023000")
        proc = run_backup(tmp_path, "usb", "", PREPAID_GATEWAY_USB_DIR=str(stick))
        assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in stick.iterdir()) == [
        "gateway-20250302-023000.db",
        "gateway-20250303-023000.db",
    ]


def test_no_stick_is_not_an_error(tmp_path: Path) -> None:
    require("blkid")
    fake_gateway(tmp_path)
    run_backup(tmp_path, "data", "20250301-023000")
    label = f"NOSUCH{os.getpid()}"
    proc = run_backup(tmp_path, "usb", "", PREPAID_GATEWAY_USB_LABEL=label)
    assert proc.returncode == 0
    assert f"no USB stick labelled {label}" in proc.stdout
