"""Opening a file: fresh, older (upgraded, copy kept), newer or foreign (refused, untouched)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from gateway.store import LATEST_VERSION, Database, network, operators
from gateway.store.errors import (
    CorruptDatabaseError,
    InvalidValueError,
    NotOurDatabaseError,
    SchemaTooNewError,
)
from gateway.store.migrations import APPLICATION_ID, MIGRATIONS, apply
from gateway.sync.outbox import add_event
from tests.integration.store.support import ManualClock


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def kept_copies(directory: Path, pattern: str) -> list[Path]:
    return sorted(directory.glob(pattern))


async def test_fresh_database_is_current_wal_and_ours(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "sub" / "gateway.sqlite"
    async with await Database.open(path, clock=clock) as db:
        assert db.schema_before_open == 0
        assert await db.schema_version() == LATEST_VERSION
        pragmas = await db.read(
            lambda c: (
                c.scalar("PRAGMA journal_mode"),
                c.scalar("PRAGMA foreign_keys"),
                c.scalar("PRAGMA synchronous"),
                c.scalar("PRAGMA application_id"),
            )
        )
        writer = await db.write(
            lambda c: (c.scalar("PRAGMA synchronous"), c.scalar("PRAGMA foreign_keys"))
        )
    assert pragmas == ("wal", 1, 2, APPLICATION_ID)  # synchronous 2 = FULL
    assert writer == (2, 1)
    assert [m.version for m in MIGRATIONS] == list(range(1, LATEST_VERSION + 1))


async def test_older_database_is_upgraded_and_a_copy_kept(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "gateway.sqlite"
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA journal_mode = WAL")
    apply(raw, target=1)  # what release 1 wrote: no customers, no ledger yet
    raw.execute(
        "INSERT INTO lines (name, description, created_at) VALUES ('老线路', 'v1', '2024-01-01')"
    )
    raw.close()

    async with await Database.open(path, clock=clock) as db:
        assert db.schema_before_open == 1
        assert await db.schema_version() == LATEST_VERSION
        lines = await db.read(network.list_lines)
        assert [line.name for line in lines] == ["老线路"]
        # The tables of the later migrations exist and work.
        assert await db.read(lambda c: c.scalar("SELECT count(*) FROM ledger")) == 0
    copies = kept_copies(tmp_path, "gateway.sqlite.pre-migrate-v1-*")
    assert len(copies) == 1
    kept = sqlite3.connect(copies[0])
    assert kept.execute("PRAGMA user_version").fetchone()[0] == 1
    assert kept.execute("SELECT name FROM lines").fetchall() == [("老线路",)]
    kept.close()


async def test_newer_database_is_refused_and_left_alone(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "gateway.sqlite"
    async with await Database.open(path, clock=clock) as db:
        await db.write(network.create_line, "L1")
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    raw.close()
    before = digest(path)
    with pytest.raises(SchemaTooNewError) as refused:
        await Database.open(path, clock=clock)
    assert refused.value.code == "E301"
    assert str(LATEST_VERSION + 1) in refused.value.detail
    assert "Upgrade" in refused.value.remedy_en and refused.value.remedy_zh
    assert digest(path) == before


async def test_foreign_sqlite_file_is_refused(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "other.sqlite"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    raw.commit()
    raw.close()
    before = digest(path)
    with pytest.raises(NotOurDatabaseError) as refused:
        await Database.open(path, clock=clock)
    assert refused.value.code == "E302"
    assert digest(path) == before


async def test_file_that_is_not_sqlite_is_refused(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_bytes(b"meter readings 2025\n" * 100)
    with pytest.raises(NotOurDatabaseError):
        await Database.open(path, clock=clock)
    assert path.read_bytes() == b"meter readings 2025\n" * 100


async def test_damaged_database_is_refused(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "gateway.sqlite"
    async with await Database.open(path, clock=clock) as db:
        await db.checkpoint()
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # page 1 after the header: the schema is gone
    path.write_bytes(bytes(data))
    with pytest.raises((CorruptDatabaseError, NotOurDatabaseError)) as refused:
        await Database.open(path, clock=clock)
    assert refused.value.code in ("E302", "E303")


async def test_strict_tables_refuse_a_float_amount(db: Database) -> None:
    with pytest.raises(InvalidValueError):
        await db.write(
            lambda c: c.execute("INSERT INTO sequences (name, value) VALUES ('spare', 2.5)")
        )
    with pytest.raises(InvalidValueError):
        await db.write(lambda c: c.execute("UPDATE sequences SET value = 2.5"))


async def test_permission_catalogue_is_in_the_database(db: Database) -> None:
    from gateway.permissions import KEYS

    stored = await db.read(lambda c: {r[0] for r in c.all("SELECT code FROM permissions")})
    assert stored == set(KEYS)
    with pytest.raises(InvalidValueError):
        await db.write(
            operators.create,
            operators.NewOperator("x", "hash", permissions=frozenset({"no.such.right"})),
        )


async def test_outbox_moves_to_one_btree_with_its_events(
    tmp_path: Path, clock: ManualClock
) -> None:
    """Schema 6 rebuilds the outbox keyed by (stream, seq): pending events survive in order,
    and the next event continues the stream's sequence."""
    path = tmp_path / "gateway.sqlite"
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA journal_mode = WAL")
    apply(raw, target=5)
    rows = [(f"{n:032x}", "sales", n, f"2025-01-01T00:00:0{n}Z", f'{{"n":{n}}}') for n in (1, 2, 3)]
    raw.executemany(
        "INSERT INTO outbox (id, stream, seq, created_at, payload) VALUES (?, ?, ?, ?, ?)", rows
    )
    raw.execute("INSERT INTO outbox_ack (stream, acked_seq) VALUES ('sales', 1)")
    raw.close()

    async with await Database.open(path, clock=clock) as db:
        assert db.schema_before_open == 5
        kept = await db.read(
            lambda c: [
                tuple(r) for r in c.all("SELECT id, stream, seq, created_at, payload FROM outbox")
            ]
        )
        assert kept == rows
        without_rowid = await db.read(
            lambda c: c.scalar("SELECT sql FROM sqlite_schema WHERE name = 'outbox'")
        )
        assert "WITHOUT ROWID" in without_rowid
        # One b-tree: no index besides the table's own key.
        indexes = await db.read(
            lambda c: c.all(
                "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'outbox'"
            )
        )
        assert indexes == []
        sale = {"sale_id": "9", "account_id": "1", "amount_fen": 100, "tariff_version": "1"}
        seq = await db.write(lambda c: add_event(c, "sales", sale, clock()).seq)
        assert seq == 4  # continues the stream's sequence
