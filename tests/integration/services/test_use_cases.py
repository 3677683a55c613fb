"""The manual's other workflows end to end: refund and close, gateway wallet, customers, relay,
reset, reconciliation, clear all; the simulator's wallet and relay end where the ledger says."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.permissions import KEYS
from gateway.services.actor import Actor
from gateway.services.errors import ServiceError
from gateway.store import customers, ledger, refunds
from gateway.store.customers import CustomerSpec
from tests.support.site import running_site

CLERK = Actor(1, "operator", KEYS)
VIEWER = Actor(1, "viewer", frozenset({"queries.view"}))


async def test_refund_and_close_pays_the_meters_remainder(tmp_path: Path) -> None:
    async with running_site(tmp_path) as site:
        address, account = site.meter("money")
        assert account is not None
        meter = site.meters[address]
        await site.services.open_purchase(CLERK, account, 6000, "open")
        meter.remaining = 2345  # the customer used 36.55 yuan
        result = await site.services.refunds.refund_and_close(CLERK, account, "refund-1")
        assert result.state == "confirmed"
        assert result.refund_fen == 2345
        assert meter.remaining == 0
        assert meter.purchase_count == 0  # cleared: ready for the next customer's open
        acct = await site.db.read(customers.get_account, account)
        assert not acct.is_open
        balance = await site.balance(account)
        assert balance.balance_fen == 6000 - 2345
        recorded = await site.db.read(refunds.for_account, account)
        assert [r.refund_fen for r in recorded] == [2345]
        again = await site.services.refunds.refund_and_close(CLERK, account, "refund-1")
        assert again.repeated
        assert again.refund_fen == 2345
        assert len(await site.db.read(refunds.for_account, account)) == 1


async def test_energy_refund_is_valued_at_the_prices_paid(tmp_path: Path) -> None:
    async with running_site(tmp_path) as site:
        address, account = site.meter("energy")
        assert account is not None
        meter = site.meters[address]
        sale = await site.services.open_purchase(CLERK, account, 5600, "open")  # 100 kWh @ 0.56
        assert sale.energy_cwh == 10000
        meter.remaining = 2500  # 25 kWh left
        result = await site.services.refunds.refund_and_close(CLERK, account, "refund-e")
        assert result.refund_fen == 1400  # 25 kWh x 0.56
        assert meter.remaining == 0


async def test_gateway_wallet_purchase_and_reclose_once(tmp_path: Path) -> None:
    async with running_site(tmp_path) as site:
        address, account = site.meter("gateway")
        assert account is not None
        meter = site.meters[address]
        await site.services.meter_ops.force_power(CLERK, site.meter_id(address), on=False)
        assert meter.relay_open
        result = await site.services.daily_purchase(CLERK, account, 3000, "gw-1")
        assert result.state == "confirmed"
        assert (await site.balance(account)).balance_fen == 3000
        assert not meter.relay_open  # reclosed after the purchase restored the balance
        # A second purchase with a positive balance does not reclose again (nothing to do).
        await site.services.daily_purchase(CLERK, account, 1000, "gw-2")
        assert (await site.balance(account)).balance_fen == 4000
        repeat = await site.services.daily_purchase(CLERK, account, 1000, "gw-2")
        assert repeat.repeated
        assert (await site.balance(account)).balance_fen == 4000


async def test_gateway_wallet_refund_trips_the_relay(tmp_path: Path) -> None:
    async with running_site(tmp_path) as site:
        address, account = site.meter("gateway")
        assert account is not None
        await site.services.daily_purchase(CLERK, account, 2500, "gw")
        result = await site.services.refunds.refund_and_close(CLERK, account, "gw-refund")
        assert result.refund_fen == 2500
        assert (await site.balance(account)).balance_fen == 0
        assert site.meters[address].relay_open


async def test_save_customer_opens_account_then_deregister(tmp_path: Path) -> None:
    async with running_site(tmp_path) as site:
        spare, _ = site.meter("money", 0, with_account=False)
        saved = await site.services.customers.save(
            CLERK,
            CustomerSpec(number="200001", name="新用户"),
            meter_id=site.meter_id(spare),
            price_type_id=site.seeded.price_type_ids["flat"],
        )
        assert saved.account is not None
        sale = await site.services.open_purchase(CLERK, saved.account.id, 1000, "new-open")
        assert sale.state == "confirmed"
        assert site.meters[spare].customer_number == "000000200001"
        with pytest.raises(ServiceError) as info:
            await site.services.customers.save(
                CLERK,
                CustomerSpec(number="200002", name="重复"),
                meter_id=site.meter_id(spare),
                price_type_id=site.seeded.price_type_ids["flat"],
            )
        assert info.value.code == "E510"
        closed = await site.services.customers.deregister(CLERK, saved.account.id)
        assert not closed.is_open


async def test_force_power_off_and_on_reads_back(tmp_path: Path) -> None:
    async with running_site(tmp_path) as site:
        address, _ = site.meter("money")
        meter_id = site.meter_id(address)
        await site.services.meter_ops.force_power(CLERK, meter_id, on=False)
        assert site.meters[address].relay_open
        await site.services.meter_ops.force_power(CLERK, meter_id, on=True)
        assert not site.meters[address].relay_open


async def test_keep_power_meter_refuses_trip_with_e511(tmp_path: Path) -> None:
    async with running_site(tmp_path) as site:
        address, _ = site.meter("money")
        site.meters[address].relay.keep_power = True
        with pytest.raises(ServiceError) as info:
            await site.services.meter_ops.force_power(CLERK, site.meter_id(address), on=False)
        assert info.value.code == "E511"
        assert not site.meters[address].relay_open


async def test_permission_is_checked_before_anything_happens(tmp_path: Path) -> None:
    async with running_site(tmp_path) as site:
        address, account = site.meter("money")
        assert account is not None
        with pytest.raises(ServiceError) as info:
            await site.services.daily_purchase(VIEWER, account, 1000, "k")
        assert info.value.code == "E501"
        with pytest.raises(ServiceError):
            await site.services.meter_ops.force_power(VIEWER, site.meter_id(address), on=False)
        assert not site.meters[address].relay_open
        assert site.sim.stats.requests == 0


async def test_reset_and_clear_and_reconciliation(tmp_path: Path) -> None:
    async with running_site(tmp_path) as site:
        address, account = site.meter("money")
        assert account is not None
        await site.services.open_purchase(CLERK, account, 1000, "open")
        await site.services.daily_purchase(CLERK, account, 2000, "d1")
        report = await site.services.reconciliation.run(CLERK)
        row = next(r for r in report if r.meter == address)
        assert row.ok, row.problems
        assert row.meter_purchases == 2
        assert row.ledger_purchased == 3000
        site.meters[address].purchase_count = 5  # credited elsewhere (a foreign card)
        report = await site.services.reconciliation.run(CLERK)
        row = next(r for r in report if r.meter == address)
        assert not row.ok
        assert "purchase count 5" in row.problems[0]
        await site.services.meter_ops.reset_and_clear(CLERK, site.meter_id(address))
        assert site.meters[address].remaining == 0


async def test_clear_all_needs_the_operators_password(tmp_path: Path) -> None:
    async with running_site(tmp_path) as site:
        _, account = site.meter("money")
        assert account is not None
        with pytest.raises(ServiceError) as info:
            await site.services.system.clear_all(CLERK, "wrong", "清除所有用户信息")
        assert info.value.code == "E509"
        result = await site.services.system.clear_all(CLERK, "00000000", "清除所有用户信息")
        assert result.removed["customers"] > 0
        assert await site.db.read(customers.customer_by_number, "100001") is None
        assert (await site.db.read(ledger.balance, account)).entries == 0
