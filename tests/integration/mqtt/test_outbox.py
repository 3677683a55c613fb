"""The outbox on a real SQLite file: written with the ledger or not at all, acked, exported."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosqlite
import pytest

from gateway.sync import errors
from gateway.sync.contract import event_envelope_text, validate
from gateway.sync.master_store import MasterStore
from gateway.sync.outbox import (
    OUTBOX_DDL,
    ack,
    add_event,
    append_event,
    depth,
    oldest_unacked_age,
    pending,
    position,
    prune_acked,
)
from gateway.sync.outbox_file import apply_receipt, export_unacked, make_receipt, read_export
from tests.integration.mqtt.helpers import GATEWAY, KEY, SITE, sale_payload, sell

T0 = datetime(2025, 3, 1, 8, 30, tzinfo=UTC)


async def test_seq_is_per_stream_contiguous_and_a_rollback_leaves_no_event(
    gw_db: aiosqlite.Connection,
) -> None:
    for n in range(1, 4):
        await sell(gw_db, n)
    await sell(gw_db, 4, "refunds")
    # A sale that fails after its event was written: the whole transaction goes.
    await gw_db.execute("BEGIN IMMEDIATE")
    await gw_db.execute("INSERT INTO test_ledger VALUES ('doomed', 1)")
    await append_event(gw_db, "sales", sale_payload(99), T0)
    await gw_db.rollback()
    event = await sell(gw_db, 5)

    assert event.seq == 4  # not 5: the rolled-back event took no number
    sales = await pending(gw_db, "sales", 0, 100)
    assert [e.seq for e in sales] == [1, 2, 3, 4]
    assert [e.payload["sale_id"] for e in sales] == ["S0000001", "S0000002", "S0000003", "S0000005"]
    assert [e.seq for e in await pending(gw_db, "refunds", 0, 100)] == [1]
    assert await depth(gw_db) == 5


def test_add_event_runs_inside_a_plain_sqlite3_transaction(tmp_path: Path) -> None:
    """What the services do on the store's writer thread (``db.write(fn)``)."""
    raw = sqlite3.connect(tmp_path / "g.db", isolation_level=None)
    raw.executescript(OUTBOX_DDL)
    raw.execute("BEGIN IMMEDIATE")
    first = add_event(raw, "alarms", {"kind": "low_balance", "state": "raised", "meter": ""}, T0)
    raw.execute("ROLLBACK")
    raw.execute("BEGIN IMMEDIATE")
    second = add_event(raw, "alarms", {"kind": "low_balance", "state": "raised"}, T0)
    raw.execute("COMMIT")
    assert first.seq == second.seq == 1
    assert raw.execute("SELECT count(*), max(created_at) FROM outbox").fetchone() == (
        1,
        "2025-03-01T08:30:00.000000Z",
    )


@pytest.mark.parametrize(
    ("stream", "payload", "why"),
    [
        ("sales", {**sale_payload(1), "amount_fen": 12.5}, "float"),
        ("sales", {k: v for k, v in sale_payload(1).items() if k != "tariff_version"}, "tariff"),
        ("sales", {**sale_payload(1), "amount_fen": 0}, "minimum"),
        (
            "refunds",
            {"refund_id": "R1", "account_id": "A1", "amount_fen": "5", "tariff_version": "T"},
            "type",
        ),
        ("relay", {"meter": "12", "action": "open"}, "pattern"),
        ("gossip", {"x": 1}, "stream"),
    ],
)
async def test_a_payload_off_contract_is_refused_and_nothing_is_written(
    gw_db: aiosqlite.Connection, stream: str, payload: dict[str, object], why: str
) -> None:
    with pytest.raises(errors.SyncError) as caught:
        await append_event(gw_db, stream, payload, T0)
    assert caught.value.code == "E734", why
    await gw_db.commit()
    async with gw_db.execute("SELECT count(*) FROM outbox") as cur:
        assert (await cur.fetchone()) == (0,)


async def test_ack_takes_the_highest_contiguous_ignores_lower_and_refuses_beyond(
    gw_db: aiosqlite.Connection,
) -> None:
    for n in range(1, 6):
        await sell(gw_db, n)
    assert await ack(gw_db, "sales", 3) == 3
    assert await ack(gw_db, "sales", 2) == 3  # late duplicate ack: ignored
    with pytest.raises(errors.SyncError) as caught:
        await ack(gw_db, "sales", 9)
    assert caught.value.code == "E733"
    assert (await position(gw_db, "sales")).acked_seq == 3
    assert [e.seq for e in await pending(gw_db, "sales", 3, 10)] == [4, 5]
    assert await depth(gw_db) == 2


