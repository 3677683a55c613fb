"""Login, password changes and first-run setup: argon2 in a thread, counters in the database.

Every outcome is written to the operation log. The web layer adds sessions and throttling on
top; this module owns the failed-login counter and the lock (``lock_after`` failures in a row).
"""

from __future__ import annotations

import asyncio
import functools

from gateway.store import operators, oplog
from gateway.store.conn import Conn
from gateway.store.database import Database
from gateway.store.errors import AuthenticationError, NotFoundError, OperatorLockedError
from gateway.store.operators import NewOperator, Operator
from gateway.store.passwords import (
    DEFAULT_OPERATOR,
    DEFAULT_PASSWORD,
    check_strength,
    hash_password,
    hash_password_async,
    verify_password_async,
)
from gateway.store.permissions import ALL_CODES

DEFAULT_LOCK_AFTER = 5


@functools.cache
def _dummy_hash() -> str:
    """Verified when the name is unknown, so a wrong name costs as long as a wrong password."""
    return hash_password("not a password of anybody")


async def authenticate(
    db: Database, name: str, password: str, *, lock_after: int = DEFAULT_LOCK_AFTER
) -> Operator:
    """The operator if name and password match; E314 if not, E315 if locked.

    The caller must send an operator with ``must_change_password`` to the change-password page
    before anything else.
    """

    def _lookup(c: Conn) -> tuple[Operator | None, str | None]:
        found = operators.by_name(c, name)
        return found, (operators.password_hash(c, found.id) if found else None)

    found, stored = await db.read(_lookup)
    if stored is None:
        stored = await asyncio.to_thread(_dummy_hash)
    matched = await verify_password_async(stored, password)
    if found is None or not found.active:
        await db.write(
            oplog.append,
            "auth.login",
            target=f"operator:{name}",
            result="error",
            error_code=AuthenticationError.code,
            detail={"reason": "unknown or inactive"},
        )
        raise AuthenticationError(f"no active operator named {name!r} with that password")
    if found.locked:
        await db.write(
            oplog.append,
            "auth.login",
            operator_id=found.id,
            target=f"operator:{found.name}",
            result="error",
            error_code=OperatorLockedError.code,
        )
        raise OperatorLockedError(f"operator {found.name} is locked")
    if not matched:

        def _fail(c: Conn) -> Operator:
            after = operators.record_login_failure(c, found.id, lock_after=lock_after)
            oplog.append(
                c,
                "auth.login",
                operator_id=found.id,
                target=f"operator:{found.name}",
                result="error",
                error_code=AuthenticationError.code,
                detail={"failed_logins": after.failed_logins, "locked": after.locked},
            )
            return after

        after = await db.write(_fail)
        if after.locked:
            raise OperatorLockedError(
                f"operator {found.name} is now locked after {lock_after} failures"
            )
        raise AuthenticationError(f"wrong password for {found.name}")

    def _ok(c: Conn) -> Operator:
        done = operators.record_login_success(c, found.id)
        oplog.append(c, "auth.login", operator_id=found.id, target=f"operator:{found.name}")
        return done

    return await db.write(_ok)


async def change_password(db: Database, operator_id: int, old: str, new: str) -> Operator:
    """F5.5: old / new (the web form checks new == confirm). Clears must_change_password."""
    check_strength(new)
    stored = await db.read(operators.password_hash, operator_id)
    if not await verify_password_async(stored, old):
        await db.write(
            oplog.append,
            "operator.change_password",
            operator_id=operator_id,
            target=f"operator:{operator_id}",
            result="error",
            error_code=AuthenticationError.code,
        )
        raise AuthenticationError("the old password is wrong")
    new_hash = await hash_password_async(new)

    def _store(c: Conn) -> Operator:
        done = operators.set_password(c, operator_id, new_hash, must_change=False)
        oplog.append(
            c, "operator.change_password", operator_id=operator_id, target=f"operator:{done.name}"
        )
        return done

    return await db.write(_store)


async def reset_password(
    db: Database, name: str, new: str, *, by_operator_id: int | None = None, via: str = "cli"
) -> Operator:
    """Set a temporary password for ``name``, unlock it, and force a change at next login."""
    check_strength(new)
    new_hash = await hash_password_async(new)

    def _store(c: Conn) -> Operator:
        target = operators.by_name(c, name)
        if target is None:
            raise NotFoundError(f"operator {name!r}")
        done = operators.set_password(c, target.id, new_hash, must_change=True)
        oplog.append(
            c,
            "operator.reset_password",
            operator_id=by_operator_id,
            operator_name=None if by_operator_id is not None else via,
            target=f"operator:{done.name}",
            detail={"via": via},
        )
        return done

    return await db.write(_store)


async def initialise(db: Database) -> Operator | None:
    """First run: create ``operator`` / ``00000000`` with every permission, to be changed at
    first login. Returns it, or None when operators already exist (nothing is changed)."""
    default_hash = await hash_password_async(DEFAULT_PASSWORD)

    def _create(c: Conn) -> Operator | None:
        if operators.count(c):
            return None
        created = operators.create(
            c,
            NewOperator(
                name=DEFAULT_OPERATOR,
                password_hash=default_hash,
                display_name="Default operator / 默认操作员",
                permissions=ALL_CODES,
                must_change_password=True,
            ),
        )
        oplog.append(c, "system.init", target=f"operator:{created.name}")
        return created

    return await db.write(_create)
