"""Signed release bundles: refused when tampered or foreign, installed with a way back.

Releases are real virtual environments built by pip from real (tiny) wheels; the health check
runs the installed console script through the ``venv`` symlink, so it checks what is actually
switched in. Restart and backup are shell commands writing into the scratch directory.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.appliance.bundle import make_bundle, open_bundle
from gateway.appliance.config import UpdateConfig
from gateway.appliance.errors import ApplianceError
from gateway.appliance.hooks import CommandBackup, HealthProbe, run_command
from gateway.appliance.releases import Layout
from gateway.appliance.signing import generate_keypair, load_private_key, load_trusted_keys
from gateway.appliance.update import StatusFile, Updater, VenvInstaller, take_from_inbox
from gateway.cli.main import main as cli
from tests.integration.appliance.conftest import build_wheel

CREATED = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


class Rig:
    """A scratch appliance: prefix, trusted key, database file, restart log."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.prefix = tmp / "opt/prepaid-gateway"
        self.keys = tmp / "update-keys"
        self.keys.mkdir(parents=True)
        self.private = tmp / "release.key"
        generate_keypair(self.private, self.keys / "release.pub")
        self.wheels = tmp / "wheels"
        self.wheels.mkdir()
        self.database = tmp / "state/gateway.db"
        self.database.parent.mkdir()
        self.database.write_bytes(b"SQLite format 3\x00 ledger rows")
        self.backups = tmp / "state/backups"
        self.backups.mkdir()
        self.restarts = tmp / "restarts.log"
        self.status_path = tmp / "update/status.json"
        self.backup_command = ["cp", str(self.database), "{file}"]
        self.remounts: list[str] = []

    @contextmanager
    def writable(self, path: Path) -> Iterator[None]:
        """Records when the updater asks for a writable prefix (the image's read-only root)."""
        self.remounts.append(f"rw {path}")
        yield
        self.remounts.append(f"ro {path}")

    def bundle(self, version: str, *, healthy: bool = True, key: Path | None = None) -> Path:
        wheel = build_wheel(self.wheels, version, healthy=healthy)
        out = self.tmp / f"gw-{version}.bundle"
        make_bundle([wheel], load_private_key(key or self.private), out, created=CREATED)
        return out

    def updater(self, *, backup_command: list[str] | None = None) -> Updater:
        layout = Layout(self.prefix)
        restart_cmd = ["sh", "-c", f'readlink "{layout.current}" >> "{self.restarts}"']
        probe = HealthProbe(
            command=[str(layout.venv / "bin/prepaid-gateway"), "health"],
            deadline=3.0,
            settle=0.3,
            interval=0.05,
        )
        return Updater(
            layout,
            load_trusted_keys([self.keys]),
            VenvInstaller(python=sys.executable, pip_python=sys.executable),
            backup=CommandBackup(backup_command or self.backup_command, layout.venv),
            restart=lambda: run_command(restart_cmd, 10) == 0,
            health=probe.wait,
            status=StatusFile(self.status_path),
            work_dir=self.tmp / "update",
            backup_dir=self.backups,
            writable=self.writable,
        )

    def running(self) -> str:
        """What the service would run now: the version the switched-in console script prints."""
        import subprocess

        out = subprocess.run(
            [str(self.prefix / "venv/bin/prepaid-gateway")],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()

    def snapshot(self) -> dict[str, object]:
        """Everything an update may change, to show that a refused one changed nothing."""
        files = sorted(str(p.relative_to(self.tmp)) for p in self.tmp.rglob("*"))
        links = {
            name: os.readlink(self.prefix / name)
            for name in ("current", "previous", "venv")
            if (self.prefix / name).is_symlink()
        }
        restarts = self.restarts.read_text() if self.restarts.exists() else ""
        files = [f for f in files if not f.startswith(("update/", "gw-", "wheels/"))]
        return {"files": files, "links": links, "restarts": restarts}


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    rig = Rig(tmp_path)
    result = rig.updater().install(rig.bundle("1.0.0"))
    assert result.version == "1.0.0"
    assert result.backup is None  # nothing ran before: nothing to back up
    assert rig.running() == "1.0.0"
    return rig


def test_good_bundle_backs_up_switches_restarts_and_keeps_the_previous(rig: Rig) -> None:
    result = rig.updater().install(rig.bundle("1.1.0"))

    assert rig.running() == "1.1.0"
    layout = Layout(rig.prefix)
    assert layout.current_version() == "1.1.0"
    assert layout.previous_version() == "1.0.0"
    assert os.readlink(rig.prefix / "venv") == "current/venv"
    assert result.backup is not None
    assert result.backup.read_bytes() == rig.database.read_bytes()
    assert result.backup.name.startswith("pre-update-1.0.0-to-1.1.0-")
    assert rig.restarts.read_text().splitlines() == ["releases/1.0.0", "releases/1.1.0"]
    assert rig.remounts[-2:] == [f"rw {rig.prefix}", f"ro {rig.prefix}"]
    status = json.loads(rig.status_path.read_text())
    assert status["state"] == "done"
    assert status["version"] == "1.1.0"
    assert status["previous"] == "1.0.0"


def test_unhealthy_release_is_rolled_back(rig: Rig) -> None:
    with pytest.raises(ApplianceError) as err:
        rig.updater().install(rig.bundle("1.1.0", healthy=False))

    assert err.value.code == "E908"
    assert "backup kept" in err.value.detail
    assert rig.running() == "1.0.0"
    assert Layout(rig.prefix).current_version() == "1.0.0"
    # restarted onto the bad release, then back onto the good one
    assert rig.restarts.read_text().splitlines() == [
        "releases/1.0.0",
        "releases/1.1.0",
        "releases/1.0.0",
    ]
    assert json.loads(rig.status_path.read_text())["state"] == "rolled-back"
    assert len(list(rig.backups.glob("pre-update-1.0.0-to-1.1.0-*.db"))) == 1
    assert "处理办法" in err.value.for_operator()


def _rewrite(bundle: Path, out: Path, change: dict[str, bytes]) -> Path:
    """Copy a bundle, replacing some members' bytes (what an attacker or a bad copy does)."""
    with tarfile.open(bundle, "r:gz") as src, tarfile.open(out, "w:gz") as dst:
        for member in src:
            data = src.extractfile(member)
            assert data is not None
            content = change.get(member.name, data.read())
            member.size = len(content)
            dst.addfile(member, io.BytesIO(content))
    return out


def test_tampered_wheel_is_refused_and_nothing_changes(rig: Rig) -> None:
    good = rig.bundle("1.1.0")
    with tarfile.open(good) as tar:
        name = next(m.name for m in tar if m.name.endswith(".whl"))
        wheel = tar.extractfile(name)
        assert wheel is not None
        data = bytearray(wheel.read())
    data[100] ^= 0x01
    bad = _rewrite(good, rig.tmp / "tampered.bundle", {name: bytes(data)})
    before = rig.snapshot()

    with pytest.raises(ApplianceError) as err:
        rig.updater().install(bad)

    assert err.value.code == "E903"
    assert rig.snapshot() == before
    assert rig.running() == "1.0.0"
    assert json.loads(rig.status_path.read_text())["state"] == "refused"
    # checked before the read-only root was ever made writable
    assert rig.remounts == [f"rw {rig.prefix}", f"ro {rig.prefix}"]  # from installing 1.0.0


def test_tampered_manifest_breaks_the_signature(rig: Rig) -> None:
    good = rig.bundle("1.1.0")
    with tarfile.open(good) as tar:
        manifest = tar.extractfile("manifest.json")
        assert manifest is not None
        text = manifest.read().replace(b'"notes": ""', b'"notes": "harmless?"')
    bad = _rewrite(good, rig.tmp / "tampered.bundle", {"manifest.json": text})
    before = rig.snapshot()

    with pytest.raises(ApplianceError) as err:
        rig.updater().install(bad)

    assert err.value.code == "E902"
    assert rig.snapshot() == before


def test_bundle_signed_with_another_key_is_refused(rig: Rig) -> None:
    other = rig.tmp / "other.key"
    generate_keypair(other, rig.tmp / "other.pub")
    before = rig.snapshot()

    with pytest.raises(ApplianceError) as err:
        rig.updater().install(rig.bundle("1.1.0", key=other))

    assert err.value.code == "E902"
    assert rig.snapshot() == before
    assert rig.running() == "1.0.0"


def test_no_trusted_keys_refuses_everything(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    bundle = rig.bundle("1.0.0")
    with pytest.raises(ApplianceError) as err:
        open_bundle(bundle, {}, tmp_path / "staging")
    assert err.value.code == "E904"
    assert not (tmp_path / "staging").exists()


def test_unsafe_member_names_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    evil = tmp_path / "evil.bundle"
    with tarfile.open(evil, "w:gz") as tar:
        for name in ("manifest.json", "manifest.sig", "../../escaped.whl"):
            info = tarfile.TarInfo(name)
            info.size = 3
            tar.addfile(info, io.BytesIO(b"abc"))
    with pytest.raises(ApplianceError) as err:
        open_bundle(evil, load_trusted_keys([rig.keys]), tmp_path / "staging")
    assert err.value.code == "E903"
    assert not (tmp_path.parent / "escaped.whl").exists()
    assert not (tmp_path / "staging").exists()


def test_garbage_file_is_not_a_bundle(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    junk = tmp_path / "junk.bundle"
    junk.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(ApplianceError) as err:
        open_bundle(junk, load_trusted_keys([rig.keys]), tmp_path / "staging")
    assert err.value.code == "E901"


def test_failed_backup_stops_the_update_before_the_switch(rig: Rig) -> None:
    before = rig.snapshot()
    updater = rig.updater(backup_command=["false", "{file}"])

    with pytest.raises(ApplianceError) as err:
        updater.install(rig.bundle("1.1.0"))

    assert err.value.code == "E907"
    assert rig.running() == "1.0.0"
    after = rig.snapshot()
    assert after["links"] == before["links"]
    assert after["restarts"] == before["restarts"]


def test_failed_install_leaves_no_half_release(rig: Rig) -> None:
    wheel = build_wheel(rig.wheels, "1.1.0")
    bundle = rig.tmp / "mislabelled.bundle"
    # Signed as 2.0.0 but only holds 1.1.0: pip cannot satisfy prepaid-gateway==2.0.0 offline.
    make_bundle([wheel], load_private_key(rig.private), bundle, created=CREATED, version="2.0.0")

    with pytest.raises(ApplianceError) as err:
        rig.updater().install(bundle)

    assert err.value.code == "E906"
    assert not (rig.prefix / "releases/2.0.0").exists()
    assert rig.running() == "1.0.0"
    assert Layout(rig.prefix).installed() == ["1.0.0"]


def test_reinstalling_the_running_version_is_refused(rig: Rig) -> None:
    with pytest.raises(ApplianceError) as err:
        rig.updater().install(rig.bundle("1.0.0"))
    assert err.value.code == "E905"


def test_manual_rollback_and_pruning(rig: Rig) -> None:
    updater = rig.updater()
    updater.install(rig.bundle("1.1.0"))
    updater.install(rig.bundle("1.2.0"))
    # current and previous are kept; the older release is removed
    assert Layout(rig.prefix).installed() == ["1.1.0", "1.2.0"]

    result = updater.rollback()
    assert (result.version, result.previous) == ("1.1.0", "1.2.0")
    assert rig.running() == "1.1.0"


def test_bundles_are_reproducible(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    wheel = build_wheel(rig.wheels, "1.0.0")
    key = load_private_key(rig.private)
    make_bundle([wheel], key, tmp_path / "a.bundle", created=CREATED)
    make_bundle([wheel], key, tmp_path / "b.bundle", created=CREATED)
    assert (tmp_path / "a.bundle").read_bytes() == (tmp_path / "b.bundle").read_bytes()


def _config(rig: Rig) -> Path:
    layout = Layout(rig.prefix)
    config = rig.tmp / "gateway.toml"
    lines = [
        "[update]",
        f'prefix = "{rig.prefix}"',
        f'keys = ["{rig.keys}"]',
        f'python = "{sys.executable}"',
        f'backup_command = ["cp", "{rig.database}", "{{file}}"]',
        f'backup_dir = "{rig.backups}"',
        f'restart_command = ["sh", "-c", \'readlink {layout.current} >> {rig.restarts}\']',
        f'health_command = ["{layout.venv}/bin/prepaid-gateway", "health"]',
        "health_deadline = 10",
        "health_settle = 0.3",
        "health_interval = 0.05",
        f'status_file = "{rig.status_path}"',
        f'work_dir = "{rig.tmp / "update"}"',
        f'inbox = "{rig.tmp / "inbox"}"',
        "remount = false",
    ]
    config.write_text("\n".join(lines) + "\n")
    return config


def test_cli_release_side_and_gateway_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """keygen + make-bundle on the release machine; stage + install-inbox + status on site."""
    rig = Rig(tmp_path)
    assert cli(["update", "keygen", "--name", "site", "--out-dir", str(tmp_path / "k")]) == 0
    (tmp_path / "k/site.pub").rename(rig.keys / "site.pub")
    wheel = build_wheel(rig.wheels, "3.0.0")
    bundle = tmp_path / "gw-3.0.0.bundle"
    created = "2025-03-01T08:00:00+00:00"
    argv = ["update", "make-bundle", "--key", str(tmp_path / "k/site.key"), "--out", str(bundle)]
    assert cli([*argv, "--created", created, str(wheel)]) == 0
    config = _config(rig)

    assert cli(["update", "--config", str(config), "verify", str(bundle)]) == 0
    assert "prepaid-gateway 3.0.0" in capsys.readouterr().out

    # The web UI's path: queue as the service user, then the root unit installs it.
    assert cli(["update", "stage", "--config", str(config), str(bundle)]) == 0
    assert (tmp_path / "inbox/3.0.0.bundle").exists()
    assert cli(["update", "install-inbox", "--config", str(config)]) == 0
    assert not (tmp_path / "inbox/3.0.0.bundle").exists()
    assert rig.running() == "3.0.0"

    capsys.readouterr()
    assert cli(["update", "status", "--config", str(config)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["state"] == "done"
    assert status["current"] == "3.0.0"


def test_cli_reports_refusal_bilingually_with_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = Rig(tmp_path)
    other = tmp_path / "other.key"
    generate_keypair(other, tmp_path / "other.pub")
    bundle = rig.bundle("1.0.0", key=other)
    config = _config(rig)

    assert cli(["update", str(bundle), "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "E902" in err
    assert "升级包签名无效" in err
    assert "Remedy:" in err
    assert not (rig.prefix / "current").exists()


def test_inbox_takes_only_plain_files(tmp_path: Path) -> None:
    """The service user can write the inbox; root must not follow its symlinks."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    secret = tmp_path / "shadow"
    secret.write_text("root:$y$...")
    (inbox / "a-evil.bundle").symlink_to(secret)
    os.mkfifo(inbox / "b-hang.bundle")
    real = inbox / "c-real.bundle"
    real.write_bytes(b"bundle bytes")
    os.utime(inbox / "a-evil.bundle", (2e9, 2e9), follow_symlinks=False)  # newest by far
    config = UpdateConfig(inbox=str(inbox), keys=(str(tmp_path),))

    taken = take_from_inbox(config)

    assert taken is not None
    assert taken.read_bytes() == b"bundle bytes"
    assert list(inbox.iterdir()) == []
    assert secret.read_text() == "root:$y$..."
