"""F2.1 open account by card and F3.1 daily purchase by card, end to end: the gateway writes the
card, the simulated meter loads it, the meter's wallet matches the ledger, the card shows the
meter's write-back, and the same card twice credits once."""

from __future__ import annotations

import pytest

from gateway.cards import MeterOutcome, UserCardKind
from gateway.cards.errors import CardMacError, NotANewCardError, NotAUserCardError
from gateway.services.errors import ServiceError
from gateway.store import receipts, vends
from tests.integration.card_workflows.conftest import CLERK, Desk
from tests.support.vcard import foreign_card

pytestmark = pytest.mark.pcscd

ISSUE_EF = (0x3F00, 0x5047, 0x0001)


async def test_open_purchase_by_card_loads_the_meter_once(desk: Desk) -> None:
    address, account = desk.site.meter("money")
    assert account is not None
    card = await desk.new_card()

    sale = await desk.cards.open_purchase(CLERK, account, 5000, "open-1")
    assert sale.state == "confirmed" and sale.purchase_count == 1 and sale.card_serial > 0
    balance = await desk.balance(account)
    assert (balance.purchased_fen, balance.purchases) == (5000, 1)
    meter = desk.meter(address)
    assert (meter.remaining, meter.purchase_count, meter.account_opened) == (0, 0, False)

    first = await desk.at_meter(card, address)
    assert first.application.outcome is MeterOutcome.CREDITED and first.return_written
    assert (meter.remaining, meter.purchase_count, meter.account_opened) == (5000, 1, True)
    assert meter.card_serial == sale.card_serial
    assert meter.customer_number == "000000100001"
    again = await desk.at_meter(card, address)
    assert again.application.outcome is MeterOutcome.RETURN_WRITE_ONLY
    assert meter.remaining == 5000  # the same card twice credits once

    view = await desk.cards.read_user_card(CLERK)
    assert view.account_id == account and view.current and view.purchase_loaded
    assert view.card.ret is not None and view.card.ret.remaining_fen == 5000
    assert view.card.ret.purchase_count == 1

    receipt = await desk.site.db.read(receipts.by_number, sale.receipt_number or 0)
    assert receipt is not None and receipt.content["amount_fen"] == 5000
    [sale_event] = await desk.events("sales")
    assert sale_event["amount_fen"] == 5000 and sale_event["purchase_count"] == 1
    [card_event] = await desk.events("cards")
    assert card_event["card_kind"] == "user" and card_event["action"] == "issued"
    assert card_event["card_serial"] == str(sale.card_serial)
    assert {"sale.open", "card.user_open"} <= set(await desk.actions())

    repeat = await desk.cards.open_purchase(CLERK, account, 5000, "open-1")
    assert repeat.repeated and repeat.vend_id == sale.vend_id
    assert repeat.receipt_number == sale.receipt_number
    assert (await desk.balance(account)).purchases == 1


async def test_open_needs_a_new_card_e002_and_changes_nothing(desk: Desk) -> None:
    _address, account = desk.site.meter("money")
    assert account is not None
    await desk.new_card()
    await desk.cards.make_query_card(CLERK)  # the card now holds something
    with pytest.raises(NotANewCardError) as err:
        await desk.cards.open_purchase(CLERK, account, 1000, "open-x")
    assert err.value.code == "E002" and "清卡" in err.value.remedy_zh
    assert await desk.site.db.read(vends.get_by_key, "open-x") is None
    assert (await desk.balance(account)).purchases == 0


