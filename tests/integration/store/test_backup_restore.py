"""F6.1/F6.2: backups taken while sales run are consistent; restore validates first, keeps the
previous database, and refuses damaged, foreign or newer files without touching the live one."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from gateway.store import LATEST_VERSION, Conn, Database, ledger, oplog
from gateway.store.check import check_file
from gateway.store.errors import (
    CorruptDatabaseError,
    NotOurDatabaseError,
    SchemaTooNewError,
)
from gateway.store.migrations import apply
from tests.integration.store.support import ManualClock, Site, sell


def totals(c: Conn) -> tuple[int, int, int, int]:
    """(ledger rows, confirmed vends, receipts, money) of one snapshot."""
    return (
        int(c.scalar("SELECT count(*) FROM ledger")),
        int(c.scalar("SELECT count(*) FROM vends WHERE state = 'confirmed'")),
        int(c.scalar("SELECT count(*) FROM receipts")),
        int(c.scalar("SELECT coalesce(sum(amount_fen), 0) FROM ledger")),
    )


def snapshot_of(path: Path) -> tuple[int, int, int, int]:
    raw = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = raw.execute(
            "SELECT (SELECT count(*) FROM ledger), "
            "(SELECT count(*) FROM vends WHERE state = 'confirmed'), "
            "(SELECT count(*) FROM receipts), (SELECT coalesce(sum(amount_fen), 0) FROM ledger)"
        ).fetchone()
        return (int(row[0]), int(row[1]), int(row[2]), int(row[3]))
    finally:
        raw.close()


def list_files(directory: Path, pattern: str) -> list[Path]:
    return sorted(directory.glob(pattern))


async def test_backups_taken_during_sales_are_consistent(
    db: Database, site: Site, clock: ManualClock, tmp_path: Path
) -> None:
    stop = asyncio.Event()
    progress = asyncio.Event()
    sold = 0

    async def keep_selling() -> None:
        nonlocal sold
        while not stop.is_set():
            clock.advance(seconds=1)
            await db.write(sell, site, site.account_ids[sold % 3], 100 + sold, f"sale-{sold}")
            sold += 1
            progress.set()

    seller = asyncio.create_task(keep_selling())
    backups = []
    try:
        for n in range(4):
            while sold < 10 * (n + 1):
                progress.clear()
                await progress.wait()
            result = await db.backup(tmp_path / f"backup-{n}.sqlite")
            backups.append(result.path)
    finally:
        stop.set()
        await seller
    assert sold >= 40
    seen = []
    for path in backups:
        rows, confirmed, receipts_n, money = await asyncio.to_thread(snapshot_of, path)
        assert rows == confirmed == receipts_n > 0  # every sale whole, none half-written
        assert money == sum(100 + i for i in range(rows))
        report = await check_file(path)
        assert report.ok, report.problems
        seen.append(rows)
    assert seen == sorted(seen)

    # Restoring the second backup brings back exactly that state, and keeps the current one.
    live_before = await db.read(totals)
    result = await db.restore(backups[1])
    assert await db.read(totals) == await asyncio.to_thread(snapshot_of, backups[1])
    assert await asyncio.to_thread(snapshot_of, result.previous_copy) == live_before
    log = await db.read(
        oplog.query, oplog.OpLogFilter(action_prefix="system."), oplog.PageRequest()
    )
    assert log.items[0].action == "system.restore"
    assert (await db.read(ledger.verify_chain)) == []
    # Selling goes on after a restore; the chain continues from the restored head.
    await db.write(sell, site, site.account_ids[0], 777, "after-restore")
    await db.close()
    assert (await check_file(db.path)).ok


def corrupt(source: Path, target: Path) -> None:
    data = bytearray(source.read_bytes())
    for offset in range(4096 * 3, min(len(data), 4096 * 12), 97):
        data[offset] ^= 0x5A
    target.write_bytes(bytes(data))


def foreign(target: Path) -> None:
    raw = sqlite3.connect(target)
    raw.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL)")
    raw.execute("INSERT INTO orders (total) VALUES (9.99)")
    raw.commit()
    raw.close()


def newer(source: Path, target: Path) -> None:
    target.write_bytes(source.read_bytes())
    raw = sqlite3.connect(target, isolation_level=None)
    raw.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    raw.close()


@pytest.mark.parametrize(
    ("make", "error", "code"),
    [
        ("corrupt", CorruptDatabaseError, "E303"),
        ("foreign", NotOurDatabaseError, "E302"),
        ("text", NotOurDatabaseError, "E302"),
        ("newer", SchemaTooNewError, "E301"),
    ],
)
async def test_bad_restore_files_are_refused_and_live_database_untouched(
    db: Database,
    site: Site,
    clock: ManualClock,
    tmp_path: Path,
    make: str,
    error: type[Exception],
    code: str,
) -> None:
    for i in range(30):
        await db.write(sell, site, site.account_ids[i % 3], 1000 + i, f"k{i}")
    good = (await db.backup(tmp_path / "good.sqlite")).path
    bad = tmp_path / "offered.sqlite"
    if make == "corrupt":
        await asyncio.to_thread(corrupt, good, bad)
    elif make == "foreign":
        await asyncio.to_thread(foreign, bad)
    elif make == "text":
        await asyncio.to_thread(bad.write_text, "customer list, 2024\n")
    else:
        await asyncio.to_thread(newer, good, bad)
    await db.write(sell, site, site.account_ids[0], 5, "after-backup")
    before = await db.read(totals)
    with pytest.raises(error) as refused:
        await db.restore(bad)
    assert getattr(refused.value, "code", None) == code
    assert await db.read(totals) == before
    assert await asyncio.to_thread(list_files, tmp_path, "gateway.sqlite.pre-restore-*") == []
    assert await asyncio.to_thread(list_files, tmp_path, ".restore-candidate-*") == []
    await db.write(sell, site, site.account_ids[1], 6, "still-selling")


async def test_restore_of_an_older_backup_upgrades_it(
    db: Database, site: Site, tmp_path: Path
) -> None:
    old = tmp_path / "release1.sqlite"

    def release_one() -> None:
        raw = sqlite3.connect(old, isolation_level=None)
        apply(raw, target=1)
        raw.execute("INSERT INTO lines (name, created_at) VALUES ('旧线路', '2024-01-01')")
        raw.close()

    await asyncio.to_thread(release_one)
    result = await db.restore(old)
    assert (result.schema_version_in_file, result.schema_version_now) == (1, LATEST_VERSION)
    names = await db.read(lambda c: [r[0] for r in c.all("SELECT name FROM lines")])
    assert names == ["旧线路"]
    assert await db.schema_version() == LATEST_VERSION
