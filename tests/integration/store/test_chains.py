"""Tampering that gets past the triggers (someone with the sqlite3 shell drops them) is found
by `prepaid-gateway db check`: edited or removed log rows, removed or edited ledger rows,
doctored balances. Deleting log rows the proper way (F6.3) keeps the chain verifiable."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from gateway.cli.main import main
from gateway.store import Database, oplog
from gateway.store.check import check_file
from gateway.store.errors import AppendOnlyError
from gateway.store.oplog import DELETE_ACTION, OpLogFilter
from tests.integration.store.support import ManualClock, Site, sell


async def history(db: Database, site: Site, clock: ManualClock, sales: int = 6) -> None:
    for i in range(sales):
        clock.advance(minutes=10)
        await db.write(sell, site, site.account_ids[i % 3], 1000 * (i + 1), f"k{i}")


def attacker(path: Path, *statements: str) -> None:
    """What someone with the sqlite3 shell and the file can do: drop the guards, edit."""
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        for sql in statements:
            raw.execute(sql)
    finally:
        raw.close()


async def db_check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """The real command line, in a thread (it runs its own event loop)."""
    code = await asyncio.to_thread(main, ["db", "check", "--database", str(path)])
    out = capsys.readouterr()
    return code, out.out + out.err


async def test_clean_history_passes(
    db: Database, site: Site, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    await history(db, site, clock)
    await db.close()
    code, text = await db_check(db.path, capsys)
    assert code == 0, text
    assert "ok:" in text and "ledger 6" in text


@pytest.mark.parametrize(
    ("statements", "area"),
    [
        (
            ["DROP TRIGGER oplog_no_update", "UPDATE oplog SET target = 'account:2' WHERE id = 3"],
            "oplog_chain",
        ),
        (
            ["DROP TRIGGER oplog_no_delete", "DELETE FROM oplog WHERE id = 4"],
            "oplog_chain",
        ),
        (
            [
                "DROP TRIGGER oplog_no_delete",
                "DELETE FROM oplog WHERE id = (SELECT max(id) FROM oplog)",
            ],
            "oplog_chain",
        ),
        (
            ["DROP TRIGGER ledger_no_delete", "DELETE FROM ledger WHERE id = 3"],
            "ledger_chain",
        ),
        (
            ["DROP TRIGGER ledger_no_delete", "DELETE FROM ledger WHERE id = 6"],
            "ledger_chain",
        ),
        (
            ["DROP TRIGGER ledger_no_update", "UPDATE ledger SET amount_fen = 100 WHERE id = 2"],
            "ledger_chain",
        ),
        (
            ["UPDATE account_balances SET balance_fen = balance_fen + 100000"],
            "balances",
        ),
    ],
    ids=[
        "log-row-edited",
        "log-row-deleted",
        "newest-log-row-deleted",
        "ledger-row-deleted",
        "newest-ledger-row-deleted",
        "ledger-amount-edited",
        "balance-doctored",
    ],
)
async def test_tampering_is_detected_by_db_check(
    db: Database,
    site: Site,
    clock: ManualClock,
    capsys: pytest.CaptureFixture[str],
    statements: list[str],
    area: str,
) -> None:
    await history(db, site, clock)
    await db.close()
    attacker(db.path, *statements)
    code, text = await db_check(db.path, capsys)
    assert code == 1
    assert f"{area}:" in text
    report = await check_file(db.path)
    assert {p.area for p in report.problems} >= {area}


async def test_deleted_ledger_row_names_the_gap(
    db: Database, site: Site, clock: ManualClock
) -> None:
    await history(db, site, clock)
    await db.close()
    attacker(db.path, "DROP TRIGGER ledger_no_delete", "DELETE FROM ledger WHERE id = 3")
    report = await check_file(db.path)
    messages = [p.message for p in report.problems if p.area == "ledger_chain"]
    assert any("rows 3..3 removed" in m for m in messages), messages


async def test_log_maintenance_keeps_the_chain_verifiable(
    db: Database, site: Site, clock: ManualClock
) -> None:
    await history(db, site, clock)
    clock.advance(minutes=1)
    cut = clock.now  # `until` is exclusive: everything before this minute
    clock.advance(minutes=10)
    await db.write(oplog.append, "customer.save", operator_id=site.operator_id, target="c:1")
    # Delete the sales log up to `cut`, then the customer entries: two deletions, scattered rows.
    first = await db.write(
        oplog.delete_where,
        OpLogFilter(until=cut, action_prefix="sale."),
        operator_id=site.operator_id,
    )
    assert first.action == DELETE_ACTION and first.detail["removed"] == 6
    second = await db.write(
        oplog.delete_where, OpLogFilter(action_prefix="customer."), operator_id=site.operator_id
    )
    assert second.detail["removed"] == 1
    assert (await db.read(oplog.verify)) == []
    remaining = await db.read(oplog.query, OpLogFilter(), oplog.PageRequest())
    assert [e.action for e in remaining.items] == [DELETE_ACTION, DELETE_ACTION]
    # Deletion records themselves can never be deleted, not even by log maintenance.
    third = await db.write(oplog.delete_where, OpLogFilter(), operator_id=site.operator_id)
    assert third.detail["removed"] == 0
    with pytest.raises(AppendOnlyError):
        await db.write(lambda c: c.execute("DELETE FROM oplog"))
    await db.close()
    report = await check_file(db.path)
    assert report.ok, report.problems


async def test_hiding_a_deletion_record_is_detected(
    db: Database, site: Site, clock: ManualClock
) -> None:
    await history(db, site, clock)
    record = await db.write(
        oplog.delete_where, OpLogFilter(action_prefix="sale."), operator_id=site.operator_id
    )
    await db.write(oplog.append, "customer.save", operator_id=site.operator_id)
    await db.close()
    attacker(db.path, "DROP TRIGGER oplog_no_delete", f"DELETE FROM oplog WHERE id = {record.id}")
    report = await check_file(db.path)
    assert any(p.area == "oplog_chain" for p in report.problems)
