"""Issue 6 acceptance: 3 buses (pty, TCP, DTU), 20 simulated meters, time moved explicitly.

Balances fall with consumption; alarm 1, alarm 2 (the warning trip) and the trip happen at the
right thresholds on the right meters; a purchase recloses; a friendly-credit window prevents a
trip and the debt is taken at the next purchase.
"""

from __future__ import annotations

import json

from gateway.dlt645 import dataids as ids
from gateway.store import alarms, check, ledger
from gateway.store.alarms import AlarmFilter, Category
from gateway.store.conn import Conn
from gateway.store.ledger import LedgerKind
from gateway.store.paging import PageRequest
from tests.integration.reading.conftest import CLERK, Field, address


def active_kinds(site: Field, n: int) -> set[str]:
    return {r.kind for r in site.runtime.recorder.active.of_meter(address(n))}


async def stored_active(site: Field, n: int) -> set[str]:
    return set(await site.db.read(lambda c: alarms.active_for(c, address(n))))


def outbox(c: Conn, stream: str) -> list[dict[str, object]]:
    return [
        json.loads(r[0])
        for r in c.all("SELECT payload FROM outbox WHERE stream = ? ORDER BY seq", (stream,))
    ]


async def test_balances_fall_alarms_and_trips_at_their_thresholds(site: Field) -> None:
    await site.runtime.read_all()
    assert (await site.position(4)).balance_fen == 100_000
    assert "alarm1" in active_kinds(site, 2)  # 14.00 yuan is below alarm 1 already

    await site.step(1)  # 11:00

    # Meter 1: 24.00 - 5.00 = 19.00 yuan, at or below alarm 1 (20.00): alarm 1, supply on.
    assert (await site.position(1)).balance_fen == 1_900
    assert active_kinds(site, 1) == {"alarm1"}
    assert not site.meter(1).relay_open
    # Meter 2: 9.00 yuan, at alarm 2 (10.00): the warning trip, the customer may re-close.
    assert (await site.position(2)).balance_fen == 900
    assert {"alarm2", "relay_tripped"} <= active_kinds(site, 2)
    assert "alarm1" not in active_kinds(site, 2)
    assert site.meter(2).relay_open and not site.meter(2).relay.command_open
    # Meters 3, 10, 16 (one per bus): 11.00 - 15.00 = -4.00 yuan: tripped.
    for n in (3, 10, 16):
        assert (await site.position(n)).balance_fen == -400, n
        assert {"overdraft", "relay_tripped"} <= active_kinds(site, n), n
        assert site.meter(n).relay_open and site.meter(n).relay.command_open, n
        assert (await site.position(n)).relay_open
    # Far from any threshold: the balance falls, nothing else happens.
    assert (await site.position(4)).balance_fen == 100_000 - 500
    assert (await site.position(20)).balance_fen == 100_000 - 50
    assert not active_kinds(site, 4)
    # A meter that keeps its own wallet: its remaining money is read and compared.
    assert site.meter(14).remaining == 1_900
    assert "alarm1" in active_kinds(site, 14)
    # The in-memory view and the database agree.
    for n in (1, 2, 3, 14):
        assert await stored_active(site, n) == active_kinds(site, n)

    # The trips are in the ledger up to the moment of the trip, and on the outbox.
    rows = await site.db.read(ledger.for_account, site.account(3))
    debits = [r for r in rows if r.kind is LedgerKind.CONSUMPTION_DEBIT]
    assert sum(r.amount_fen for r in debits) == -1_500
    assert all(r.tariff_version_id is not None for r in debits)
    assert (await site.db.read(ledger.balance, site.account(3))).balance_fen == -400
    relay_events = await site.db.read(outbox, "relay")
    tripped = {e["meter"] for e in relay_events if e["action"] == "open" and e["ok"]}
    assert {address(3), address(10), address(16), address(2)} <= tripped

    # The customer of meter 2 presses the button; meter 3's customer buys 50.00 yuan.
    assert site.meter(2).press_button()
    sale = await site.services.daily_purchase(CLERK, site.account(3), 5_000, "buy-3")
    assert sale.state == "confirmed"
    assert not site.meter(3).relay_open  # reclosed once, by the purchase's reclose vend

    await site.step(1)  # 12:00

    assert (await site.position(3)).balance_fen == -400 + 5_000 - 1_500
    assert not (await site.position(3)).relay_open
    assert not {"relay_tripped", "relay_mismatch", "overdraft"} & active_kinds(site, 3)
    assert (await site.position(2)).balance_fen == 400  # consuming again after the button
    assert not site.meter(2).relay_open  # the warning trip happens once per low spell
    assert (await site.position(1)).balance_fen == 1_400

    await site.step(1)  # 13:00: meter 2 runs out, meter 1 reaches alarm 2

    assert (await site.position(2)).balance_fen == -100
    assert site.meter(2).relay_open and site.meter(2).relay.command_open
    assert (await site.position(1)).balance_fen == 900
    assert site.meter(1).relay_open and not site.meter(1).relay.command_open

    # The relay's status word agrees with what was commanded (read back after each 1CH).
    word = (await site.runtime.read_one(site.meter_ids[address(2)])).values.status3
    assert word is not None and word & ids.SW3_RELAY_OPEN

    # Every alarm start and end went to the outbox; the ledger is intact.
    events = await site.db.read(outbox, "alarms")
    raised = {(e["meter"], e["kind"]) for e in events if e["state"] == "raised"}
    cleared = {(e["meter"], e["kind"]) for e in events if e["state"] == "cleared"}
    assert (address(1), "alarm1") in raised
    assert (address(3), "relay_tripped") in cleared
    report = await site.db.read(check.run)
    assert report.ok, report.problems

    # F7.5 query and export rows.
    page = await site.db.read(
        alarms.search,
        AlarmFilter(category=Category.ALARM, meter_address=address(3)),
        PageRequest(limit=100),
    )
    kinds = {row.alarm.kind for row in page.items}
    assert {"overdraft", "relay_tripped"} <= kinds
    assert all(row.customer_name == "用户3" for row in page.items)
    ended = [row.alarm for row in page.items if row.alarm.kind == "relay_tripped"]
    assert ended and ended[0].ended_at is not None and ended[0].ended_at > ended[0].started_at


