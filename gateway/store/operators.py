"""Operators and their permissions (F5.4), login counters and the locked flag.

Password hashes never leave this module in an ``Operator``; ``password_hash()`` is the one
way to read one (for verification in gateway.store.auth). An operator is never deleted, only
deactivated, because ledger rows and log entries name them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.store.conn import Conn
from gateway.store.errors import InvalidValueError, NotFoundError
from gateway.store.permissions import ALL_CODES, OPERATORS_ADMIN


@dataclass(frozen=True)
class Operator:
    id: int
    name: str
    display_name: str
    permissions: frozenset[str]
    must_change_password: bool
    failed_logins: int
    locked: bool
    active: bool
    last_login_at: str | None
    password_changed_at: str | None
    created_at: str
    updated_at: str

    def can(self, permission: str) -> bool:
        return self.active and not self.locked and permission in self.permissions


@dataclass(frozen=True)
class NewOperator:
    name: str
    password_hash: str
    display_name: str = ""
    permissions: frozenset[str] = frozenset()
    must_change_password: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.name.strip())
        if not self.name:
            raise InvalidValueError("operator name must not be empty")
        if len(self.name) > 64:
            raise InvalidValueError("operator name is longer than 64 characters")
        check_permissions(self.permissions)


def check_permissions(codes: Iterable[str]) -> frozenset[str]:
    wanted = frozenset(codes)
    unknown = sorted(wanted - ALL_CODES)
    if unknown:
        raise InvalidValueError(f"unknown permissions: {', '.join(unknown)}")
    return wanted


def _build(c: Conn, row: sqlite3.Row) -> Operator:
    held = frozenset(
        str(r[0])
        for r in c.all(
            "SELECT permission FROM operator_permissions WHERE operator_id = ?", (row["id"],)
        )
    )
    return Operator(
        id=row["id"],
        name=row["name"],
        display_name=row["display_name"],
        permissions=held,
        must_change_password=bool(row["must_change_password"]),
        failed_logins=row["failed_logins"],
        locked=bool(row["locked"]),
        active=bool(row["active"]),
        last_login_at=row["last_login_at"],
        password_changed_at=row["password_changed_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


_COLUMNS = (
    "id, name, display_name, must_change_password, failed_logins, locked, active, "
    "last_login_at, password_changed_at, created_at, updated_at"
)


def create(c: Conn, new: NewOperator) -> Operator:
    now = c.now_text()
    operator_id = c.insert(
        "INSERT INTO operators (name, display_name, password_hash, must_change_password, "
        "password_changed_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            new.name,
            new.display_name,
            new.password_hash,
            int(new.must_change_password),
            now,
            now,
            now,
        ),
    )
    _write_permissions(c, operator_id, new.permissions)
    return get(c, operator_id)


def _write_permissions(c: Conn, operator_id: int, codes: frozenset[str]) -> None:
    c.execute("DELETE FROM operator_permissions WHERE operator_id = ?", (operator_id,))
    c.executemany(
        "INSERT INTO operator_permissions (operator_id, permission) VALUES (?, ?)",
        [(operator_id, code) for code in sorted(codes)],
    )


def get(c: Conn, operator_id: int) -> Operator:
    row = c.one(f"SELECT {_COLUMNS} FROM operators WHERE id = ?", (operator_id,))
    if row is None:
        raise NotFoundError(f"operator {operator_id}")
    return _build(c, row)


def by_name(c: Conn, name: str) -> Operator | None:
    row = c.one(f"SELECT {_COLUMNS} FROM operators WHERE name = ?", (name.strip(),))
    return None if row is None else _build(c, row)


def password_hash(c: Conn, operator_id: int) -> str:
    value = c.scalar("SELECT password_hash FROM operators WHERE id = ?", (operator_id,))
    if value is None:
        raise NotFoundError(f"operator {operator_id}")
    return str(value)


def list_all(c: Conn, *, include_inactive: bool = False) -> list[Operator]:
    sql = f"SELECT {_COLUMNS} FROM operators"
    if not include_inactive:
        sql += " WHERE active = 1"
    return [_build(c, r) for r in c.all(sql + " ORDER BY name")]


def count(c: Conn) -> int:
    return int(c.scalar("SELECT count(*) FROM operators"))


def update(c: Conn, operator_id: int, *, display_name: str, permissions: Iterable[str]) -> Operator:
    codes = check_permissions(permissions)
    before = get(c, operator_id)
    if OPERATORS_ADMIN in before.permissions and OPERATORS_ADMIN not in codes:
        _refuse_last_admin(c, operator_id)
    c.execute(
        "UPDATE operators SET display_name = ?, updated_at = ? WHERE id = ?",
        (display_name, c.now_text(), operator_id),
    )
    _write_permissions(c, operator_id, codes)
    return get(c, operator_id)


def _refuse_last_admin(c: Conn, operator_id: int) -> None:
    others = c.scalar(
        "SELECT count(*) FROM operators AS o JOIN operator_permissions AS p "
        "ON p.operator_id = o.id AND p.permission = ? WHERE o.active = 1 AND o.id <> ?",
        (OPERATORS_ADMIN, operator_id),
    )
    if not others:
        raise InvalidValueError("the last operator who may manage operators cannot lose that right")


def deactivate(c: Conn, operator_id: int) -> Operator:
    """The manual's "delete operator": the name stays for the records, login is refused."""
    if OPERATORS_ADMIN in get(c, operator_id).permissions:
        _refuse_last_admin(c, operator_id)
    c.execute(
        "UPDATE operators SET active = 0, updated_at = ? WHERE id = ?", (c.now_text(), operator_id)
    )
    return get(c, operator_id)


def set_password(c: Conn, operator_id: int, new_hash: str, *, must_change: bool) -> Operator:
    """Store a new hash; clears the failed-login counter and the lock."""
    now = c.now_text()
    if not c.execute(
        "UPDATE operators SET password_hash = ?, must_change_password = ?, failed_logins = 0, "
        "locked = 0, password_changed_at = ?, updated_at = ? WHERE id = ?",
        (new_hash, int(must_change), now, now, operator_id),
    ):
        raise NotFoundError(f"operator {operator_id}")
    return get(c, operator_id)


def record_login_failure(c: Conn, operator_id: int, *, lock_after: int) -> Operator:
    c.execute(
        "UPDATE operators SET failed_logins = failed_logins + 1, "
        "locked = CASE WHEN failed_logins + 1 >= ? THEN 1 ELSE locked END, updated_at = ? "
        "WHERE id = ?",
        (lock_after, c.now_text(), operator_id),
    )
    return get(c, operator_id)


def record_login_success(c: Conn, operator_id: int) -> Operator:
    now = c.now_text()
    c.execute(
        "UPDATE operators SET failed_logins = 0, last_login_at = ?, updated_at = ? WHERE id = ?",
        (now, now, operator_id),
    )
    return get(c, operator_id)
