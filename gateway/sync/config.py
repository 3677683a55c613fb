"""``[mqtt]`` section of the gateway configuration (F1.1, master-station communication).

Secrets (password, site key) may sit in files readable only by the service user; they are read
by ``load_secrets`` at connect time, in a thread, so a rotated file is picked up on reconnect.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from gateway.sync.contract import ALWAYS_SIGNED, COMMANDS, DEFAULT_SIGNED, check_ident
from gateway.typedconfig import ConfigError, from_dict

MIN_KEY_BYTES = 16
_PREFIX = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")


@dataclass(frozen=True)
class MqttConfig:
    enabled: bool = False
    host: str = "localhost"
    port: int = 1883
    # TLS is on when tls = true or any of the files is given; ca_file None = system CAs.
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    username: str | None = None
    password: str | None = None
    password_file: str | None = None
    client_id: str | None = None
    prefix: str = "prepaid"
    site_id: str = "site1"
    gateway_id: str = "gw1"
    keepalive: int = 60
    # How long the broker keeps our subscriptions and queued commands/acks while we are away.
    session_expiry_s: int = 7 * 24 * 3600
    allowed_commands: tuple[str, ...] = COMMANDS
    signed_commands: tuple[str, ...] = DEFAULT_SIGNED
    site_key: str | None = None
    site_key_file: str | None = None
    replay_window_s: int = 600
    outbox_alarm_threshold: int = 10_000
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 300.0
    # Events published but not yet acknowledged by the cloud, per stream (flow control).
    publish_window: int = 5_000
    # Republish from the last ack when the cloud has not acknowledged anything for this long.
    resend_after_s: float = 60.0
    status_interval_s: int = 300
    retain_acked_days: int = 30

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ConfigError("port", f"must be 1..65535, got {self.port}")
        for key in ("site_id", "gateway_id"):
            try:
                check_ident(getattr(self, key), key)
            except ValueError as exc:
                raise ConfigError(key, str(exc)) from None
        if not _PREFIX.match(self.prefix):
            raise ConfigError("prefix", "must be topic levels of A-Z a-z 0-9 _ - joined by '/'")
        if not 5 <= self.keepalive <= 3600:
            raise ConfigError("keepalive", "must be 5..3600 seconds")
        if self.password is not None and self.password_file is not None:
            raise ConfigError("password_file", "give password or password_file, not both")
        if (self.password or self.password_file) and not self.username:
            raise ConfigError("username", "is required when a password is given")
        if (self.cert_file is None) != (self.key_file is None):
            raise ConfigError("key_file", "cert_file and key_file go together (client certificate)")
        if self.site_key is not None and self.site_key_file is not None:
            raise ConfigError("site_key_file", "give site_key or site_key_file, not both")
        if self.site_key is not None:
            try:
                parse_site_key(self.site_key)
            except ValueError as exc:
                raise ConfigError("site_key", str(exc)) from None
        for key in ("allowed_commands", "signed_commands"):
            unknown = sorted(set(getattr(self, key)) - set(COMMANDS))
            if unknown:
                raise ConfigError(key, f"unknown command {unknown[0]!r} (known: {COMMANDS})")
        missing = sorted(ALWAYS_SIGNED - set(self.signed_commands))
        if missing:
            raise ConfigError(
                "signed_commands", f"{missing[0]!r} moves money or power: must be signed"
            )
        if not 10 <= self.replay_window_s <= 86_400:
            raise ConfigError("replay_window_s", "must be 10..86400 seconds")
        if self.outbox_alarm_threshold < 1:
            raise ConfigError("outbox_alarm_threshold", "must be at least 1")
        if not 0 < self.backoff_initial_s <= self.backoff_max_s:
            raise ConfigError("backoff_initial_s", "must be > 0 and <= backoff_max_s")
        if not 1 <= self.publish_window <= 100_000:
            raise ConfigError("publish_window", "must be 1..100000")
        if self.resend_after_s < 1:
            raise ConfigError("resend_after_s", "must be at least 1 second")
        if self.status_interval_s < 5:
            raise ConfigError("status_interval_s", "must be at least 5 seconds")
        if self.retain_acked_days < 0:
            raise ConfigError("retain_acked_days", "must be >= 0")

    @property
    def uses_tls(self) -> bool:
        return self.tls or self.ca_file is not None or self.cert_file is not None

    @property
    def effective_client_id(self) -> str:
        # Stable across restarts: the broker's persistent session is keyed by it.
        return self.client_id or f"pg-{self.site_id}-{self.gateway_id}"


@dataclass(frozen=True)
class Secrets:
    password: str | None
    site_key: bytes | None


def parse_site_key(text: str) -> bytes:
    """A site key is written as hex (64 hex digits for 32 bytes); whitespace is ignored."""
    cleaned = "".join(text.split())
    try:
        key = bytes.fromhex(cleaned)
    except ValueError:
        raise ValueError("site key must be hexadecimal (e.g. 64 hex digits)") from None
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(
            f"site key must be at least {MIN_KEY_BYTES} bytes ({2 * MIN_KEY_BYTES} hex)"
        )
    return key


def read_site_key_file(path: str | Path) -> bytes:
    try:
        text = Path(path).read_text("ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("site_key_file", f"cannot read {path}: {exc}") from None
    try:
        return parse_site_key(text)
    except ValueError as exc:
        raise ConfigError("site_key_file", f"{path}: {exc}") from None


def load_password(config: MqttConfig) -> str | None:
    """Blocking file read: call through ``asyncio.to_thread`` from the event loop."""
    if config.password_file is None:
        return config.password
    try:
        return Path(config.password_file).read_text("utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ConfigError("password_file", f"cannot read {config.password_file}: {exc}") from None


def load_site_key(config: MqttConfig) -> bytes | None:
    """Blocking file read: call through ``asyncio.to_thread`` from the event loop."""
    if config.site_key is not None:
        return parse_site_key(config.site_key)
    if config.site_key_file is not None:
        return read_site_key_file(config.site_key_file)
    return None


def load_secrets(config: MqttConfig) -> Secrets:
    return Secrets(password=load_password(config), site_key=load_site_key(config))


def load_mqtt_section(config_file: Path | None) -> MqttConfig | None:
    """The ``[mqtt]`` table of gateway.toml for command-line tools; None when there is no file.

    The file is ``config_file``, else ``$PREPAID_GATEWAY_CONFIG``, else the default path; an
    explicitly named file that does not exist is an error.
    """
    candidate = config_file or Path(
        os.environ.get("PREPAID_GATEWAY_CONFIG", "/etc/prepaid-gateway/gateway.toml")
    )
    if not candidate.is_file():
        if config_file is not None:
            raise ConfigError("<file>", f"config file {candidate} does not exist")
        return None
    try:
        data = tomllib.loads(candidate.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("<file>", f"{candidate}: {exc}") from None
    return from_dict(MqttConfig, data.get("mqtt", {}), "mqtt")