async def test_friendly_credit_window_defers_the_trip_and_the_purchase_takes_the_debt(
    site: Field,
) -> None:
    await site.runtime.read_all()  # 10:00
    for _ in range(10):  # to 20:00: meter 17 has used its 50.00 yuan
        await site.step(1)
    p = await site.position(17)
    assert p.balance_fen == 0
    assert "overdraft" in active_kinds(site, 17)
    assert not site.meter(17).relay_open  # 20:00 is inside the 18:00-09:00 window

    await site.step(1)  # 21:00: another 5.00 yuan used, on friendly credit
    p = await site.position(17)
    assert (p.balance_fen, p.friendly_debt_fen, p.net_fen) == (0, 500, -500)
    assert not site.meter(17).relay_open
    [record] = [
        r
        for r in site.runtime.active_alarms(100)
        if r.meter_address == address(17) and r.kind == "overdraft"
    ]
    assert "friendly" in record.detail

    sale = await site.services.daily_purchase(CLERK, site.account(17), 10_000, "buy-17")
    assert sale.state == "confirmed"
    await site.step(1)  # 22:00

    p = await site.position(17)
    assert p.friendly_debt_fen == 0
    assert p.balance_fen == 10_000 - 500 - 500  # the debt, then the hour just used
    rows = await site.db.read(ledger.for_account, site.account(17))
    recoveries = [r for r in rows if r.kind is LedgerKind.FRIENDLY_RECOVERY]
    assert [r.amount_fen for r in recoveries] == [-500]
    assert recoveries[0].vend_id == sale.vend_id
    assert sum(r.amount_fen for r in rows if r.kind is LedgerKind.FRIENDLY_DEBT) == 500
    assert not active_kinds(site, 17) & {"overdraft", "alarm1", "alarm2"}
    report = await site.db.read(check.run)
    assert report.ok, report.problems
