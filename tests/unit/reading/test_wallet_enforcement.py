"""Gateway-wallet rules in detail, readings fed straight to the recorder (real SQLite, relay
commands over a real bus to the simulator): when ledger rows are written, settle, spikes, and
a meter that refuses to trip."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

from gateway.reading.config import EnforcementConfig, ReadingConfig
from gateway.reading.recorder import Recorder
from gateway.reading.results import PollResult
from gateway.reading.targets import MeterInfo
from gateway.reading.values import MeterValues
from gateway.services.wallet_enforcement import WalletEnforcer, position, settle
from gateway.store import alarms, check, clearall, ledger
from gateway.store.conn import Conn
from gateway.store.ledger import LedgerKind, NewEntry
from tests.unit.reading.support import Rig, address, rig

HOUR = dt.timedelta(hours=1)


async def setup(r: Rig, config: EnforcementConfig, opening: int) -> tuple[Recorder, MeterInfo]:
    enforcer = WalletEnforcer(r.db, driver_for=r.driver_for, clock=r.clock, config=config)
    recorder = Recorder(r.db, r.clock, ReadingConfig(enforcement=config), [enforcer])
    [info, *_] = await r.targets()
    assert info.account_id is not None
    await r.db.write(ledger.append, NewEntry(info.account_id, LedgerKind.OPENING_BALANCE, opening))
    return recorder, info


def reading(r: Rig, info: MeterInfo, energy: int, status3: int = 0) -> list[PollResult]:
    values = MeterValues(energy_cwh=energy, status_words={3: status3})
    return [PollResult(info, r.clock.now(), True, values, frozenset({"energy", "status"}))]


def kinds(rows: Sequence[ledger.Entry], kind: LedgerKind) -> list[int]:
    return [r.amount_fen for r in rows if r.kind is kind]


async def test_consumption_is_charged_at_every_reading_and_posted_once_a_day(
    tmp_path: Path,
) -> None:
    async with rig(tmp_path, 1) as r:
        recorder, info = await setup(r, EnforcementConfig(), 100_000)
        account = info.account_id
        assert account is not None
        energy = 10_000
        await recorder(reading(r, info, energy))  # 10:00: the baseline
        for _ in range(13):  # 11:00 .. 23:00, 1 kWh an hour at 0.50 yuan
            r.manual.advance(HOUR)
            energy += 100
            await recorder(reading(r, info, energy))
        p = await r.db.read(position, account)
        assert (p.balance_fen, p.pending_fen) == (100_000 - 13 * 50, 13 * 50)
        rows = await r.db.read(ledger.for_account, account)
        assert kinds(rows, LedgerKind.CONSUMPTION_DEBIT) == []  # not posted yet: one day, one row
        r.manual.advance(HOUR)  # 00:00 the next day
        energy += 100
        await recorder(reading(r, info, energy))
        rows = await r.db.read(ledger.for_account, account)
        [posted] = [row for row in rows if row.kind is LedgerKind.CONSUMPTION_DEBIT]
        assert posted.amount_fen == -13 * 50 and posted.detail["energy_cwh"] == 1_300
        assert posted.detail["from"] == "2025-03-04T10:00:00"
        assert posted.tariff_version_id is not None and posted.tariff_snapshot is not None
        # settle() posts what is pending now, e.g. before a refund; the position is unchanged.
        before = await r.db.read(position, account)
        after = await r.db.write(settle, account)
        assert after.balance_fen == before.balance_fen == 100_000 - 14 * 50
        assert after.pending_fen == 0
        assert (await r.db.read(ledger.balance, account)).balance_fen == 100_000 - 14 * 50


async def test_every_reading_mode_writes_a_row_per_reading(tmp_path: Path) -> None:
    async with rig(tmp_path, 1) as r:
        recorder, info = await setup(r, EnforcementConfig(post="every_reading"), 100_000)
        await recorder(reading(r, info, 0))
        for i in range(1, 5):
            r.manual.advance(dt.timedelta(minutes=15))
            await recorder(reading(r, info, 25 * i))
        rows = await r.db.read(ledger.for_account, info.account_id or 0)
        assert kinds(rows, LedgerKind.CONSUMPTION_DEBIT) == [-12, -13, -12, -13]


async def test_an_implausible_jump_is_held_and_reported_not_billed(tmp_path: Path) -> None:
    async with rig(tmp_path, 1) as r:
        recorder, info = await setup(r, EnforcementConfig(max_power_w=20_000), 100_000)
        await recorder(reading(r, info, 1_000))
        r.manual.advance(HOUR)
        await recorder(reading(r, info, 1_000 + 50_000))  # 500 kWh in an hour on a 20 kW meter
        active = await r.db.read(alarms.active_for, address(1))
        assert active["energy_spike"].code == "E178"
        assert (await r.db.read(position, info.account_id or 0)).balance_fen == 100_000
        r.manual.advance(HOUR)
        await recorder(reading(r, info, 1_100))  # the jump was a glitch: billing goes on
        assert (await r.db.read(position, info.account_id or 0)).balance_fen == 100_000 - 50
        assert "energy_spike" not in await r.db.read(alarms.active_for, address(1))


def relay_events(c: Conn) -> list[dict[str, object]]:
    return [
        json.loads(row[0])
        for row in c.all("SELECT payload FROM outbox WHERE stream = 'relay' ORDER BY seq")
    ]


async def test_a_meter_that_refuses_to_trip_is_an_exception_and_is_asked_again(
    tmp_path: Path,
) -> None:
    async with rig(tmp_path, 1) as r:
        config = EnforcementConfig(meter_alarm_signal=False)
        recorder, info = await setup(r, config, 1_100)
        r.meters[0].relay.keep_power = True  # the meter itself refuses trips (ERR 01)
        await recorder(reading(r, info, 0))
        r.manual.advance(HOUR)
        await recorder(reading(r, info, 3_000))  # 30 kWh: 15.00 yuan from 11.00: exhausted
        active = await r.db.read(alarms.active_for, address(1))
        assert "keep-power on" in active["relay_refused"].detail  # read back after the refusal
        assert not r.meters[0].relay_open
        assert not (await r.db.read(position, info.account_id or 0)).relay_open
        events = await r.db.read(relay_events)
        assert [(e["action"], e["ok"]) for e in events] == [("open", False)]

        r.meters[0].relay.keep_power = False
        r.manual.advance(dt.timedelta(minutes=15))
        await recorder(reading(r, info, 3_000))
        assert r.meters[0].relay_open  # asked again at the next reading, and done
        assert (await r.db.read(position, info.account_id or 0)).relay_open
        active = await r.db.read(alarms.active_for, address(1))
        assert "relay_refused" not in active and "relay_tripped" in active
        events = await r.db.read(relay_events)
        assert [(e["action"], e["ok"]) for e in events] == [("open", False), ("open", True)]


async def test_clear_all_customer_data_takes_the_wallet_state_and_keeps_the_alarm_history(
    tmp_path: Path,
) -> None:
    async with rig(tmp_path, 1) as r:
        recorder, info = await setup(r, EnforcementConfig(meter_alarm_signal=False), 2_400)
        await recorder(reading(r, info, 0))
        r.manual.advance(HOUR)
        await recorder(reading(r, info, 1_000))  # 10 kWh: 5.00 yuan used, 19.00 left: alarm 1
        assert "alarm1" in await r.db.read(alarms.active_for, address(1))
        await r.db.write(clearall.clear_customer_data, operator_id=1)
        assert await r.db.read(lambda c: c.scalar("SELECT count(*) FROM wallet_state")) == 0
        kept = await r.db.read(alarms.active_for, address(1))
        assert kept["alarm1"].account_id is None  # the history stays, the customer is gone
        report = await r.db.read(check.run)
        assert report.ok, report.problems
