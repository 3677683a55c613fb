"""Where the ledger lives: the ``[database]`` table of gateway.toml, the environment, a default.

Precedence: an explicit path (``--database``) > ``PREPAID_GATEWAY_DB`` > ``[database] path`` of
the config file (``--config`` or ``PREPAID_GATEWAY_CONFIG``) >
``/var/lib/prepaid-gateway/gateway.sqlite``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from gateway.typedconfig import ConfigError, from_dict

DEFAULT_PATH = "/var/lib/prepaid-gateway/gateway.sqlite"
DEFAULT_CONFIG = "/etc/prepaid-gateway/gateway.toml"
ENV_DB = "PREPAID_GATEWAY_DB"
ENV_CONFIG = "PREPAID_GATEWAY_CONFIG"
# Keys of [database] that the gateway's own configuration uses and the store does not.
_GATEWAY_KEYS = frozenset({"backup_dir"})


@dataclass(frozen=True)
class StoreConfig:
    """The store's part of ``[database]`` in gateway.toml (the gateway's own table)."""

    path: str = DEFAULT_PATH
    busy_timeout_ms: int = 5000
    readers: int = 2

    def __post_init__(self) -> None:
        if not self.path:
            raise ConfigError("path", "must not be empty")
        if not 100 <= self.busy_timeout_ms <= 600_000:
            raise ConfigError("busy_timeout_ms", "must be 100..600000")
        if not 1 <= self.readers <= 8:
            raise ConfigError("readers", "must be 1..8")


def load_store_config(config_file: Path | None = None) -> StoreConfig:
    """The ``[database]`` table of the config file, or defaults when there is no file/table.

    Only the keys the store knows are taken: the rest of the table (``backup_dir``) belongs to
    the gateway's own configuration, which validates the whole file.
    """
    candidate = config_file or Path(os.environ.get(ENV_CONFIG, DEFAULT_CONFIG))
    if not candidate.is_file():
        if config_file is not None:
            raise ConfigError("<file>", f"config file {candidate} does not exist")
        return StoreConfig()
    try:
        with candidate.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("<file>", f"{candidate}: {exc}") from None
    table = data.get("database", {})
    if not isinstance(table, dict):
        raise ConfigError("database", "must be a table")
    known = {"path", "busy_timeout_ms", "readers"}
    for key in sorted(set(table) - known - _GATEWAY_KEYS):
        raise ConfigError(
            f"database.{key}", f"unknown key (known: {', '.join(sorted(known | _GATEWAY_KEYS))})"
        )
    return from_dict(StoreConfig, {k: v for k, v in table.items() if k in known}, "database")


def resolve_database_path(explicit: str | Path | None, config_file: Path | None = None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_DB)
    if env:
        return Path(env)
    return Path(load_store_config(config_file).path)
