"""Where the ledger lives: the ``[store]`` table of gateway.toml, the environment, a default.

Precedence: an explicit path (``--database``) > ``PREPAID_GATEWAY_DB`` > ``[store] path`` of
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


@dataclass(frozen=True)
class StoreConfig:
    """``[store]`` in gateway.toml."""

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
    """The ``[store]`` table of the config file, or defaults when there is no file/table."""
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
    return from_dict(StoreConfig, data.get("store", {}), "store")


def resolve_database_path(explicit: str | Path | None, config_file: Path | None = None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_DB)
    if env:
        return Path(env)
    return Path(load_store_config(config_file).path)
