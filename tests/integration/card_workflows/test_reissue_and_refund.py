"""F2.2 reissue (the old card becomes useless) and F3.3 refund by card (refund card → meter
read-out → refund-close clear card), end to end on the real stack."""

from __future__ import annotations

import pytest

from gateway.cards import MeterOutcome, RefundCard
from gateway.cards.errors import NotANewCardError, ReturnNotWrittenError
from gateway.services.errors import ServiceError
from gateway.store import cards, customers, receipts, refunds
from tests.integration.card_workflows.conftest import CLERK, Desk

pytestmark = pytest.mark.pcscd


async def test_reissue_supersedes_the_old_card_and_carries_the_unloaded_purchase(
    desk: Desk,
) -> None:
    address, account = desk.site.meter("money")
    assert account is not None
    meter = desk.meter(address)
    old = await desk.new_card()
    opened = await desk.cards.open_purchase(CLERK, account, 4000, "open")
    await desk.at_meter(old, address)
    # A purchase is written on the card, and the card is lost before it reaches the meter.
    await desk.cards.daily_purchase(CLERK, account, 1500, "daily")

    with pytest.raises(NotANewCardError):  # a reissue needs a blank card
        await desk.cards.reissue(CLERK, account, "reissue")
    old.remove()  # the customer lost it
    new = await desk.new_card()
    reissued = await desk.cards.reissue(CLERK, account, "reissue")
    assert reissued.state == "confirmed" and reissued.card_serial > opened.card_serial
    assert reissued.amount_fen == 0  # no money moves
    balance = await desk.balance(account)
    assert (balance.purchased_fen, balance.purchases) == (5500, 2)
    issues = await desk.site.db.read(cards.by_serial, str(opened.card_serial))
    assert issues and all(i.superseded for i in issues)
    receipt = await desk.site.db.read(receipts.by_number, reissued.receipt_number or 0)
    assert receipt is not None and str(receipt.kind) == "reissue"

    loaded = await desk.at_meter(new, address)  # the meter adopts the new serial ...
    assert loaded.application.outcome is MeterOutcome.CREDITED
    assert (meter.remaining, meter.purchase_count) == (5500, 2)  # ... and loads the purchase
    assert meter.card_serial == reissued.card_serial
    again = await desk.at_meter(new, address)
    assert again.application.outcome is MeterOutcome.RETURN_WRITE_ONLY
    assert meter.remaining == 5500

    found = await desk.at_meter(old, address, back=False)  # the lost card turns up
    assert found.application.outcome is MeterOutcome.CARD_MISMATCH
    assert (meter.remaining, meter.illegal_inserts) == (5500, 1)
    await desk.swap(new, old)
    with pytest.raises(ServiceError) as err:
        await desk.cards.daily_purchase(CLERK, account, 1000, "old-card")
    assert err.value.code == "E524"
    assert (await desk.balance(account)).purchases == 2


async def test_refund_card_meter_read_out_and_refund_close_clear_card(desk: Desk) -> None:
    address, account = desk.site.meter("money", 1)
    assert account is not None
    meter = desk.meter(address)
    card = await desk.new_card()
    await desk.cards.open_purchase(CLERK, account, 5000, "open")
    await desk.at_meter(card, address)
    meter.remaining = 3210  # the customer used some electricity
    await desk.cards.daily_purchase(CLERK, account, 1000, "daily")  # sold, never loaded

    made = await desk.cards.make_refund_card(CLERK, account)
    assert isinstance(made.card.issue, RefundCard) and made.card_serial == made.card.issue.serial
    again = await desk.cards.make_refund_card(CLERK, account)
    assert again.repeated
    with pytest.raises(ReturnNotWrittenError) as not_read:  # not in the meter yet
        await desk.cards.refund_close(CLERK, account, "refund")
    assert not_read.value.code == "E409"

    read_out = await desk.at_meter(card, address)
    assert read_out.application.outcome is MeterOutcome.REFUND_READ
    assert (meter.remaining, meter.account_opened, meter.relay_open) == (0, False, True)
    twice = await desk.at_meter(card, address)
    assert twice.application.outcome is MeterOutcome.ALREADY_USED  # one read-out per meter

    result = await desk.cards.refund_close(CLERK, account, "refund", fee_fen=10)
    assert result.state == "confirmed"
    assert result.refund_fen == 3210 + 1000 - 10  # read-out + the unloaded purchase - fee
    assert (await desk.gateway_reader.read()).blank  # the refund card is cleared
    closed = await desk.site.db.read(customers.get_account, account)
    assert not closed.is_open
    [record] = await desk.site.db.read(refunds.for_account, account)
    assert record.refund_fen == 4200 and record.meter_remaining_fen == 3210
    assert record.valuation["unloaded_fen"] == 1000
    receipt = await desk.site.db.read(receipts.by_number, result.receipt_number or 0)
    assert receipt is not None and receipt.content["refund_fen"] == 4200
    [event] = await desk.events("refunds")
    assert event["amount_fen"] == 4200
    assert {"card.refund", "refund.close", "card.refund_clear"} <= set(await desk.actions())

    repeat = await desk.cards.refund_close(CLERK, account, "refund", fee_fen=10)
    assert repeat.repeated and repeat.vend_id == result.vend_id
    balance = await desk.balance(account)
    assert balance.balance_fen == 6000 - 4200  # one refund row: sold 6000, paid back 4200
