"""``prepaid-gateway update``: install signed release bundles, and make them.

On the gateway (as root)::

    prepaid-gateway update FILE            install a bundle (same as: update install FILE)
    prepaid-gateway update verify FILE     check signature and contents only
    prepaid-gateway update stage FILE      queue for the update unit (web UI / service user)
    prepaid-gateway update install-inbox   what prepaid-gateway-update.service runs
    prepaid-gateway update status          the last update's outcome
    prepaid-gateway update rollback        go back to the previous release

On the release machine::

    prepaid-gateway update keygen --name release-2025
    prepaid-gateway update make-bundle --key release-2025.key --out gw-0.2.0.bundle WHEEL...
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from gateway.appliance.bundle import make_bundle
from gateway.appliance.config import DEFAULT_CONFIG, UpdateConfig, load_update_config
from gateway.appliance.errors import ApplianceError
from gateway.appliance.releases import Layout
from gateway.appliance.signing import generate_keypair, load_private_key
from gateway.appliance.update import StatusFile, Updater, stage_upload, take_from_inbox
from gateway.typedconfig import ConfigError

log = logging.getLogger(__name__)

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_ROLLED_BACK = 3
EXIT_ROLLBACK_FAILED = 4


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "update",
        help="install a signed release bundle (or make one)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", type=Path, help="gateway.toml with an [update] table")
    # Parsed by _main so that both `update FILE` and `update ACTION ...` work.
    parser.add_argument("words", nargs=argparse.REMAINDER, metavar="[ACTION] ...")
    parser.set_defaults(func=_main)


def _action_parsers(config: Path | None) -> dict[str, argparse.ArgumentParser]:
    default = config or Path(os.environ.get("PREPAID_GATEWAY_CONFIG", DEFAULT_CONFIG))

    def new(action: str, description: str) -> argparse.ArgumentParser:
        p = argparse.ArgumentParser(
            prog=f"prepaid-gateway update {action}", description=description
        )
        if action not in ("keygen", "make-bundle"):
            p.add_argument(
                "--config",
                type=Path,
                default=default,
                help="gateway.toml whose [update] table applies (default: %(default)s)",
            )
        return p

    install = new("install", "Verify and install a signed bundle, with rollback.")
    install.add_argument("file", type=Path)
    verify = new("verify", "Check a bundle's signature and contents without installing.")
    verify.add_argument("file", type=Path)
    stage = new("stage", "Check a bundle and queue it for the update unit.")
    stage.add_argument("file", type=Path)
    inbox = new("install-inbox", "Install the newest queued bundle (run by the update unit).")
    status = new("status", "Show the last update's state as JSON.")
    rollback = new("rollback", "Switch back to the previous release and restart.")
    keygen = new("keygen", "Create an Ed25519 release key pair (NAME.key, NAME.pub).")
    keygen.add_argument("--name", required=True)
    keygen.add_argument("--out-dir", type=Path, default=Path())
    make = new("make-bundle", "Sign a set of wheels into a release bundle.")
    make.add_argument("--key", type=Path, required=True, help="private key (PEM)")
    make.add_argument("--out", type=Path, required=True)
    make.add_argument("--version", help="default: from the prepaid_gateway wheel's name")
    make.add_argument("--notes", default="")
    make.add_argument(
        "--created",
        help="ISO time recorded in the bundle (default: $SOURCE_DATE_EPOCH, else now)",
    )
    make.add_argument("wheels", type=Path, nargs="+")
    return {
        "install": install,
        "verify": verify,
        "stage": stage,
        "install-inbox": inbox,
        "status": status,
        "rollback": rollback,
        "keygen": keygen,
        "make-bundle": make,
    }


def _main(args: argparse.Namespace) -> int:
    words: list[str] = list(args.words)
    parsers = _action_parsers(args.config)
    if not words:
        print(__doc__)
        return EXIT_USAGE
    action = words[0] if words[0] in parsers else "install"
    rest = words[1:] if words[0] in parsers else words
    options = parsers[action].parse_args(rest)
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "install": _install,
        "verify": _verify,
        "stage": _stage,
        "install-inbox": _install_inbox,
        "status": _status,
        "rollback": _rollback,
        "keygen": _keygen,
        "make-bundle": _make_bundle,
    }
    try:
        return handlers[action](options)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ApplianceError as exc:
        print(exc.for_operator(), file=sys.stderr)
        return {"E908": EXIT_ROLLED_BACK, "E909": EXIT_ROLLBACK_FAILED}.get(exc.code, EXIT_ERROR)
    except PermissionError as exc:
        print(
            f"{exc}: installing updates needs root (sudo prepaid-gateway update ...)",
            file=sys.stderr,
        )
        return EXIT_ERROR


def _config(options: argparse.Namespace) -> UpdateConfig:
    return load_update_config(Path(options.config))


def _install(options: argparse.Namespace) -> int:
    updater = Updater.from_config(_config(options))
    result = updater.install(options.file)
    print(
        f"installed {result.version} (was {result.previous or 'none'}), "
        f"signed by key {result.key_id}; database backup: {result.backup or 'none'}"
    )
    return 0


def _verify(options: argparse.Namespace) -> int:
    manifest = Updater.from_config(_config(options)).verify(options.file)
    print(f"OK: prepaid-gateway {manifest.version}, created {manifest.created}")
    for entry in manifest.files:
        print(f"  {entry.path}  {entry.size} bytes  sha256 {entry.sha256}")
    return 0


def _stage(options: argparse.Namespace) -> int:
    manifest = stage_upload(options.file, _config(options))
    print(f"queued prepaid-gateway {manifest.version}; the update unit installs it now")
    return 0


def _install_inbox(options: argparse.Namespace) -> int:
    config = _config(options)
    bundle = take_from_inbox(config)
    if bundle is None:
        print("nothing queued")
        return 0
    try:
        return _install(argparse.Namespace(config=options.config, file=bundle))
    finally:
        bundle.unlink(missing_ok=True)


def _status(options: argparse.Namespace) -> int:
    config = _config(options)
    record = StatusFile(Path(config.status_file)).read()
    layout = Layout(Path(config.prefix))
    record["current"] = layout.current_version() or ""
    record["previous_release"] = layout.previous_version() or ""
    print(json.dumps(record, ensure_ascii=False, indent=2, sort_keys=True))
    return 0


def _rollback(options: argparse.Namespace) -> int:
    result = Updater.from_config(_config(options)).rollback()
    print(f"now running {result.version} (was {result.previous})")
    return 0


def _keygen(options: argparse.Namespace) -> int:
    out_dir: Path = options.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    private, public = out_dir / f"{options.name}.key", out_dir / f"{options.name}.pub"
    if private.exists() or public.exists():
        print(f"refusing to overwrite {private} / {public}", file=sys.stderr)
        return EXIT_ERROR
    kid = generate_keypair(private, public)
    print(f"key id {kid}: keep {private} secret; install {public} on gateways")
    return 0


def _created(text: str | None) -> datetime:
    if text:
        stamp = datetime.fromisoformat(text)
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return datetime.fromtimestamp(int(epoch), UTC)
    return datetime.now(UTC)


def _make_bundle(options: argparse.Namespace) -> int:
    key = load_private_key(options.key)
    wheels: Sequence[Path] = options.wheels
    try:
        manifest = make_bundle(
            wheels,
            key,
            options.out,
            created=_created(options.created),
            version=options.version,
            notes=options.notes,
        )
    except ValueError as exc:
        print(f"cannot make the bundle: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {options.out}: prepaid-gateway {manifest.version}, {len(manifest.files)} wheels")
    return 0