async def test_oldest_age_and_pruning_keep_numbering_contiguous(
    gw_db: aiosqlite.Connection,
) -> None:
    for minutes in (0, 10, 20):
        await gw_db.execute("BEGIN IMMEDIATE")
        await append_event(gw_db, "sales", sale_payload(minutes), T0 + timedelta(minutes=minutes))
        await gw_db.commit()
    assert await oldest_unacked_age(gw_db, T0 + timedelta(hours=1)) == timedelta(hours=1)
    await ack(gw_db, "sales", 2)
    assert await oldest_unacked_age(gw_db, T0 + timedelta(hours=1)) == timedelta(minutes=40)
    assert await prune_acked(gw_db, T0 + timedelta(days=1)) == 2  # only acked rows go
    await ack(gw_db, "sales", 3)
    assert await prune_acked(gw_db, T0 + timedelta(days=1)) == 1
    await gw_db.execute("BEGIN IMMEDIATE")
    event = await append_event(gw_db, "sales", sale_payload(4), T0)
    await gw_db.commit()
    assert event.seq == 4  # an emptied stream does not restart at 1
    assert await oldest_unacked_age(gw_db, T0) == timedelta(0)


async def test_usb_export_import_receipt_round_trip(
    gw_db: aiosqlite.Connection, tmp_path: Path
) -> None:
    for n in range(1, 8):
        await sell(gw_db, n, "sales" if n % 3 else "refunds")
    await ack(gw_db, "sales", 2)  # already synced over MQTT: not exported
    stick = tmp_path / "stick" / "outbox.jsonl"
    stick.parent.mkdir()
    summary = await export_unacked(gw_db, stick, site_id=SITE, gateway_id=GATEWAY, key=KEY, now=T0)
    assert summary.count == 5
    assert summary.streams == {"sales": (3, 5), "refunds": (1, 2)}
    lines = stick.read_bytes().splitlines()
    validate("export-header", json.loads(lines[0]))
    for line in lines[1:-1]:
        event = json.loads(line)
        validate("event", event)
        assert event["backfill"] is True
    validate("export-trailer", json.loads(lines[-1]))

    exported = read_export(stick, KEY, require_signature=True)
    master = await MasterStore.open(str(tmp_path / "master.db"))
    try:
        first = await master.ingest(exported.events, via="file", now=T0)
        # Refunds 1..2 are stored; sales 3..5 wait for 1..2, which went over MQTT earlier
        # but reached a master whose database was then restored from an older backup.
        assert (first.stored, first.held) == (2, 3)
        over_mqtt = [
            json.loads(
                event_envelope_text(
                    event_id=e.id,
                    stream=e.stream,
                    seq=e.seq,
                    created_at=e.created_at,
                    backfill=False,
                    site_id=SITE,
                    gateway_id=GATEWAY,
                    payload_json=e.payload_json,
                )
            )
            for e in await pending(gw_db, "sales", 0, 2)
        ]
        late = await master.ingest(over_mqtt, via="mqtt", now=T0)
        assert late.stored == 5  # the gap filled: 1..2 and the held 3..5, in order
        again = await master.ingest(exported.events, via="file", now=T0)
        assert (again.stored, again.duplicates) == (0, 5)  # idempotent by id
        stored = await master.events(SITE, GATEWAY, "sales")
        assert [e["seq"] for e in stored] == [1, 2, 3, 4, 5]
        assert [e["via"] for e in stored] == ["mqtt", "mqtt", "file", "file", "file"]
        acks = {s: master.contiguous((SITE, GATEWAY, s)) for s in ("sales", "refunds")}
    finally:
        await master.close()
    receipt = make_receipt(site_id=SITE, gateway_id=GATEWAY, acks=acks, key=KEY, now=T0)
    assert await apply_receipt(gw_db, receipt, key=KEY, site_id=SITE, gateway_id=GATEWAY) == {
        "sales": 5,
        "refunds": 2,
    }
    assert await depth(gw_db) == 0

    forged = {**receipt, "acks": {"sales": 5, "refunds": 2, "alarms": 0}}
    with pytest.raises(errors.SyncError) as caught:
        await apply_receipt(gw_db, forged, key=KEY, site_id=SITE, gateway_id=GATEWAY)
    assert caught.value.code == "E736"


async def test_damaged_or_forged_export_files_are_refused(
    gw_db: aiosqlite.Connection, tmp_path: Path
) -> None:
    for n in range(1, 4):
        await sell(gw_db, n)
    stick = tmp_path / "outbox.jsonl"
    await export_unacked(gw_db, stick, site_id=SITE, gateway_id=GATEWAY, key=KEY, now=T0)
    good = stick.read_bytes()

    def refused(data: bytes, key: bytes | None = KEY) -> str:
        stick.write_bytes(data)
        with pytest.raises(errors.SyncError) as caught:
            read_export(stick, key, require_signature=True)
        return caught.value.code

    assert refused(good.replace(b'"amount_fen":1001', b'"amount_fen":9001')) == "E730"
    assert refused(good[: len(good) // 2]) == "E730"  # stick pulled mid-copy
    assert refused(good, key=b"x" * 32) == "E731"
    assert refused(good, key=None) == "E731"
    assert refused(b"hello\n") == "E732"
    stick.write_bytes(good)
    assert len(read_export(stick, KEY, require_signature=True).events) == 3
