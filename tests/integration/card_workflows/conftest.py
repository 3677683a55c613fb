"""A whole site with IC cards: the ledger, the meter simulator on a real socket, pcscd + vpcd.

Reader 0 ("Virtual PCD 00 00") is the gateway's reader, reader 1 the meters' card slot. A card
written at the gateway is carried to reader 1, where the simulated meter's card slot
(gateway.simulator.card_slot) reads it, applies it to its wallet and writes its return data, and
carried back. Only one pcscd exists per machine: these tests are serial and reuse the session's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.cards import CardReaderConfig, CardReaderService
from gateway.cards.meter_slot import SlotResult
from gateway.permissions import KEYS
from gateway.services.actor import Actor
from gateway.services.card_workflows import CardWorkflows
from gateway.simulator import card_slot
from gateway.simulator.meter import VirtualMeter
from gateway.store import ledger
from gateway.store.conn import Conn
from tests.support.pcsc import (
    GATEWAY_READER,
    METER_READER,
    READERS,
    CardSlots,
    card_slots,
    pcscd,
    wait_card_state,
)
from tests.support.site import Site, running_site
from tests.support.vcard import CpuCard, VirtualCard, blank_gateway_card

__all__ = ["card_slots", "pcscd"]

SITE_SECRET = "card-workflows-site-secret"
CLERK = Actor(1, "operator", KEYS)
GATEWAY, METER = 0, 1


@dataclass
class Desk:
    """The gateway's counter and the meters' card slot, for one test."""

    site: Site
    slots: CardSlots
    gateway_reader: CardReaderService
    meter_reader: CardReaderService

    @property
    def cards(self) -> CardWorkflows:
        return self.site.services.cards

    async def new_card(self) -> CpuCard:
        """A blank card from the vendor, in the gateway's reader."""
        card = blank_gateway_card()
        await asyncio.to_thread(wait_card_state, READERS[GATEWAY], False)
        await asyncio.to_thread(self.slots.insert, card, GATEWAY)
        return card

    async def carry(self, card: VirtualCard, reader: int) -> None:
        """Move the card to ``reader``. pcscd polls each reader every 0.4 s: waiting until the
        reader it goes to shows empty (at once, unless it was just used) and then holds it is
        enough; nothing waits for the reader it left."""
        card.remove()
        await asyncio.to_thread(wait_card_state, READERS[reader], False)
        await asyncio.to_thread(self.slots.insert, card, reader)

    async def swap(self, out: VirtualCard, into: VirtualCard) -> None:
        """Take ``out`` out of the gateway's reader and put ``into`` in."""
        out.remove()
        await self.carry(into, GATEWAY)

    async def at_meter(self, card: CpuCard, address: str, *, back: bool = True) -> SlotResult:
        """Put the card in the meter's slot (the meter applies it), then back at the gateway."""
        await self.carry(card, METER)
        meter = self.site.meters[address]
        try:
            return await card_slot.insert(meter, self.meter_reader, self.site.clock.local_now())
        finally:
            if back:
                await self.carry(card, GATEWAY)

    def meter(self, address: str) -> VirtualMeter:
        return self.site.meters[address]

    async def balance(self, account_id: int) -> ledger.Balance:
        return await self.site.balance(account_id)

    async def ledger_rows(self, account_id: int) -> list[ledger.Entry]:
        return await self.site.db.read(ledger.for_account, account_id)

    async def events(self, stream: str) -> list[dict[str, Any]]:
        rows = await self.site.db.read(_events, stream)
        return [json.loads(r) for r in rows]

    async def actions(self) -> list[str]:
        """The operation log's actions, oldest first."""
        return await self.site.db.read(_actions)


def _actions(c: Conn) -> list[str]:
    return [str(r["action"]) for r in c.all("SELECT action FROM oplog ORDER BY id")]


def _events(c: Conn, stream: str) -> list[str]:
    return [
        str(r["payload"])
        for r in c.all("SELECT payload FROM outbox WHERE stream = ? ORDER BY seq", (stream,))
    ]


@pytest.fixture
async def desk(tmp_path: Path, card_slots: CardSlots) -> AsyncIterator[Desk]:
    async with running_site(tmp_path) as site:
        config = CardReaderConfig(reader=GATEWAY_READER, site_key=f"secret:{SITE_SECRET}")
        gateway_reader = CardReaderService(config)
        meter_reader = CardReaderService(
            CardReaderConfig(reader=METER_READER, site_key=f"secret:{SITE_SECRET}")
        )
        site.services.cards.use_reader(gateway_reader)
        yield Desk(site, card_slots, gateway_reader, meter_reader)
