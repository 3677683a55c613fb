"""Carrying the outbox on a USB stick: export at the gateway, receipt back from the master.

Export file: JSON lines. Line 1 is a header (export-header.json), then one event per line exactly
as it would be published (backfill true), then a trailer (export-trailer.json) holding the count,
the SHA-256 of every byte before the trailer and an HMAC-SHA256 of the same bytes with the site
key. A truncated copy fails the checksum; a forged one fails the HMAC.

After import the master station writes a receipt (receipt.json, HMAC-signed) naming the highest
contiguous seq per stream it now holds; applying it at the gateway acknowledges those events, so
a site that never gets a network link still drains its outbox.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import aiosqlite

from gateway.sync import errors
from gateway.sync.contract import (
    CONTRACT_VERSION,
    STREAMS,
    ContractError,
    canonical_json,
    event_envelope_text,
    utc_iso,
    validate,
)
from gateway.sync.outbox import ack, pending, positions

FORMAT = "prepaid-gateway-outbox"
RECEIPT_FORMAT = "prepaid-gateway-receipt"
PAGE = 2000


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    count: int
    streams: dict[str, tuple[int, int]]
    signed: bool


@dataclass(frozen=True)
class ExportFile:
    header: dict[str, Any]
    events: list[dict[str, Any]]
    signed: bool

    @property
    def site_id(self) -> str:
        return str(self.header["site_id"])

    @property
    def gateway_id(self) -> str:
        return str(self.header["gateway_id"])


def _open_for_write(path: Path) -> IO[bytes]:
    return path.open("wb")


def _finish(handle: IO[bytes], tmp: Path, final: Path) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()
    # Rename only a complete file: a stick pulled mid-export leaves no plausible partial file.
    tmp.replace(final)
    dir_fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


async def export_unacked(
    conn: aiosqlite.Connection,
    path: str | Path,
    *,
    site_id: str,
    gateway_id: str,
    key: bytes | None,
    now: datetime,
) -> ExportSummary:
    """Write every unacknowledged event to ``path``; the outbox itself is unchanged."""
    final = Path(path)
    tmp = final.with_name(final.name + ".partial")
    ranges = {
        p.stream: (p.acked_seq + 1, p.last_seq)
        for p in (await positions(conn)).values()
        if p.depth > 0
    }
    header = {
        "format": FORMAT,
        "format_version": 1,
        "contract": CONTRACT_VERSION,
        "site_id": site_id,
        "gateway_id": gateway_id,
        "exported_at": utc_iso(now),
        "streams": {s: {"first": a, "last": b} for s, (a, b) in ranges.items()},
    }
    sha = hashlib.sha256()
    mac = hmac.new(key, digestmod=hashlib.sha256) if key is not None else None
    handle = await asyncio.to_thread(_open_for_write, tmp)
    count = 0
    try:

        async def write(chunk: bytes) -> None:
            sha.update(chunk)
            if mac is not None:
                mac.update(chunk)
            await asyncio.to_thread(handle.write, chunk)

        await write(canonical_json(header) + b"\n")
        for stream, (first, last) in ranges.items():
            after = first - 1
            while after < last:
                page = await pending(conn, stream, after, min(PAGE, last - after))
                if not page:
                    break
                lines = [
                    event_envelope_text(
                        event_id=e.id,
                        stream=e.stream,
                        seq=e.seq,
                        created_at=e.created_at,
                        backfill=True,
                        site_id=site_id,
                        gateway_id=gateway_id,
                        payload_json=e.payload_json,
                    )
                    for e in page
                ]
                await write(("\n".join(lines) + "\n").encode())
                count += len(page)
                after = page[-1].seq
        trailer = {
            "end": True,
            "count": count,
            "sha256": sha.hexdigest(),
            "hmac_sha256": mac.hexdigest() if mac is not None else None,
        }
        await asyncio.to_thread(handle.write, canonical_json(trailer) + b"\n")
        await asyncio.to_thread(_finish, handle, tmp, final)
    except BaseException:
        handle.close()
        tmp.unlink(missing_ok=True)
        raise
    return ExportSummary(final, count, ranges, key is not None)


def read_export(path: str | Path, key: bytes | None, *, require_signature: bool) -> ExportFile:
    """Read and verify an export file (blocking: run in a thread from async code).

    Raises SyncError E730 (damaged), E731 (signature) or E732 (not this format).
    """
    data = Path(path).read_bytes()
    if not data.endswith(b"\n"):
        raise errors.SyncError(errors.EXPORT_CORRUPT, "file does not end with a complete line")
    cut = data.rstrip(b"\n").rfind(b"\n") + 1
    body, trailer_line = data[:cut], data[cut:]
    try:
        trailer = json.loads(trailer_line)
        header = json.loads(body[: body.index(b"\n")])
    except (ValueError, json.JSONDecodeError):
        raise errors.SyncError(errors.EXPORT_FORMAT, "no header or trailer line") from None
    try:
        validate("export-header", header)
        validate("export-trailer", trailer)
    except ContractError as exc:
        raise errors.SyncError(errors.EXPORT_FORMAT, str(exc)) from None
    if hashlib.sha256(body).hexdigest() != trailer["sha256"]:
        raise errors.SyncError(errors.EXPORT_CORRUPT, "SHA-256 of the content does not match")
    signed = trailer["hmac_sha256"] is not None
    if signed and key is not None:
        expected = hmac.new(key, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, trailer["hmac_sha256"]):
            raise errors.SyncError(errors.EXPORT_BAD_SIGNATURE)
    elif require_signature:
        why = "the file is not signed" if not signed else "no site key was given to check it"
        raise errors.SyncError(errors.EXPORT_BAD_SIGNATURE, why)
    events = [json.loads(line) for line in body.splitlines()[1:]]
    if len(events) != trailer["count"]:
        raise errors.SyncError(errors.EXPORT_CORRUPT, "event count does not match the trailer")
    for ev in events:
        if ev.get("site_id") != header["site_id"] or ev.get("gateway_id") != header["gateway_id"]:
            raise errors.SyncError(errors.EXPORT_CORRUPT, "event from another gateway inside")
    return ExportFile(header, events, signed and key is not None)


# ---------------------------------------------------------------- receipts


def make_receipt(
    *, site_id: str, gateway_id: str, acks: Mapping[str, int], key: bytes, now: datetime
) -> dict[str, object]:
    body: dict[str, object] = {
        "format": RECEIPT_FORMAT,
        "site_id": site_id,
        "gateway_id": gateway_id,
        "issued_at": utc_iso(now),
        "acks": {s: int(v) for s, v in acks.items() if s in STREAMS},
    }
    body["hmac_sha256"] = hmac.new(key, canonical_json(body), hashlib.sha256).hexdigest()
    return body


def verify_receipt(
    receipt: Mapping[str, Any], *, key: bytes, site_id: str, gateway_id: str
) -> dict[str, int]:
    try:
        validate("receipt", receipt)
    except ContractError as exc:
        raise errors.SyncError(errors.RECEIPT_INVALID, str(exc)) from None
    body = {k: v for k, v in receipt.items() if k != "hmac_sha256"}
    expected = hmac.new(key, canonical_json(body), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, str(receipt["hmac_sha256"])):
        raise errors.SyncError(errors.RECEIPT_INVALID, "signature does not match the site key")
    if receipt["site_id"] != site_id or receipt["gateway_id"] != gateway_id:
        raise errors.SyncError(
            errors.RECEIPT_INVALID,
            f"receipt is for {receipt['site_id']}/{receipt['gateway_id']}",
        )
    return {str(s): int(v) for s, v in receipt["acks"].items()}


async def apply_receipt(
    conn: aiosqlite.Connection,
    receipt: Mapping[str, Any],
    *,
    key: bytes,
    site_id: str,
    gateway_id: str,
) -> dict[str, int]:
    """Acknowledge what the receipt names; returns the acked seq per stream afterwards."""
    acks = verify_receipt(receipt, key=key, site_id=site_id, gateway_id=gateway_id)
    return {stream: await ack(conn, stream, seq) for stream, seq in acks.items()}
