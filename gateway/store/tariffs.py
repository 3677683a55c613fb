"""Price types (F5.1) with effective-dated, append-only versions.

A version's ``tariff`` is the document gateway/billing understands (flat, tiered, time-of-use,
prices in integer 0.0001 yuan/kWh); this module stores it and never interprets it. Editing a
price type adds a version; sales record the version they were priced with (and a snapshot), so
a tariff arriving from the cloud while the site was offline never reprices an old sale.
Deleting a price type archives it: its versions stay, because sales point at them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from gateway.store import canonical
from gateway.store.clock import to_text
from gateway.store.conn import Conn
from gateway.store.errors import InUseError, InvalidValueError, NotFoundError


@dataclass(frozen=True)
class PriceType:
    id: int
    name: str
    description: str
    archived: bool
    created_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> PriceType:
        return cls(
            row["id"], row["name"], row["description"], bool(row["archived"]), row["created_at"]
        )


@dataclass(frozen=True)
class PriceVersion:
    id: int
    price_type_id: int
    version_no: int
    effective_from: str
    tariff: dict[str, Any]
    source: Literal["local", "cloud"]
    cloud_ref: str | None
    created_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> PriceVersion:
        return cls(
            id=row["id"],
            price_type_id=row["price_type_id"],
            version_no=row["version_no"],
            effective_from=row["effective_from"],
            tariff=canonical.loads(row["tariff"]),
            source=row["source"],
            cloud_ref=row["cloud_ref"],
            created_at=row["created_at"],
        )


def create_type(c: Conn, name: str, description: str = "") -> PriceType:
    if not name.strip():
        raise InvalidValueError("price type name must not be empty")
    type_id = c.insert(
        "INSERT INTO price_types (name, description, created_at) VALUES (?, ?, ?)",
        (name.strip(), description, c.now_text()),
    )
    return get_type(c, type_id)


def rename_type(c: Conn, type_id: int, name: str, description: str) -> PriceType:
    if not name.strip():
        raise InvalidValueError("price type name must not be empty")
    if not c.execute(
        "UPDATE price_types SET name = ?, description = ? WHERE id = ?",
        (name.strip(), description, type_id),
    ):
        raise NotFoundError(f"price type {type_id}")
    return get_type(c, type_id)


def archive_type(c: Conn, type_id: int) -> PriceType:
    """The manual's "delete": refused (E306) while an open account uses the price type."""
    in_use = c.scalar(
        "SELECT count(*) FROM accounts WHERE price_type_id = ? AND status = 'open'", (type_id,)
    )
    if in_use:
        raise InUseError(f"price type {type_id} is used by {in_use} open accounts")
    if not c.execute("UPDATE price_types SET archived = 1 WHERE id = ?", (type_id,)):
        raise NotFoundError(f"price type {type_id}")
    return get_type(c, type_id)


def get_type(c: Conn, type_id: int) -> PriceType:
    row = c.one("SELECT * FROM price_types WHERE id = ?", (type_id,))
    if row is None:
        raise NotFoundError(f"price type {type_id}")
    return PriceType.from_row(row)


def list_types(c: Conn, *, include_archived: bool = False) -> list[PriceType]:
    sql = "SELECT * FROM price_types"
    if not include_archived:
        sql += " WHERE archived = 0"
    return [PriceType.from_row(r) for r in c.all(sql + " ORDER BY name")]


def add_version(
    c: Conn,
    type_id: int,
    tariff: Mapping[str, Any],
    effective_from: datetime,
    *,
    source: Literal["local", "cloud"] = "local",
    cloud_ref: str | None = None,
) -> PriceVersion:
    """Append a version. A cloud version repeated (same ``cloud_ref``) returns the stored one."""
    if source not in ("local", "cloud"):
        raise InvalidValueError(f"source must be local or cloud, got {source!r}")
    if cloud_ref is not None:
        row = c.one(
            "SELECT * FROM price_versions WHERE price_type_id = ? AND cloud_ref = ?",
            (type_id, cloud_ref),
        )
        if row is not None:
            return PriceVersion.from_row(row)
    get_type(c, type_id)
    text = canonical.dumps(dict(tariff))
    number = c.scalar(
        "SELECT coalesce(max(version_no), 0) + 1 FROM price_versions WHERE price_type_id = ?",
        (type_id,),
    )
    version_id = c.insert(
        "INSERT INTO price_versions (price_type_id, version_no, effective_from, tariff, source, "
        "cloud_ref, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (type_id, number, to_text(effective_from), text, source, cloud_ref, c.now_text()),
    )
    return get_version(c, version_id)


def get_version(c: Conn, version_id: int) -> PriceVersion:
    row = c.one("SELECT * FROM price_versions WHERE id = ?", (version_id,))
    if row is None:
        raise NotFoundError(f"price version {version_id}")
    return PriceVersion.from_row(row)


def version_at(c: Conn, type_id: int, moment: datetime) -> PriceVersion | None:
    """The version in force at ``moment``: latest effective_from <= moment (ties: newest)."""
    row = c.one(
        "SELECT * FROM price_versions WHERE price_type_id = ? AND effective_from <= ? "
        "ORDER BY effective_from DESC, version_no DESC LIMIT 1",
        (type_id, to_text(moment)),
    )
    return None if row is None else PriceVersion.from_row(row)


def versions(c: Conn, type_id: int) -> list[PriceVersion]:
    return [
        PriceVersion.from_row(r)
        for r in c.all(
            "SELECT * FROM price_versions WHERE price_type_id = ? ORDER BY version_no", (type_id,)
        )
    ]