async def test_daily_purchase_by_card_and_the_unloaded_purchase_refusal(desk: Desk) -> None:
    address, account = desk.site.meter("money", 1)
    assert account is not None
    card = await desk.new_card()
    await desk.cards.open_purchase(CLERK, account, 3000, "open")
    await desk.at_meter(card, address)

    daily = await desk.cards.daily_purchase(CLERK, account, 2550, "daily-1")
    assert daily.state == "confirmed" and daily.purchase_count == 2
    view = await desk.cards.read_user_card(CLERK)
    assert view.card.issue.kind is UserCardKind.PURCHASE  # type: ignore[union-attr]
    assert not view.purchase_loaded  # written, not in the meter yet

    with pytest.raises(ServiceError) as err:  # F3.1: the last purchase is not in the meter
        await desk.cards.daily_purchase(CLERK, account, 1000, "daily-2")
    assert err.value.code == "E522" and "电表" in err.value.remedy_zh
    assert await desk.site.db.read(vends.get_by_key, "daily-2") is None

    meter = desk.meter(address)
    meter.hoarding_limit = 5000  # 30.00 + 25.50 would be over it: the meter refuses the card
    refused = await desk.at_meter(card, address)
    assert refused.application.outcome is MeterOutcome.OVER_HOARDING_LIMIT
    assert (meter.remaining, meter.purchase_count) == (3000, 1)
    meter.hoarding_limit = 99_999_999
    loaded = await desk.at_meter(card, address)
    assert loaded.application.credited_fen == 2550
    assert (meter.remaining, meter.purchase_count) == (5550, 2)
    await desk.at_meter(card, address)
    assert meter.remaining == 5550  # twice: credited once

    after = await desk.cards.daily_purchase(CLERK, account, 1000, "daily-2")
    assert after.purchase_count == 3
    await desk.at_meter(card, address, back=False)
    assert (meter.remaining, meter.purchase_count) == (6550, 3)
    balance = await desk.balance(account)
    assert (balance.purchased_fen, balance.purchases) == (6550, 3)
    assert meter.remaining == balance.purchased_fen  # no load: the meter holds what was sold


async def test_blank_foreign_and_tampered_cards_are_refused(desk: Desk) -> None:
    address, account = desk.site.meter("money", 2)
    assert account is not None
    card = await desk.new_card()
    with pytest.raises(NotAUserCardError) as err:
        await desk.cards.daily_purchase(CLERK, account, 1000, "d1")
    assert err.value.code == "E004" and "用户卡" in err.value.remedy_zh

    await desk.cards.open_purchase(CLERK, account, 1000, "open")
    await desk.at_meter(card, address)
    card.files[ISSUE_EF][35:39] = (9_999_900).to_bytes(4, "big")  # "100 yuan more"
    with pytest.raises(CardMacError) as mac:
        await desk.cards.daily_purchase(CLERK, account, 1000, "d2")
    assert mac.value.code == "E410"
    with pytest.raises(CardMacError):  # the meter refuses it too, and changes nothing
        await desk.at_meter(card, address)
    assert desk.meter(address).remaining == 1000

    await desk.swap(card, foreign_card())
    with pytest.raises(NotAUserCardError) as foreign:
        await desk.cards.daily_purchase(CLERK, account, 1000, "d3")
    assert foreign.value.code == "E004"
    assert (await desk.balance(account)).purchases == 1
    for key in ("d1", "d2", "d3"):
        assert await desk.site.db.read(vends.get_by_key, key) is None


async def test_card_for_another_meter_directs_to_replacement_e523(desk: Desk) -> None:
    address, account = desk.site.meter("money", 3)
    assert account is not None
    await desk.new_card()
    await desk.cards.open_purchase(CLERK, account, 1000, "open")
    # The meter is replaced over RS485 (F4.1 comm): the card still names the old meter.
    spare, _ = desk.site.meter("money", 0, with_account=False)
    moved = await desk.site.vending.replacement_purchase(
        CLERK, account, desk.site.meter_id(spare), 0, "comm-swap"
    )
    assert moved.state == "confirmed"
    with pytest.raises(ServiceError) as err:
        await desk.cards.daily_purchase(CLERK, account, 500, "daily")
    assert err.value.code == "E523" and "F4.1" in err.value.remedy_en
    assert address in err.value.detail and spare in err.value.detail
    assert await desk.site.db.read(vends.get_by_key, "daily") is None


async def test_energy_account_card_carries_energy_at_the_tier_price(desk: Desk) -> None:
    address, account = desk.site.meter("energy")
    assert account is not None
    card = await desk.new_card()
    sale = await desk.cards.open_purchase(CLERK, account, 10000, "e-open")
    # 100.00 yuan at 0.5600 yuan/kWh (first tier) = 178.57 kWh, as on the comm path
    assert (sale.energy_cwh, sale.amount_fen) == (17857, 10000)
    view = await desk.cards.read_user_card(CLERK)
    assert view.card.issue.amount_fen == 17857  # type: ignore[union-attr]
    loaded = await desk.at_meter(card, address, back=False)
    assert loaded.application.credited_fen == 17857
    assert desk.meter(address).remaining == 17857 == (await desk.balance(account)).energy_cwh
