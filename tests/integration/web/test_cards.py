"""The IC-card buttons of the workflow pages on the real stack: pcscd + vpcd with virtual cards,
the card written at the gateway's reader, carried to the simulated meter's card slot and back.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from gateway.cards import CardReaderConfig, CardReaderService
from gateway.simulator import card_slot
from gateway.store import vends
from gateway.store.vends import VendChannel
from tests.support.pcsc import (
    GATEWAY_READER,
    METER_READER,
    READERS,
    CardSlots,
    card_slots,
    pcscd,
    wait_card_state,
)
from tests.support.site import Site
from tests.support.vcard import CpuCard, blank_gateway_card
from web.keys import FRAMES
from web.once import new_nonce

from .conftest import cashier

__all__ = ["card_slots", "pcscd"]

Client = TestClient  # type: ignore[type-arg]
KEY = "secret:web-card-tests"
GATEWAY, METER = 0, 1


@dataclass
class Counter:
    site: Site
    slots: CardSlots
    meter_reader: CardReaderService

    async def carry(self, card: CpuCard, reader: int) -> None:
        card.remove()
        await asyncio.to_thread(wait_card_state, READERS[reader], False)
        await asyncio.to_thread(self.slots.insert, card, reader)

    async def at_meter(self, card: CpuCard, address: str) -> None:
        """The customer takes the card to the meter, which loads it, and back to the counter."""
        await self.carry(card, METER)
        try:
            await card_slot.insert(
                self.site.meters[address], self.meter_reader, self.site.clock.local_now()
            )
        finally:
            await self.carry(card, GATEWAY)


@pytest.fixture
async def counter(site: Site, card_slots: CardSlots) -> Counter:
    site.services.cards.use_reader(
        CardReaderService(CardReaderConfig(reader=GATEWAY_READER, site_key=KEY))
    )
    return Counter(
        site, card_slots, CardReaderService(CardReaderConfig(reader=METER_READER, site_key=KEY))
    )


async def post(client: Client, path: str, csrf: str, **form: str) -> ClientResponse:
    return await client.post(path, data={"_csrf": csrf, **form}, allow_redirects=False)


def vend_of(response: ClientResponse) -> int:
    assert response.status == 303, response.status
    found = re.search(r"/results/(\d+)$", response.headers["Location"])
    assert found, response.headers["Location"]
    return int(found.group(1))


async def test_open_and_daily_purchase_by_card(
    site: Site, site_client: Client, counter: Counter
) -> None:
    address, account = site.meter("money", 2)
    assert account is not None
    meter = site.meters[address]
    csrf = await cashier(site_client)
    card = blank_gateway_card()
    await asyncio.to_thread(counter.slots.insert, card, GATEWAY)

    nonce = new_nonce()
    opened = await post(site_client, f"/accounts/{account}/open-purchase-card", csrf,
                        amount="50.00", nonce=nonce)  # fmt: skip
    open_vend = vend_of(opened)
    again = await post(site_client, f"/accounts/{account}/open-purchase-card", csrf,
                       amount="50.00", nonce=nonce)  # fmt: skip
    assert vend_of(again) == open_vend
    assert (await site.db.read(vends.get, open_vend)).channel is VendChannel.CARD
    assert meter.remaining == 0  # nothing at the meter until the card is inserted there
    await counter.at_meter(card, address)
    assert (meter.remaining, meter.purchase_count) == (5000, 1)

    read = await post(site_client, f"/sales/daily/{account}/read-card", csrf)
    html = await read.text()
    assert read.status == 200
    assert 'id="card-read"' in html and "用户卡" in html and "（电表回写）" in html

    pane = site_client.app[FRAMES].subscribe()
    sold = await post(site_client, f"/sales/daily/{account}/card", csrf,
                      amount="20.00", nonce=new_nonce())  # fmt: skip
    shown_in_pane = await pane.next_batch(5.0)
    assert shown_in_pane is not None
    card_lines = [f.data for f in shown_in_pane if f.channel == "card"]
    assert card_lines[0] == "card → daily_purchase" and "state=confirmed" in card_lines[-1]
    pane.close()
    result = await (await site_client.get(sold.headers["Location"])).text()
    assert 'data-state="confirmed"' in result and "¥ 20.00" in result
    assert "插入电表" in result
    await counter.at_meter(card, address)
    assert (meter.remaining, meter.purchase_count) == (7000, 2)
    balance = await site.balance(account)
    assert (balance.purchased_fen, balance.purchases) == (7000, 2)

    # F3.2: any card in the reader, shown field by field.
    shown = await post(site_client, "/cards/read", csrf)
    assert "卡序号" in await shown.text()
    api = await site_client.post("/api/v1/cards/read", headers={"X-CSRF-Token": csrf})
    card_json = await api.json()
    assert api.status == 200 and card_json["account_id"] == account
    assert card_json["return"]["remaining_fen"] == 7000


async def test_a_card_button_without_a_card_is_a_clear_error(
    site: Site, site_client: Client, counter: Counter
) -> None:
    _, account = site.meter("money", 2)
    csrf = await cashier(site_client)
    answer = await post(site_client, f"/sales/daily/{account}/read-card", csrf)
    html = await answer.text()
    assert answer.status >= 400
    assert re.search(r'class="code">E4\d\d<', html), html[:500]
