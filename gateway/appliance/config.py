"""The ``[update]`` table of gateway.toml: where releases live and how to restart and check.

Every path and command is configurable so tests (and unusual installs) run in a scratch
directory with their own restart and health commands.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from gateway.typedconfig import ConfigError, from_dict

DEFAULT_CONFIG = Path("/etc/prepaid-gateway/gateway.toml")
SERVICE = "prepaid-gateway.service"


@dataclass(frozen=True)
class UpdateConfig:
    prefix: str = "/opt/prepaid-gateway"
    # Files or directories (every *.pub inside) holding trusted release public keys.
    keys: tuple[str, ...] = ("/etc/prepaid-gateway/update-keys",)
    # Interpreter new releases' virtual environments are built from.
    python: str = "/usr/bin/python3"
    # Let releases see Debian's Python packages (python3-lgpio for the GPIO pins, as
    # install.sh does); everything the gateway declares is installed into the venv itself.
    system_site_packages: bool = True
    # Run as the service user so SQLite's -wal/-shm files never end up owned by root.
    # {venv} is the running release's venv, {file} the backup file to write.
    backup_command: tuple[str, ...] = (
        "runuser",
        "-u",
        "prepaid-gateway",
        "--",
        "{venv}/bin/prepaid-gateway",
        "db",
        "backup",
        "{file}",
    )
    backup_dir: str = "/var/lib/prepaid-gateway/backups"
    pre_update_backups_kept: int = 5
    restart_command: tuple[str, ...] = ("systemctl", "restart", SERVICE)
    restart_timeout: float = 300.0
    # Healthy = exits 0 on every probe for health_settle seconds, within health_deadline.
    health_command: tuple[str, ...] = ("systemctl", "is-active", "--quiet", SERVICE)
    health_deadline: float = 180.0
    health_settle: float = 30.0
    health_interval: float = 2.0
    # Root's working area (lock, staging of verified wheels). Not under prefix: on the image
    # the prefix is on the read-only root, which is only made writable after verification.
    work_dir: str = "/var/lib/prepaid-gateway-update"
    status_file: str = "/var/lib/prepaid-gateway-update/status.json"
    # Bundles uploaded through the web UI wait here for prepaid-gateway-update.path.
    inbox: str = "/var/lib/prepaid-gateway-update/inbox"
    # The image has a read-only root: remount it read-write only while installing.
    remount: bool = True

    def __post_init__(self) -> None:
        if not self.keys:
            raise ConfigError("keys", "name at least one key file or directory")
        for name in ("restart_command", "health_command", "backup_command"):
            if not getattr(self, name):
                raise ConfigError(name, "must not be empty")
        if "{file}" not in self.backup_command:
            raise ConfigError("backup_command", "must contain {file}")
        if self.health_settle < 0 or self.health_interval <= 0:
            raise ConfigError("health_interval", "must be positive (health_settle >= 0)")
        if self.health_deadline < self.health_settle:
            raise ConfigError("health_deadline", "must be at least health_settle")
        if self.pre_update_backups_kept < 1:
            raise ConfigError("pre_update_backups_kept", "must be at least 1")


def load_update_config(path: Path) -> UpdateConfig:
    """The ``[update]`` table of ``path``; defaults when the file or the table is absent."""
    if not path.exists():
        return UpdateConfig()
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("<root>", f"{path}: {exc}") from None
    return from_dict(UpdateConfig, data.get("update", {}), "update")
