"""Organisation info (F5.2), the receipt template (F5.3) and key/value settings.

All three survive "clear all customer data". Values are JSON; the receipt template's shape
belongs to the web UI's receipt designer, which validates it before saving.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from gateway.store import canonical
from gateway.store.conn import Conn
from gateway.store.errors import InvalidValueError


@dataclass(frozen=True)
class Organisation:
    name: str = ""
    address: str = ""
    phone: str = ""
    tax_number: str = ""
    bank: str = ""
    bank_account: str = ""
    contact: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


def get_organisation(c: Conn) -> Organisation:
    row = c.one("SELECT * FROM organisation WHERE id = 1")
    if row is None:
        return Organisation()
    return Organisation(
        name=row["name"],
        address=row["address"],
        phone=row["phone"],
        tax_number=row["tax_number"],
        bank=row["bank"],
        bank_account=row["bank_account"],
        contact=row["contact"],
        extra=canonical.loads(row["extra"]),
    )


def save_organisation(c: Conn, org: Organisation) -> Organisation:
    data = asdict(org)
    data["extra"] = canonical.dumps(dict(org.extra))
    data["updated_at"] = c.now_text()
    c.execute(
        "INSERT INTO organisation (id, name, address, phone, tax_number, bank, bank_account, "
        "contact, extra, updated_at) VALUES (1, :name, :address, :phone, :tax_number, :bank, "
        ":bank_account, :contact, :extra, :updated_at) ON CONFLICT (id) DO UPDATE SET "
        "name = excluded.name, address = excluded.address, phone = excluded.phone, "
        "tax_number = excluded.tax_number, bank = excluded.bank, "
        "bank_account = excluded.bank_account, contact = excluded.contact, "
        "extra = excluded.extra, updated_at = excluded.updated_at",
        data,
    )
    return get_organisation(c)


def get_receipt_template(c: Conn) -> dict[str, Any] | None:
    text = c.scalar("SELECT template FROM receipt_template WHERE id = 1")
    return None if text is None else dict(canonical.loads(text))


def save_receipt_template(c: Conn, template: Mapping[str, Any]) -> None:
    if not isinstance(template, Mapping):
        raise InvalidValueError("a receipt template is a JSON object")
    c.execute(
        "INSERT INTO receipt_template (id, template, updated_at) VALUES (1, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET template = excluded.template, "
        "updated_at = excluded.updated_at",
        (canonical.dumps(dict(template)), c.now_text()),
    )


def get_setting(c: Conn, key: str, default: Any = None) -> Any:
    text = c.scalar("SELECT value FROM settings WHERE key = ?", (key,))
    return default if text is None else canonical.loads(text)


def set_setting(c: Conn, key: str, value: Any) -> None:
    if not key:
        raise InvalidValueError("setting key must not be empty")
    c.execute(
        "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        (key, canonical.dumps(value), c.now_text()),
    )


def delete_setting(c: Conn, key: str) -> bool:
    return c.execute("DELETE FROM settings WHERE key = ?", (key,)) > 0


def all_settings(c: Conn) -> dict[str, Any]:
    return {
        str(r["key"]): canonical.loads(r["value"])
        for r in c.all("SELECT key, value FROM settings ORDER BY key")
    }
