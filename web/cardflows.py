"""The web's calls into the card workflows (``services.cards``, gateway.services.card_workflows).

One module, so the pages do not depend on that API's exact shape: each function here is one
button of the manual's card variants. Until the composition root has card workflows the
buttons answer E614 (not connected).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.cards.format import RelayCommand
from web.errors import NOT_AVAILABLE, WebError
from web.workflow import actor_of, pane, services_of


def _cards(request: web.Request) -> Any:
    found = getattr(services_of(request), "cards", None)
    if found is None:
        raise WebError(NOT_AVAILABLE, 503)
    return found


def _traced(request: web.Request) -> Any:
    return _Traced(request, _cards(request))


class _Traced:
    """The card services as seen through the command-frame pane: each call shows what is asked
    of the card in the gateway's reader and how it ended (the reader has no frames of its own
    to show; a meter's frames come from the bus trace)."""

    def __init__(self, request: web.Request, cards: Any) -> None:
        self._request = request
        self._cards = cards

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._cards, name)
        request = self._request

        async def call(*args: Any, **kwargs: Any) -> Any:
            pane(request, f"card → {name}", channel="card")
            try:
                answer = await method(*args, **kwargs)
            except Exception as exc:
                pane(request, f"card ← {getattr(exc, 'code', 'error')} {exc}", channel="card",
                     error=True)  # fmt: skip
                raise
            pane(request, f"card ← {_summary(answer)}", channel="card")
            return answer

        return call


def _summary(answer: Any) -> str:
    """One line about what came back: the card serial, the vend, the state."""
    parts = []
    for name in ("vend_id", "state", "card_serial", "card_kind", "purchase_count", "amount_fen"):
        value = getattr(answer, name, None)
        if value is not None:
            parts.append(f"{name}={value}")
    return " ".join(parts) or "ok"


async def read_card(request: web.Request) -> Any:
    """【读电卡（IC卡）】: whatever card is in the gateway's reader (a CardView)."""
    return await _traced(request).read_card(actor_of(request))


async def read_user_card(request: web.Request) -> Any:
    """【读用户卡（IC卡）】: the user card in the reader (E004 for any other card)."""
    return await _traced(request).read_user_card(actor_of(request))


async def clear_card(request: web.Request) -> Any:
    """【清电卡（IC卡）】."""
    return await _traced(request).clear_card(actor_of(request))


async def open_purchase(request: web.Request, account_id: int, amount_fen: int, key: str) -> Any:
    return await _traced(request).open_purchase(actor_of(request), account_id, amount_fen, key)


async def reissue(request: web.Request, account_id: int, key: str) -> Any:
    return await _traced(request).reissue(actor_of(request), account_id, key)


async def daily_purchase(request: web.Request, account_id: int, amount_fen: int, key: str) -> Any:
    return await _traced(request).daily_purchase(actor_of(request), account_id, amount_fen, key)


async def make_refund_card(request: web.Request, account_id: int) -> Any:
    return await _traced(request).make_refund_card(actor_of(request), account_id)


async def refund_close(request: web.Request, account_id: int, key: str, fee_fen: int) -> Any:
    return await _traced(request).refund_close(actor_of(request), account_id, key, fee_fen=fee_fen)


async def replacement_purchase(
    request: web.Request,
    account_id: int,
    new_meter_id: int,
    amount_fen: int,
    key: str,
    compensation: int | None,
) -> Any:
    return await _traced(request).replacement_purchase(
        actor_of(request), account_id, new_meter_id, amount_fen, key, compensation=compensation
    )


async def reset_card(request: web.Request, meter_id: int) -> Any:
    return await _traced(request).make_reset_card(actor_of(request), meter_id)


async def settings_card(request: web.Request, meter_id: int | None, values: dict[str, Any]) -> Any:
    return await _traced(request).make_settings_card(actor_of(request), meter_id=meter_id, **values)


async def query_card(request: web.Request, meter_id: int | None) -> Any:
    return await _traced(request).make_query_card(actor_of(request), meter_id)


async def relay_card(request: web.Request, meter_id: int, on: bool) -> Any:
    command = RelayCommand.CLOSE if on else RelayCommand.TRIP
    return await _traced(request).make_relay_card(actor_of(request), meter_id, command)


async def settle(request: web.Request, vend_id: int, refund: bool) -> Any:
    """【核实结果】 of a card vend whose write did not finish."""
    cards = _traced(request)
    if refund:
        return await cards.settle_refund(vend_id)
    return await cards.settle_sale(vend_id)
