"""Every card workflow of the manual, through the money services, each exactly once.

``CardWorkflows`` is what the web UI, the panel and tests call (``services.cards``):

=====================================  =======================================  ===============
manual                                 method                                   permission
=====================================  =======================================  ===============
开户购电（IC卡） F2.1                   ``open_purchase``                        sales.open
补用户卡（IC卡） F2.2                   ``reissue``                              cards.issue
读用户卡（IC卡） F3.1                   ``read_user_card``                       any sales/card
日常购电（IC卡） F3.1                   ``daily_purchase``                       sales.daily
读电卡 / 清电卡（IC卡） F3.2            ``read_card`` / ``clear_card``           cards.read
制作退费卡（IC卡） F3.3                 ``make_refund_card``                     sales.refund
退费销户清卡 F3.3                       ``refund_close``                         sales.refund
换表购电（IC卡） F4.1                   ``replacement_purchase``                 sales.replace
(换表卡) F4.1                           ``make_meter_change_card``               sales.replace
复位卡 F7.1                             ``make_reset_card``                      meters.reset
设置卡 F7.2                             ``make_settings_card``                   tools.cards
查询卡 F7.3                             ``make_query_card`` then ``read_card``   tools.cards
拉合闸卡 F7.4                           ``make_relay_card``                      relay.control
=====================================  =======================================  ===============

Money moves exactly as on the comm path: a persisted vend before the card is touched, the
ledger row only once the card has been read back holding the sale, an idempotency key per
request (the same key returns the first result, or finishes an interrupted one with the card in
the reader). An interrupted card write leaves an *uncertain* vend (E520); ``resume`` finishes it
with its card, ``abandon`` puts the card back as it was. Nothing is booked half: a card pulled
mid-write is either written again or restored. See card_sales, card_refunds and card_tools.
"""

from __future__ import annotations

from gateway.services import card_records
from gateway.services.actor import Actor
from gateway.services.card_desk import CardSaleResult
from gateway.services.card_refunds import RefundCards
from gateway.services.card_sales import PERMISSION, SaleCards
from gateway.services.card_tools import ToolCards
from gateway.services.errors import ServiceError
from gateway.services.refunds import RefundResult
from gateway.store import vends
from gateway.store.vends import Vend, VendChannel, VendKind


class CardWorkflows(SaleCards, RefundCards, ToolCards):
    """``CardWorkflows(db, clock, vending, reader)``; ``use_reader`` attaches the reader later."""

    async def unfinished(self, actor: Actor) -> list[Vend]:
        """Card operations that did not finish (to resume or abandon), oldest first."""
        actor.require("cards.read")
        return await self.db.read(card_records.unfinished_card_vends)

    async def resume(self, actor: Actor, vend_id: int) -> CardSaleResult | RefundResult:
        """Finish an interrupted card operation with its card in the reader."""
        vend = await self._card_vend(actor, vend_id)
        if vend.kind is VendKind.CARD_REFUND:
            return await self._settle_refund(vend_id)
        return await self._settle_sale(vend_id)

    async def abandon(self, actor: Actor, vend_id: int) -> CardSaleResult | RefundResult:
        """Give up an interrupted card operation; its card must be in the reader."""
        vend = await self._card_vend(actor, vend_id)
        if vend.kind is VendKind.CARD_REFUND:
            return await self._abandon_refund(actor, vend_id)
        return await self._abandon_sale(actor, vend_id)

    async def _card_vend(self, actor: Actor, vend_id: int) -> Vend:
        vend = await self.db.read(vends.get, vend_id)
        if vend.channel is not VendChannel.CARD or vend.kind not in PERMISSION:
            raise ServiceError("E502", f"vend {vend_id} is not a card operation")
        actor.require(PERMISSION[vend.kind])
        return vend


__all__ = ["CardSaleResult", "CardWorkflows", "RefundResult"]
