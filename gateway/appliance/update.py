"""Install a signed release bundle with a way back.

Order of events, and what a failure at each step leaves behind:

1. verify the bundle completely (signature, every hash)      -> nothing changed
2. build ``releases/<version>/venv`` offline from its wheels   -> old release still current
3. back up the database with the running (old) release       -> old release still current
4. switch ``current`` (one atomic rename), restart the service
5. probe health until the deadline; on failure switch back to the previous release, restart
   and probe again (E908), or report that the rollback is unhealthy too (E909)

The database is never restored automatically: the new release may already have recorded sales
before it failed, and a sale lost is worse than a manual restore from the kept backup.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import stat
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.appliance.bundle import Manifest, VerifiedBundle, open_bundle
from gateway.appliance.config import UpdateConfig
from gateway.appliance.errors import ApplianceError
from gateway.appliance.hooks import (
    CommandBackup,
    HealthProbe,
    Runner,
    no_remount,
    remount_writable,
    run_command,
)
from gateway.appliance.releases import Layout
from gateway.appliance.signing import load_trusted_keys

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Backup = Callable[[Path], None]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Installer(Protocol):
    def install(self, wheels: Path, venv: Path, version: str) -> None:
        """Create ``venv`` holding prepaid-gateway ``version`` from ``wheels`` only."""


@dataclass(frozen=True)
class VenvInstaller:
    """``python -m venv`` + ``pip install --no-index``: sites are offline.

    With ``pip_python`` set, the venv is made without pip and that interpreter's pip installs
    into it (``pip --python``), which is much faster; the default keeps pip in every release so
    the next update can run from it.
    """

    python: str = "/usr/bin/python3"
    pip_python: str | None = None
    system_site_packages: bool = False
    timeout: float = 1800.0
    runner: Runner = run_command

    def install(self, wheels: Path, venv: Path, version: str) -> None:
        requirement = f"prepaid-gateway=={version}"
        pip_args = ["install", "--no-index", "--no-cache-dir", "--find-links", str(wheels)]
        make_venv = [self.python, "-m", "venv"]
        if self.system_site_packages:
            make_venv.append("--system-site-packages")
            # Debian's copies of our dependencies must not stand in for the bundle's versions.
            pip_args.append("--ignore-installed")
        if self.pip_python is None:
            self._run([*make_venv, str(venv)])
            self._run([str(venv / "bin" / "python"), "-m", "pip", *pip_args, requirement])
        else:
            self._run([*make_venv, "--without-pip", str(venv)])
            self._run(
                [
                    self.pip_python,
                    "-m",
                    "pip",
                    "--python",
                    str(venv / "bin" / "python"),
                    *pip_args,
                    requirement,
                ]
            )
        if not (venv / "bin" / "prepaid-gateway").exists():
            raise RuntimeError("the installed release has no prepaid-gateway command")

    def _run(self, argv: list[str]) -> None:
        code = self.runner(argv, self.timeout)
        if code != 0:
            raise RuntimeError(f"{argv[0]} {argv[1:3]} exited {code}")


@dataclass(frozen=True)
class StatusFile:
    """The last update's progress and outcome, for ``update status`` and the web UI."""

    path: Path
    clock: Clock = utc_now

    def write(self, state: str, **fields: str | None) -> None:
        record = {"state": state, "at": self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")}
        record.update({k: v for k, v in fields.items() if v is not None})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n")
        tmp.chmod(0o644)
        tmp.replace(self.path)

    def read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


@dataclass(frozen=True)
class UpdateResult:
    version: str
    previous: str | None
    key_id: str
    backup: Path | None


class Updater:
    def __init__(
        self,
        layout: Layout,
        trusted_keys: Mapping[str, Ed25519PublicKey],
        installer: Installer,
        *,
        backup: Backup | None,
        restart: Callable[[], bool],
        health: Callable[[], bool],
        status: StatusFile,
        work_dir: Path,
        backup_dir: Path,
        backups_kept: int = 5,
        clock: Clock = utc_now,
        writable: Callable[[Path], AbstractContextManager[None]] = no_remount,
    ) -> None:
        self.layout = layout
        self.trusted_keys = dict(trusted_keys)
        self.installer = installer
        self.backup = backup
        self.restart = restart
        self.health = health
        self.status = status
        self.work_dir = work_dir
        self.backup_dir = backup_dir
        self.backups_kept = backups_kept
        self.clock = clock
        self.writable = writable

    @classmethod
    def from_config(cls, config: UpdateConfig, runner: Runner = run_command) -> Updater:
        layout = Layout(Path(config.prefix))
        keys = load_trusted_keys(Path(k) for k in config.keys)

        def restart() -> bool:
            return runner(config.restart_command, config.restart_timeout) == 0

        probe = HealthProbe(
            command=config.health_command,
            deadline=config.health_deadline,
            settle=config.health_settle,
            interval=config.health_interval,
            runner=runner,
        )

        def writable(path: Path) -> AbstractContextManager[None]:
            return remount_writable(path, runner) if config.remount else no_remount(path)

        return cls(
            layout,
            keys,
            VenvInstaller(
                python=config.python,
                system_site_packages=config.system_site_packages,
                runner=runner,
            ),
            backup=CommandBackup(config.backup_command, layout.venv, runner=runner),
            restart=restart,
            health=probe.wait,
            status=StatusFile(Path(config.status_file)),
            work_dir=Path(config.work_dir),
            backup_dir=Path(config.backup_dir),
            backups_kept=config.pre_update_backups_kept,
            writable=writable,
        )

    # -- public operations ---------------------------------------------------------------

    def verify(self, bundle: Path) -> Manifest:
        """Check a bundle without installing it (the staging copy is removed again)."""
        with self._locked():
            verified = open_bundle(bundle, self.trusted_keys, self.work_dir / "staging")
            shutil.rmtree(verified.wheels_dir, ignore_errors=True)
            return verified.manifest

    def install(self, bundle: Path) -> UpdateResult:
        with self._locked():
            self.status.write("verifying", bundle=bundle.name)
            try:
                verified = open_bundle(bundle, self.trusted_keys, self.work_dir / "staging")
            except ApplianceError as exc:
                self.status.write("refused", bundle=bundle.name, code=exc.code, message=str(exc))
                raise
            try:
                return self._install_verified(verified)
            except ApplianceError as exc:
                if exc.code == "E905":
                    self.status.write(
                        "refused", bundle=bundle.name, code=exc.code, message=str(exc)
                    )
                raise
            except OSError as exc:  # disk full, remount refused: all before the switch
                self.status.write("failed", bundle=bundle.name, code="E906", message=str(exc))
                raise ApplianceError("E906", str(exc)) from exc
            finally:
                shutil.rmtree(verified.wheels_dir, ignore_errors=True)

    def rollback(self) -> UpdateResult:
        """Go back to the previous release by hand (e.g. a fault noticed days later)."""
        with self._locked():
            target = self.layout.previous_version()
            current = self.layout.current_version()
            if target is None or current is None:
                raise ApplianceError("E913")
            with self.writable(self.layout.prefix):
                self.status.write("switching", version=target, previous=current)
                self.layout.switch(target)
                if self._restart_and_check(target):
                    self.status.write("done", version=target, previous=current)
                    return UpdateResult(target, current, "", None)
                return self._roll_back(target, current, backup=None)

    # -- steps -----------------------------------------------------------------------------

    def _install_verified(self, verified: VerifiedBundle) -> UpdateResult:
        version = verified.manifest.version
        current = self.layout.current_version()
        if version == current:
            raise ApplianceError("E905", f"version {version}")
        with self.writable(self.layout.prefix):
            self._build_release(verified)
            backup = self._backup(current, version)
            self.status.write("switching", version=version, previous=current)
            self.layout.switch(version)
            log.info("switched to release %s (was %s)", version, current)
            if self._restart_and_check(version):
                self.status.write(
                    "done",
                    version=version,
                    previous=current,
                    backup=str(backup) if backup else None,
                )
                self._tidy()
                return UpdateResult(version, current, verified.key_id, backup)
            return self._roll_back(version, current, backup)

    def _build_release(self, verified: VerifiedBundle) -> None:
        version = verified.manifest.version
        layout = self.layout
        if (
            layout.is_complete(version)
            and layout.release_info(version).get("manifest_sha256") == verified.manifest_sha256
        ):
            log.info("release %s is already built from this bundle; reusing it", version)
            return
        if layout.previous_version() == version:
            layout.previous.unlink()  # about to be rebuilt; it stops being a rollback target
        layout.discard(version)
        self.status.write("installing", version=version)
        target = layout.release(version)
        target.mkdir(parents=True)
        try:
            self.installer.install(verified.wheels_dir, target / "venv", version)
        except Exception as exc:
            shutil.rmtree(target, ignore_errors=True)
            self.status.write("failed", version=version, code="E906", message=str(exc))
            raise ApplianceError("E906", str(exc)) from None
        layout.mark_complete(
            version,
            {
                "version": version,
                "manifest_sha256": verified.manifest_sha256,
                "key_id": verified.key_id,
                "installed_at": self.clock().strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        )

    def _backup(self, current: str | None, version: str) -> Path | None:
        if self.backup is None or current is None:
            return None
        stamp = self.clock().strftime("%Y%m%d-%H%M%S")
        target = self.backup_dir / f"pre-update-{current}-to-{version}-{stamp}.db"
        self.status.write("backing-up", version=version, backup=str(target))
        try:
            self.backup(target)
        except Exception as exc:
            self.status.write("failed", version=version, code="E907", message=str(exc))
            raise ApplianceError("E907", str(exc)) from None
        return target

    def _restart_and_check(self, version: str) -> bool:
        self.status.write("checking", version=version)
        if not self.restart():
            log.warning("restarting the service on release %s failed", version)
            return False
        return self.health()

    def _roll_back(self, failed: str, previous: str | None, backup: Path | None) -> UpdateResult:
        kept = f"; database backup kept at {backup}" if backup else ""
        if previous is None:
            self.status.write("rollback-failed", version=failed, code="E909")
            raise ApplianceError("E909", f"release {failed} is unhealthy and none ran before")
        log.warning("release %s is unhealthy; rolling back to %s", failed, previous)
        self.status.write("rolling-back", version=previous, failed=failed)
        self.layout.switch(previous)
        if self._restart_and_check(previous):
            self.status.write("rolled-back", version=previous, failed=failed, code="E908")
            raise ApplianceError("E908", f"{failed} failed; {previous} runs again{kept}")
        self.status.write("rollback-failed", version=previous, failed=failed, code="E909")
        raise ApplianceError("E909", f"{failed} failed and so does {previous}{kept}")

    def _tidy(self) -> None:
        """Old releases and pre-update backups; the update succeeded whatever happens here."""
        try:
            removed = self.layout.prune()
            backups = sorted(
                self.backup_dir.glob("pre-update-*.db"), key=lambda p: p.stat().st_mtime
            )
            for old in backups[: -self.backups_kept]:
                old.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove old releases or backups: %s", exc)
            return
        if removed:
            log.info("removed old releases %s", ", ".join(removed))

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.work_dir / "update.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ApplianceError("E910") from None
            yield
        finally:
            os.close(fd)


# -- the web UI's path: stage an uploaded bundle for the root-owned update unit -----------


def stage_upload(upload: Path, config: UpdateConfig) -> Manifest:
    """Check an uploaded bundle, then queue it in the inbox for prepaid-gateway-update.path.

    Runs as the service user (blocking: call it through ``asyncio.to_thread``). The update unit
    checks the bundle again as root: the inbox is writable by the service user, so this check
    only gives the operator an immediate answer, it grants nothing.
    """
    inbox = Path(config.inbox)
    inbox.mkdir(parents=True, exist_ok=True)
    keys = load_trusted_keys(Path(k) for k in config.keys)
    # Inside the inbox: the only place the service user may write. Dot names never match the
    # path unit's *.bundle glob.
    staging = inbox / f".check-{os.getpid()}"
    try:
        verified = open_bundle(upload, keys, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    queued = inbox / f".{verified.manifest.version}.bundle.part"
    shutil.copyfile(upload, queued)
    queued.replace(inbox / f"{verified.manifest.version}.bundle")
    return verified.manifest


def take_from_inbox(config: UpdateConfig) -> Path | None:
    """Move the newest queued bundle out of the inbox (so a failure cannot retrigger forever)."""
    inbox = Path(config.inbox)
    if not inbox.is_dir():
        return None
    candidates = [
        p for p in inbox.iterdir() if p.name.endswith(".bundle") and not p.name.startswith(".")
    ]
    # The inbox is writable by the service user: a symlink or FIFO there must not make root
    # read some other file or hang. Only plain files are taken; anything else is removed.
    queued = []
    for path in candidates:
        if stat.S_ISREG(path.lstat().st_mode):
            queued.append(path)
        else:
            path.unlink(missing_ok=True)
    queued.sort(key=lambda p: p.lstat().st_mtime)
    for older in queued[:-1]:  # only the newest upload counts
        older.unlink(missing_ok=True)
    if not queued:
        return None
    taken = inbox.parent / "processing.bundle"
    queued[-1].replace(taken)
    return taken
