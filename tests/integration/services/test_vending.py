"""Meter-wallet vending end to end: services → bus → simulator, and the ledger agrees."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.permissions import KEYS
from gateway.services.actor import Actor
from gateway.services.errors import ServiceError
from gateway.simulator.faults import Faults
from gateway.store import receipts, vends
from tests.support.site import running_site

CLERK = Actor(1, "operator", KEYS)


async def test_open_then_daily_purchase_credits_meter_and_ledger(tmp_path: Path) -> None:
    async with running_site(tmp_path) as site:
        address, account = site.meter("money")
        assert account is not None
        meter = site.meters[address]
        opened = await site.vending.open_purchase(CLERK, account, 5000, "form-1")
        assert opened.state == "confirmed"
        assert meter.account_opened
        assert meter.purchase_count == 1
        assert meter.remaining == 5000
        daily = await site.vending.daily_purchase(CLERK, account, 2550, "form-2")
        assert daily.state == "confirmed"
        assert daily.purchase_count == 2
        assert meter.remaining == 7550
        balance = await site.balance(account)
        assert balance.purchased_fen == 7550
        assert balance.purchases == 2
        receipt = await site.db.read(receipts.by_number, daily.receipt_number or 0)
        assert receipt is not None
        assert receipt.content["amount_fen"] == 2550


async def test_repeated_key_returns_first_result_and_credits_once(tmp_path: Path) -> None:
    async with running_site(tmp_path) as site:
        address, account = site.meter("money")
        assert account is not None
        await site.vending.open_purchase(CLERK, account, 1000, "open")
        first = await site.vending.daily_purchase(CLERK, account, 3000, "same-key")
        again = await site.vending.daily_purchase(CLERK, account, 3000, "same-key")
        assert again.repeated
        assert again.vend_id == first.vend_id
        assert again.receipt_number == first.receipt_number
        assert site.meters[address].remaining == 4000
        assert (await site.balance(account)).purchased_fen == 4000


async def test_open_on_used_meter_is_e001_and_changes_nothing(tmp_path: Path) -> None:
    async with running_site(tmp_path) as site:
        address, account = site.meter("money")
        assert account is not None
        site.meters[address].purchase_count = 3
        with pytest.raises(ServiceError) as info:
            await site.vending.open_purchase(CLERK, account, 1000, "k")
        assert info.value.code == "E001"
        assert "超级复位" in info.value.remedy_zh
        assert (await site.balance(account)).purchases == 0
        assert await site.db.read(vends.get_by_key, "k") is None


async def test_lost_reply_is_settled_by_reading_the_count(tmp_path: Path) -> None:
    """The meter credits but its reply is lost: uncertain → count n+1 → confirmed, once."""
    async with running_site(tmp_path) as site:
        address, account = site.meter("money")
        assert account is not None
        meter = site.meters[address]
        await site.vending.open_purchase(CLERK, account, 1000, "open")
        original = meter.handle

        def drop_recharge_reply(request, now):  # type: ignore[no-untyped-def]
            reply = original(request, now)
            if request.function == 0x03 and request.data[:4] == bytes.fromhex("FF020107"):
                meter.handle = original  # only the first recharge reply is lost
                return None
            return reply

        meter.handle = drop_recharge_reply  # type: ignore[method-assign]
        result = await site.vending.daily_purchase(CLERK, account, 2000, "lossy")
        assert result.state == "confirmed"
        assert meter.remaining == 3000
        assert meter.purchase_count == 2
        events = await site.db.read(vends.events, result.vend_id)
        assert [str(e.to_state) for e in events] == ["pending", "sent", "uncertain", "confirmed"]
        assert (await site.balance(account)).purchased_fen == 3000


async def test_unreachable_meter_is_e507_and_nothing_booked(tmp_path: Path) -> None:
    async with running_site(tmp_path) as site:
        address, account = site.meter("money")
        assert account is not None
        site.meters[address].faults = Faults(silent=True)
        with pytest.raises(ServiceError) as info:
            await site.vending.daily_purchase(CLERK, account, 1000, "k")
        assert info.value.code == "E507"
        assert (await site.balance(account)).purchases == 0


async def test_energy_meter_gets_energy_at_tier_prices_with_remainder(tmp_path: Path) -> None:
    async with running_site(tmp_path) as site:
        address, account = site.meter("energy")
        assert account is not None
        result = await site.vending.open_purchase(CLERK, account, 10000, "e-open")
        # 100.00 yuan at 0.5600 yuan/kWh (first tier) = 178.57 kWh
        assert result.energy_cwh == 17857
        assert site.meters[address].remaining == 17857
        assert (await site.balance(account)).energy_cwh == 17857


async def test_replacement_carries_the_old_meters_remainder(tmp_path: Path) -> None:
    async with running_site(tmp_path) as site:
        old_address, account = site.meter("money")
        assert account is not None
        await site.vending.open_purchase(CLERK, account, 4000, "open")
        site.meters[old_address].remaining = 1234  # the customer used some
        new_address, _ = site.meter("money", 0, with_account=False)
        new_id = next(m.meter_id for m in site.seeded.meters if m.address == new_address)
        result = await site.vending.replacement_purchase(CLERK, account, new_id, 1000, "swap")
        assert result.state == "confirmed"
        assert site.meters[new_address].remaining == 2234
        assert site.meters[new_address].purchase_count == 1
        balance = await site.balance(account)
        assert balance.purchased_fen == 5000
        assert balance.balance_fen == 5000  # compensation nets to zero in the ledger


async def test_recovery_confirms_a_vend_interrupted_after_sending(tmp_path: Path) -> None:
    """A crash between the meter's credit and the commit leaves 'sent'; recovery confirms it."""
    async with running_site(tmp_path) as site:
        address, account = site.meter("money")
        assert account is not None
        meter = site.meters[address]
        await site.vending.open_purchase(CLERK, account, 1000, "open")
        original = site.vending._confirm

        async def crash(vend_id: int, count_after: int | None) -> object:
            raise SystemExit("power cut")

        site.vending._confirm = crash  # type: ignore[method-assign]
        with pytest.raises(SystemExit):
            await site.vending.daily_purchase(CLERK, account, 500, "cut")
        site.vending._confirm = original  # type: ignore[method-assign]
        assert meter.remaining == 1500
        vend = await site.db.read(vends.get_by_key, "cut")
        assert vend is not None
        assert str(vend.state) == "sent"
        assert (await site.balance(account)).purchased_fen == 1000
        results = await site.vending.recover()
        assert [r.state for r in results] == ["confirmed"]
        assert (await site.balance(account)).purchased_fen == 1500
        assert meter.remaining == 1500
