"""Signed release bundles: a reproducible tar.gz of wheels plus a manifest signed with Ed25519.

Layout (nothing else is accepted)::

    manifest.json   {"format", "name", "version", "created", "notes", "files": [...]}
    manifest.sig    base64 Ed25519 signature over the exact bytes of manifest.json
    wheels/*.whl    every wheel the release needs (installs run offline, --no-index)

The manifest lists each wheel with its SHA-256 and size, so one signature covers everything.
Opening a bundle never trusts its contents before the check: member names and types are
whitelisted, sizes are capped (an SD card must not fill up from a gzip bomb), and wheels are
written only into a fresh staging directory that is removed again on any failure.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import io
import json
import re
import shutil
import tarfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.appliance.errors import ApplianceError
from gateway.appliance.signing import key_id

FORMAT = "prepaid-gateway-bundle/1"
PACKAGE = "prepaid-gateway"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
WHEEL_DIR = "wheels"

MAX_MEMBERS = 1000
MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_TOTAL_BYTES = 1024 * 1024 * 1024
MAX_MANIFEST_BYTES = 1024 * 1024

_WHEEL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*\.whl$")
_VERSION = re.compile(r"^[0-9][0-9A-Za-z.+_-]{0,62}$")
_GATEWAY_WHEEL = re.compile(r"^prepaid_gateway-([^-]+)-")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def check_version(version: str) -> str:
    """A version is also a directory name under releases/: keep it boring."""
    if not _VERSION.match(version) or ".." in version:
        raise ValueError(f"not an acceptable release version: {version!r}")
    return version


@dataclass(frozen=True)
class FileEntry:
    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    created: str
    notes: str
    files: tuple[FileEntry, ...]

    def to_bytes(self) -> bytes:
        body = {
            "format": FORMAT,
            "name": self.name,
            "version": self.version,
            "created": self.created,
            "notes": self.notes,
            "files": [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in self.files],
        }
        return (json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        try:
            body = _manifest_body(data)
            files = tuple(_file_entry(item) for item in body["files"])
            manifest = cls(
                name=_text(body, "name"),
                version=check_version(_text(body, "version")),
                created=_text(body, "created"),
                notes=_text(body, "notes"),
                files=files,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ApplianceError("E901", f"manifest: {exc}") from None
        if manifest.name != PACKAGE:
            raise ApplianceError("E901", f"bundle is for {manifest.name!r}, not {PACKAGE!r}")
        return manifest


def _manifest_body(data: bytes) -> dict[str, Any]:
    body = json.loads(data.decode())
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise ValueError(f"format is not {FORMAT}")
    return body


def _text(body: Mapping[str, Any], key: str) -> str:
    value = body[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} must be a string")
    return value


def _file_entry(item: Any) -> FileEntry:
    if not isinstance(item, dict):
        raise TypeError("file entry must be an object")
    path, digest, size = item["path"], item["sha256"], item["size"]
    if not isinstance(path, str) or not _member_is_wheel(path):
        raise ValueError(f"bad file path {path!r}")
    if not isinstance(digest, str) or not _SHA256.match(digest):
        raise ValueError(f"bad sha256 for {path}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"bad size for {path}")
    return FileEntry(path, digest, size)


def _member_is_wheel(name: str) -> bool:
    head, _, tail = name.partition("/")
    return head == WHEEL_DIR and "/" not in tail and bool(_WHEEL_NAME.match(tail))


@dataclass(frozen=True)
class VerifiedBundle:
    manifest: Manifest
    key_id: str  # which trusted key signed it
    manifest_sha256: str
    wheels_dir: Path  # staging directory holding exactly the manifest's wheels


def version_from_wheels(wheels: Sequence[Path]) -> str:
    versions = {m.group(1) for w in wheels if (m := _GATEWAY_WHEEL.match(w.name))}
    if len(versions) != 1:
        raise ValueError(
            "give exactly one prepaid_gateway-*.whl among the wheels "
            f"(found versions: {sorted(versions) or 'none'})"
        )
    return versions.pop()


def make_bundle(
    wheels: Sequence[Path],
    private_key: Ed25519PrivateKey,
    out: Path,
    *,
    created: datetime,
    version: str | None = None,
    notes: str = "",
) -> Manifest:
    """Write a signed bundle. Same inputs and ``created`` give the same bytes."""
    names = [w.name for w in wheels]
    for name in names:
        if not _WHEEL_NAME.match(name):
            raise ValueError(f"not a wheel file name: {name}")
    if len(set(names)) != len(names):
        raise ValueError("the same wheel name is given twice")
    version = check_version(version or version_from_wheels(wheels))
    entries = []
    for wheel in sorted(wheels, key=lambda w: w.name):
        data = wheel.read_bytes()
        entries.append(
            FileEntry(f"{WHEEL_DIR}/{wheel.name}", hashlib.sha256(data).hexdigest(), len(data))
        )
    manifest = Manifest(
        name=PACKAGE,
        version=version,
        created=created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        notes=notes,
        files=tuple(entries),
    )
    manifest_bytes = manifest.to_bytes()
    signature = base64.b64encode(private_key.sign(manifest_bytes)) + b"\n"
    mtime = int(created.timestamp())
    tmp = out.with_name(out.name + ".part")
    with (
        tmp.open("wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        _add_bytes(tar, MANIFEST, manifest_bytes, mtime)
        _add_bytes(tar, SIGNATURE, signature, mtime)
        for wheel in sorted(wheels, key=lambda w: w.name):
            _add_bytes(tar, f"{WHEEL_DIR}/{wheel.name}", wheel.read_bytes(), mtime)
    tmp.replace(out)
    return manifest


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = mtime
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    tar.addfile(info, io.BytesIO(data))


def open_bundle(
    path: Path, trusted: Mapping[str, Ed25519PublicKey], staging: Path
) -> VerifiedBundle:
    """Check ``path`` completely and leave its wheels in ``staging`` (created fresh).

    Raises ApplianceError E901 (unreadable), E902 (signature), E903 (content), E904 (no keys);
    on any error ``staging`` does not exist afterwards.
    """
    if not trusted:
        raise ApplianceError("E904")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    try:
        return _open_into(path, trusted, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _open_into(
    path: Path, trusted: Mapping[str, Ed25519PublicKey], staging: Path
) -> VerifiedBundle:
    manifest_bytes: bytes | None = None
    signature_text: bytes | None = None
    digests: dict[str, tuple[str, int]] = {}
    total = 0
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for count, member in enumerate(tar, start=1):
                if count > MAX_MEMBERS:
                    raise ApplianceError("E903", f"more than {MAX_MEMBERS} members")
                name = member.name
                if member.isdir() and name.rstrip("/") == WHEEL_DIR:
                    continue
                if not member.isreg():
                    raise ApplianceError("E903", f"member {name!r} is not a regular file")
                if member.size > MAX_FILE_BYTES:
                    raise ApplianceError("E903", f"member {name!r} is too large")
                total += member.size
                if total > MAX_TOTAL_BYTES:
                    raise ApplianceError("E903", "bundle content is too large")
                if name in digests or (name == MANIFEST and manifest_bytes is not None):
                    raise ApplianceError("E903", f"member {name!r} appears twice")
                source = tar.extractfile(member)
                if source is None:  # pragma: no cover - isreg() members always have data
                    raise ApplianceError("E903", f"member {name!r} has no data")
                if name in (MANIFEST, SIGNATURE):
                    if member.size > MAX_MANIFEST_BYTES:
                        raise ApplianceError("E903", f"member {name!r} is too large")
                    data = source.read()
                    if name == MANIFEST:
                        manifest_bytes = data
                    elif signature_text is None:
                        signature_text = data
                    else:
                        raise ApplianceError("E903", f"member {name!r} appears twice")
                elif _member_is_wheel(name):
                    target = staging / name.partition("/")[2]
                    digests[name] = _copy_hashing(source, target)
                else:
                    raise ApplianceError("E903", f"unexpected member {name!r}")
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise ApplianceError("E901", f"{path.name}: {exc}") from None
    if manifest_bytes is None or signature_text is None:
        raise ApplianceError("E901", f"{path.name}: no {MANIFEST} or {SIGNATURE} inside")
    signer = _verify_signature(manifest_bytes, signature_text, trusted)
    manifest = Manifest.from_bytes(manifest_bytes)
    listed = {f.path: f for f in manifest.files}
    if set(listed) != set(digests):
        extra = sorted(set(digests) - set(listed))
        missing = sorted(set(listed) - set(digests))
        raise ApplianceError("E903", f"unlisted files {extra}, missing files {missing}")
    for name, entry in listed.items():
        digest, size = digests[name]
        if digest != entry.sha256 or size != entry.size:
            raise ApplianceError("E903", f"{name} does not match its SHA-256 in the manifest")
    if not any(_GATEWAY_WHEEL.match(Path(p).name) for p in listed):
        raise ApplianceError("E903", "no prepaid_gateway wheel in the bundle")
    return VerifiedBundle(
        manifest=manifest,
        key_id=signer,
        manifest_sha256=hashlib.sha256(manifest_bytes).hexdigest(),
        wheels_dir=staging,
    )


def _copy_hashing(source: IO[bytes], target: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with target.open("xb") as out:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
            try:
                out.write(chunk)
            except OSError as exc:  # disk full is ours, not the bundle's fault
                raise ApplianceError("E906", f"cannot write {target}: {exc}") from None
    return digest.hexdigest(), size


def _verify_signature(
    manifest_bytes: bytes, signature_text: bytes, trusted: Mapping[str, Ed25519PublicKey]
) -> str:
    try:
        signature = base64.b64decode(signature_text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ApplianceError("E902", "manifest.sig is not base64") from None
    for kid, key in trusted.items():
        try:
            key.verify(signature, manifest_bytes)
        except InvalidSignature:
            continue
        return kid
    known = ", ".join(sorted(trusted))
    raise ApplianceError("E902", f"checked against trusted key ids {known}")


def signer_id(private_key: Ed25519PrivateKey) -> str:
    return key_id(private_key.public_key())
