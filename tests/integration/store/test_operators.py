"""Operators: first run, argon2 passwords, lock-out after failures, reset from the shell."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.permissions import KEYS
from gateway.store import Database, auth, operators, oplog
from gateway.store.errors import (
    AuthenticationError,
    InvalidValueError,
    OperatorLockedError,
    WeakPasswordError,
)
from gateway.store.paging import PageRequest
from gateway.store.passwords import hash_password, verify_password
from tests.integration.store.support import ManualClock


def test_argon2_hashes_verify_and_differ() -> None:
    first, second = hash_password("s3cret-pass"), hash_password("s3cret-pass")
    assert first.startswith("$argon2id$")
    assert first != second  # salted
    assert verify_password(first, "s3cret-pass")
    assert not verify_password(first, "s3cret-Pass")
    assert not verify_password("not a hash", "s3cret-pass")


async def test_first_run_creates_operator_who_must_change_password(db: Database) -> None:
    created = await auth.initialise(db)
    assert created is not None
    assert (created.name, created.must_change_password) == ("operator", True)
    assert created.permissions == KEYS
    assert await auth.initialise(db) is None  # only once
    logged_in = await auth.authenticate(db, "operator", "00000000")
    assert logged_in.must_change_password
    with pytest.raises(WeakPasswordError):
        await auth.change_password(db, created.id, "00000000", "00000000")
    with pytest.raises(AuthenticationError):
        await auth.change_password(db, created.id, "wrong-old", "a-new-pass-1")
    changed = await auth.change_password(db, created.id, "00000000", "a-new-pass-1")
    assert not changed.must_change_password
    with pytest.raises(AuthenticationError):
        await auth.authenticate(db, "operator", "00000000")
    assert (await auth.authenticate(db, "operator", "a-new-pass-1")).failed_logins == 0


async def test_repeated_failures_lock_the_operator(db: Database, clock: ManualClock) -> None:
    await auth.initialise(db)
    for attempt in range(1, 3):
        with pytest.raises(AuthenticationError):
            await auth.authenticate(db, "operator", f"guess-{attempt}", lock_after=3)
    with pytest.raises(OperatorLockedError) as locked:
        await auth.authenticate(db, "operator", "guess-3", lock_after=3)
    assert locked.value.code == "E315"
    assert "reset-password" in locked.value.remedy_en
    # Even the right password is refused while locked.
    with pytest.raises(OperatorLockedError):
        await auth.authenticate(db, "operator", "00000000", lock_after=3)
    with pytest.raises(AuthenticationError):
        await auth.authenticate(db, "nobody", "00000000")
    entries = await db.read(oplog.query, oplog.OpLogFilter(action_prefix="auth."), PageRequest())
    assert [e.result for e in entries.items] == ["error"] * 5


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_reset_password_from_the_shell_unlocks_and_forces_a_change(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "gateway.sqlite"
    init = await asyncio.to_thread(run_cli, "db", "init", "--database", str(path))
    assert init.returncode == 0, init.stderr
    assert "00000000" in init.stdout
    async with await Database.open(path, clock=clock) as db:
        for _ in range(5):
            with pytest.raises((AuthenticationError, OperatorLockedError)):
                await auth.authenticate(db, "operator", "forgotten")
        assert (await db.read(operators.by_name, "operator")).locked  # type: ignore[union-attr]

    weak = await asyncio.to_thread(
        run_cli,
        "operator",
        "reset-password",
        "operator",
        "--password",
        "123",
        "--database",
        str(path),
    )
    assert weak.returncode == 1
    assert "E313" in weak.stderr
    done = await asyncio.to_thread(
        run_cli,
        "operator",
        "reset-password",
        "operator",
        "--password",
        "temp-pass-2025",
        "--database",
        str(path),
    )
    assert done.returncode == 0, done.stderr
    unknown = await asyncio.to_thread(
        run_cli,
        "operator",
        "reset-password",
        "ghost",
        "--password",
        "temp-pass-2025",
        "--database",
        str(path),
    )
    assert unknown.returncode == 1
    assert "E304" in unknown.stderr

    async with await Database.open(path, clock=clock) as db:
        back = await auth.authenticate(db, "operator", "temp-pass-2025")
        assert back.must_change_password and not back.locked
        log = await db.read(
            oplog.query, oplog.OpLogFilter(action_prefix="operator."), PageRequest()
        )
        assert [(e.action, e.operator_name, e.target) for e in log.items] == [
            ("operator.reset_password", "cli", "operator:operator")
        ]


async def test_the_last_operator_manager_cannot_be_removed(db: Database) -> None:
    first = await auth.initialise(db)
    assert first is not None
    with pytest.raises(InvalidValueError):
        await db.write(operators.deactivate, first.id)
    with pytest.raises(InvalidValueError):
        await db.write(operators.update, first.id, display_name="x", permissions={"sales.daily"})
    clerk = await db.write(
        operators.create,
        operators.NewOperator(
            "clerk", hash_password("clerk-pass-1"), permissions=frozenset({"sales.daily"})
        ),
    )
    assert clerk.can("sales.daily") and not clerk.can("operators.manage")
    gone = await db.write(operators.deactivate, clerk.id)
    assert not gone.active and not gone.can("sales.daily")
    with pytest.raises(AuthenticationError):
        await auth.authenticate(db, "clerk", "clerk-pass-1")
