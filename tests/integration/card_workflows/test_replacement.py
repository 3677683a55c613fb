"""F4.1 replacement purchase by card: with the user card's return data, and with a meter-change
card that carries the old meter's state to the new meter."""

from __future__ import annotations

import pytest

from gateway.cards import MeterChangeCard, MeterOutcome, UserCardKind
from gateway.cards.errors import ReturnNotWrittenError
from gateway.store import customers, ledger
from gateway.store.conn import Conn
from tests.integration.card_workflows.conftest import CLERK, Desk

pytestmark = pytest.mark.pcscd


async def test_replacement_with_the_user_cards_return_data(desk: Desk) -> None:
    old_address, account = desk.site.meter("money")
    assert account is not None
    new_address, _ = desk.site.meter("money", 0, with_account=False)
    new_id = desk.site.meter_id(new_address)
    card = await desk.new_card()
    await desk.cards.open_purchase(CLERK, account, 5000, "open")
    await desk.at_meter(card, old_address)
    desk.meter(old_address).remaining = 4000  # used 10 yuan, then the card went in again:
    await desk.at_meter(card, old_address)  # ... the return data shows 40.00 left

    sale = await desk.cards.replacement_purchase(CLERK, account, new_id, 1000, "swap")
    assert sale.state == "confirmed" and sale.purchase_count == 1
    moved = await desk.site.db.read(customers.get_account, account)
    assert moved.meter_id == new_id
    [record] = await desk.site.db.read(replacements_of, account)
    assert (record["compensation_fen"], record["new_meter_id"]) == (4000, new_id)
    rows = await desk.ledger_rows(account)
    assert sorted((str(r.kind), r.amount_fen) for r in rows) == [
        ("adjustment", -4000), ("compensation", 4000), ("sale", 1000), ("sale", 5000),
    ]  # fmt: skip

    new = desk.meter(new_address)
    loaded = await desk.at_meter(card, new_address)
    assert loaded.application.outcome is MeterOutcome.CREDITED
    assert (new.remaining, new.purchase_count, new.customer_number) == (
        5000, 1, desk.meter(old_address).customer_number,
    )  # fmt: skip
    again = await desk.at_meter(card, new_address)
    assert again.application.outcome is MeterOutcome.RETURN_WRITE_ONLY
    assert new.remaining == 5000
    daily = await desk.cards.daily_purchase(CLERK, account, 500, "after")
    assert daily.purchase_count == 2
    stale = await desk.at_meter(card, old_address)  # the card now names the new meter
    assert stale.application.outcome is MeterOutcome.METER_MISMATCH
    assert desk.meter(old_address).remaining == 4000
    await desk.at_meter(card, new_address, back=False)
    assert new.remaining == 5500


async def test_replacement_with_a_meter_change_card(desk: Desk) -> None:
    old_address, account = desk.site.meter("money", 1)
    assert account is not None
    new_address, _ = desk.site.meter("money", 1, with_account=False)
    new_id = desk.site.meter_id(new_address)
    card = await desk.new_card()
    await desk.cards.open_purchase(CLERK, account, 3000, "open")
    await desk.at_meter(card, old_address)
    old, new = desk.meter(old_address), desk.meter(new_address)
    old.remaining = 2500

    made = await desk.cards.make_meter_change_card(CLERK, account, new_id)
    assert isinstance(made.card.issue, MeterChangeCard)
    with pytest.raises(ReturnNotWrittenError) as early:  # not through the meters: nothing booked
        await desk.cards.replacement_purchase(CLERK, account, new_id, 2000, "swap")
    assert early.value.code == "E409"

    out = await desk.at_meter(card, old_address, back=False)
    assert out.application.outcome is MeterOutcome.TRANSFERRED_OUT
    assert (old.remaining, old.account_opened) == (0, False)
    taken = await desk.at_meter(card, new_address)
    assert taken.application.outcome is MeterOutcome.REPLACED
    assert (new.remaining, new.purchase_count, new.account_opened) == (2500, 1, True)

    sale = await desk.cards.replacement_purchase(CLERK, account, new_id, 2000, "swap")
    assert sale.state == "confirmed" and sale.purchase_count == 2
    view = await desk.cards.read_user_card(CLERK)  # the card is the user card again
    assert view.card.issue.kind is UserCardKind.PURCHASE  # type: ignore[union-attr]
    loaded = await desk.at_meter(card, new_address)
    assert loaded.application.credited_fen == 2000
    assert (new.remaining, new.purchase_count) == (4500, 2)
    await desk.at_meter(card, new_address, back=False)
    assert new.remaining == 4500  # twice: once

    balance = await desk.balance(account)
    assert (balance.purchased_fen, balance.balance_fen) == (5000, 5000)
    comp = [r for r in await desk.ledger_rows(account) if r.kind is ledger.LedgerKind.COMPENSATION]
    assert [c.amount_fen for c in comp] == [2500]
    repeat = await desk.cards.replacement_purchase(CLERK, account, new_id, 2000, "swap")
    assert repeat.repeated and repeat.vend_id == sale.vend_id


def replacements_of(c: Conn, account_id: int) -> list[dict[str, int]]:
    return [
        dict(r)
        for r in c.all(
            "SELECT compensation_fen, new_meter_id FROM replacements WHERE account_id = ?",
            (account_id,),
        )
    ]
