"""F7.1 reset card, F7.2 settings card, F7.3 query card then read it, F7.4 relay card, and F3.2
read / clear a card, on the real stack."""

from __future__ import annotations

import pytest

from gateway.cards import MeterOutcome, QueryCard, RelayCommand
from gateway.services.errors import ServiceError
from gateway.store import cards
from tests.integration.card_workflows.conftest import CLERK, Desk

pytestmark = pytest.mark.pcscd


async def test_settings_query_and_relay_cards_change_the_meter(desk: Desk) -> None:
    address, account = desk.site.meter("money")
    assert account is not None
    meter_id = desk.site.meter_id(address)
    meter = desk.meter(address)
    card = await desk.new_card()

    settings = await desk.cards.make_settings_card(
        CLERK, meter_id=meter_id, alarm1_fen=3000, alarm2_fen=1500, price_1e4=6500
    )
    applied = await desk.at_meter(card, address)
    assert applied.application.outcome is MeterOutcome.SETTINGS_APPLIED
    assert (meter.alarm1, meter.alarm2, meter.price_e4) == (3000, 1500, 6500)
    assert meter.overdraft_limit == 500  # not on the card: unchanged

    query = await desk.cards.make_query_card(CLERK)  # any meter; the same card is reused
    assert query.card_serial == settings.card_serial and query.card.ret is None
    meter.remaining = 1234
    await desk.at_meter(card, address)
    view = await desk.cards.read_card(CLERK)
    assert isinstance(view.content and view.content.issue, QueryCard)
    ret = view.content.ret if view.content else None
    assert ret is not None and ret.outcome is MeterOutcome.QUERIED
    assert (ret.meter_number, ret.remaining_fen, ret.alarm1_fen) == (address, 1234, 3000)
    assert view.to_json()["return"]["outcome"] == "queried"

    await desk.cards.make_relay_card(CLERK, meter_id, RelayCommand.TRIP)
    await desk.at_meter(card, address)
    assert meter.relay_open
    await desk.cards.make_relay_card(CLERK, meter_id, RelayCommand.CLOSE)
    await desk.at_meter(card, address, back=False)
    assert not meter.relay_open

    kinds = [i.kind for i in await desk.site.db.read(cards.by_serial, str(settings.card_serial))]
    assert [str(k) for k in kinds] == ["relay", "relay", "query", "settings"]
    events = await desk.events("cards")
    assert [e["card_kind"] for e in events] == ["settings", "query", "relay", "relay"]
    with pytest.raises(ServiceError) as err:  # a settings card must set something
        await desk.cards.make_settings_card(CLERK, meter_id=meter_id)
    assert err.value.code == "E502"


async def test_reset_card_super_resets_a_meter_once(desk: Desk) -> None:
    address, account = desk.site.meter("money", 1)
    assert account is not None
    meter_id = desk.site.meter_id(address)
    meter = desk.meter(address)
    # The manual's E001 case: a meter that is not new (count 3), an account not yet sold to.
    meter.purchase_count, meter.customer_number, meter.account_opened = 3, "000000000777", True
    meter.remaining = 800
    card = await desk.new_card()
    made = await desk.cards.make_reset_card(CLERK, meter_id)
    reset = await desk.at_meter(card, address)
    assert reset.application.outcome is MeterOutcome.RESET
    assert (meter.purchase_count, meter.remaining, meter.account_opened) == (0, 0, False)
    assert meter.customer_number == "000000000000"
    view = await desk.cards.read_card(CLERK)
    ret = view.content.ret if view.content else None
    assert ret is not None and (ret.purchase_count, ret.remaining_fen) == (3, 800)  # what went
    again = await desk.at_meter(card, address)
    assert again.application.outcome is MeterOutcome.ALREADY_USED  # one-shot

    await desk.cards.clear_card(CLERK)
    await desk.cards.open_purchase(CLERK, account, 2000, "open")  # now the open works
    await desk.at_meter(card, address, back=False)
    assert (meter.remaining, meter.purchase_count) == (2000, 1)
    with pytest.raises(ServiceError) as err:  # the customer's credit would be wiped
        await desk.cards.make_reset_card(CLERK, meter_id)
    assert err.value.code == "E527" and made.card_kind == "reset"


async def test_clear_refuses_a_purchase_not_yet_in_the_meter(desk: Desk) -> None:
    address, account = desk.site.meter("money", 2)
    assert account is not None
    card = await desk.new_card()
    sale = await desk.cards.open_purchase(CLERK, account, 1500, "open")
    with pytest.raises(ServiceError) as err:
        await desk.cards.clear_card(CLERK)
    assert err.value.code == "E526" and (await desk.balance(account)).purchases == 1
    await desk.at_meter(card, address)
    assert await desk.cards.clear_card(CLERK) == sale.card_serial
    assert (await desk.gateway_reader.read()).blank
    assert await desk.cards.clear_card(CLERK) is None  # blank: nothing to do
    assert "card.clear" in await desk.actions()
    [voided] = [e for e in await desk.events("cards") if e["action"] == "voided"]
    assert voided["card_serial"] == str(sale.card_serial)
