"""``[web]`` configuration: where the UI listens, TLS, sessions, login throttling, language."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

from gateway.typedconfig import ConfigError

Language = Literal["zh", "en"]
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class WebConfig:
    """The web UI's settings. Plain HTTP (``tls = false``) is only allowed on a loopback address,
    for the demo: passwords and session cookies must never cross a cabinet's network in clear."""

    host: str = "0.0.0.0"
    # The UI's port: HTTPS when ``tls`` is on, plain HTTP (loopback only) when off.
    port: int = 443
    # Plain HTTP that only redirects to the HTTPS port; 0 turns it off.
    redirect_port: int = 80
    tls: bool = True
    # The site's own certificate and key (PEM). Empty: a self-signed pair is generated at first
    # start in ``tls_dir`` and reused afterwards.
    cert_file: str = ""
    key_file: str = ""
    tls_dir: str = "/var/lib/prepaid-gateway/tls"
    # Extra names or IP addresses for the generated certificate (the host name is always in).
    cert_names: tuple[str, ...] = ()
    session_idle_minutes: int = 30
    # Login throttling, per operator name and per client address: after ``login_max_failures``
    # failures the next try waits ``login_lockout_seconds``, doubling with each further failure.
    login_max_failures: int = 5
    login_lockout_seconds: int = 30
    login_lockout_max_seconds: int = 900
    language: Language = "zh"
    page_size: int = 50
    # Largest request body read into memory (forms, JSON, template files); restore uploads stream.
    max_body_bytes: int = 4 * 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("port", "redirect_port"):
            value = getattr(self, name)
            if not 0 <= value <= 65535:
                raise ConfigError(name, f"must be a port number 0..65535, got {value}")
        if self.port == 0:
            raise ConfigError("port", "must not be 0")
        if not self.tls and not is_loopback(self.host):
            raise ConfigError(
                "tls",
                "plain HTTP is only allowed on 127.0.0.1 (demo); turn tls on or set "
                "host = '127.0.0.1'",
            )
        if bool(self.cert_file) != bool(self.key_file):
            raise ConfigError("cert_file", "give both cert_file and key_file, or neither")
        if not 1 <= self.session_idle_minutes <= 24 * 60:
            raise ConfigError("session_idle_minutes", "must be 1..1440")
        if self.login_max_failures < 1:
            raise ConfigError("login_max_failures", "must be at least 1")
        if not 1 <= self.login_lockout_seconds <= self.login_lockout_max_seconds:
            raise ConfigError(
                "login_lockout_seconds", "must be at least 1 and at most login_lockout_max_seconds"
            )
        if not 10 <= self.page_size <= 500:
            raise ConfigError("page_size", "must be 10..500")
        if self.max_body_bytes < 64 * 1024:
            raise ConfigError("max_body_bytes", "must be at least 65536")

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"


PrinterKind = Literal["none", "network", "device"]


@dataclass(frozen=True)
class PrinterConfig:
    """``[printer]``: an optional ESC/POS receipt printer for 【小票打印】 (direct printing).

    ``network``: raw TCP to ``host``:``port`` (9100, "JetDirect"/"RAW" on every network receipt
    printer); ``device``: a device file, the kernel usblp driver's ``/dev/usb/lp0`` for a USB
    printer. ``none`` (the default) hides the button; receipts print from the browser.
    """

    kind: PrinterKind = "none"
    host: str = ""
    port: int = 9100
    path: str = "/dev/usb/lp0"
    # Roll width: 58 mm prints 32 columns (16 Chinese characters), 80 mm 48 (24).
    paper: Literal[58, 80] = 58
    cut: bool = True  # partial cut after the receipt (printers without a cutter ignore it)
    connect_timeout_ms: int = 3000
    write_timeout_ms: int = 10000

    def __post_init__(self) -> None:
        if self.kind == "network" and not self.host.strip():
            raise ConfigError("host", "a network printer needs its host name or IP address")
        if not 1 <= self.port <= 65535:
            raise ConfigError("port", f"must be a port number 1..65535, got {self.port}")
        if self.kind == "device" and not self.path.startswith("/"):
            raise ConfigError("path", f"must be an absolute device path, got {self.path!r}")
        for name in ("connect_timeout_ms", "write_timeout_ms"):
            if not 100 <= getattr(self, name) <= 60_000:
                raise ConfigError(name, "must be between 100 and 60000")

    @property
    def enabled(self) -> bool:
        return self.kind != "none"

    @property
    def target(self) -> str:
        """Where the printer is, as shown in messages: ``192.0.2.7:9100`` or the device path."""
        if self.kind == "network":
            return f"{self.host}:{self.port}"
        return self.path if self.kind == "device" else ""
