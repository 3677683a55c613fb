"""The card variants of the workflows in the JSON API (the same calls as the pages' IC-card
buttons, through web.cardflows). Money cards are exactly once per ``idempotency_key``."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from web import cardflows
from web.forms import Fields
from web.once import api_key
from web.render import json_response
from web.routes import RouteTable
from web.schemas import (
    AMOUNT_IN,
    BOOLEAN,
    IDEMPOTENCY_KEY,
    INTEGER,
    REFUND_RESULT,
    SALE_RESULT,
    answers,
    nullable,
    obj,
)
from web.workflow import api_purchase, once, path_int, refund_json, sale_json

from .customers import ID, PURCHASE_BODY, SERVICE_ANSWERS
from .refunds import REFUND_BODY

routes = RouteTable()

CARD = {"type": "object", "description": "the card (gateway.services card views' to_json)"}
CARD_SALE = obj({"sale": SALE_RESULT, "card_serial": INTEGER})
KEY_ONLY = obj(
    {"idempotency_key": IDEMPOTENCY_KEY}, example={"idempotency_key": "example-card-0000000001"}
)


def _card_sale(result: Any) -> dict[str, Any]:
    return {"sale": sale_json(result), "card_serial": int(getattr(result, "card_serial", 0))}


def _card(answer: Any) -> dict[str, Any]:
    found: dict[str, Any] = answer.to_json()
    return found


async def _purchase(
    request: web.Request, flow: Callable[[web.Request, int, int, str], Awaitable[Any]]
) -> web.StreamResponse:
    """A purchase on the card in the reader (the opening one or a daily one: ``flow``)."""
    result = await api_purchase(request, functools.partial(flow, request))
    return json_response(_card_sale(result))


@routes.api(
    "POST",
    "/api/v1/cards/read",
    name="api_card_read",
    permission="cards.read",
    feature="F3.2",
    summary="【读电卡（IC卡）】 the card in the gateway's reader",
    responses=answers(CARD, *SERVICE_ANSWERS),
)
async def api_card_read(request: web.Request) -> web.StreamResponse:
    return json_response(_card(await cardflows.read_card(request)))


@routes.api(
    "POST",
    "/api/v1/cards/clear",
    name="api_card_clear",
    permission="cards.read",
    feature="F3.2",
    summary="【清电卡（IC卡）】 blank the card in the reader; answers the serial it had",
    responses=answers(obj({"serial": nullable(INTEGER)}), *SERVICE_ANSWERS),
)
async def api_card_clear(request: web.Request) -> web.StreamResponse:
    serial = await cardflows.clear_card(request)
    return json_response({"serial": serial if isinstance(serial, int) else None})


@routes.api(
    "POST",
    f"/api/v1/accounts/{ID}/card/open-purchase",
    name="api_card_open_purchase",
    permission="sales.open",
    feature="F2.1",
    summary="【开户购电（IC卡）】 a blank card becomes the user card with the first purchase",
    body=PURCHASE_BODY,
    responses=answers(CARD_SALE, *SERVICE_ANSWERS),
)
async def api_card_open_purchase(request: web.Request) -> web.StreamResponse:
    return await _purchase(request, cardflows.open_purchase)


@routes.api(
    "POST",
    f"/api/v1/accounts/{ID}/card/purchase",
    name="api_card_purchase",
    permission="sales.daily",
    feature="F3.1",
    summary="【日常购电（IC卡）】 the purchase on the customer's card in the reader",
    body=PURCHASE_BODY,
    responses=answers(CARD_SALE, *SERVICE_ANSWERS),
)
async def api_card_purchase(request: web.Request) -> web.StreamResponse:
    return await _purchase(request, cardflows.daily_purchase)


@routes.api(
    "POST",
    f"/api/v1/accounts/{ID}/card/reissue",
    name="api_card_reissue",
    permission="cards.issue",
    feature="F2.2",
    summary="【补用户卡（IC卡）】 a blank card becomes the account's card (no money moves)",
    body=KEY_ONLY,
    responses=answers(CARD_SALE, *SERVICE_ANSWERS),
)
async def api_card_reissue(request: web.Request) -> web.StreamResponse:
    account_id = path_int(request)
    key = api_key(await Fields.from_json(request))
    result = await once(request, key, lambda: cardflows.reissue(request, account_id, key))
    return json_response(_card_sale(result))


@routes.api(
    "POST",
    f"/api/v1/accounts/{ID}/card/refund-card",
    name="api_card_make_refund",
    permission="sales.refund",
    feature="F3.3",
    summary="【制作退费卡（IC卡）】 the customer's card becomes a refund card for the meter",
    responses=answers(CARD, *SERVICE_ANSWERS),
)
async def api_card_make_refund(request: web.Request) -> web.StreamResponse:
    return json_response(_card(await cardflows.make_refund_card(request, path_int(request))))


@routes.api(
    "POST",
    f"/api/v1/accounts/{ID}/card/refund",
    name="api_card_refund",
    permission="sales.refund",
    feature="F3.3",
    summary="【退费销户清卡】 the refund card back from the meter: refund, close, card cleared",
    body=REFUND_BODY,
    responses=answers(obj({"refund": REFUND_RESULT}), *SERVICE_ANSWERS),
)
async def api_card_refund(request: web.Request) -> web.StreamResponse:
    account_id = path_int(request)
    fields = await Fields.from_json(request)
    fee, key = fields.optional_yuan("fee") or 0, api_key(fields)
    result = await once(request, key, lambda: cardflows.refund_close(request, account_id, key, fee))
    return json_response({"refund": refund_json(result)})


@routes.api(
    "POST",
    f"/api/v1/accounts/{ID}/card/replacement",
    name="api_card_replacement",
    permission="sales.replace",
    feature="F4.1",
    summary="【换表购电（IC卡）】 the account to the new meter by card",
    body=obj(
        {
            "new_meter_id": INTEGER,
            "amount": AMOUNT_IN,
            "idempotency_key": IDEMPOTENCY_KEY,
            "compensation": AMOUNT_IN,
        },
        required=("new_meter_id", "amount", "idempotency_key"),
        example={"new_meter_id": 1, "amount": "0", "idempotency_key": "example-card-replace-01"},
    ),
    responses=answers(CARD_SALE, *SERVICE_ANSWERS),
)
async def api_card_replacement(request: web.Request) -> web.StreamResponse:
    account_id = path_int(request)
    fields = await Fields.from_json(request)
    new_meter = fields.required_int("new_meter_id", minimum=1)
    amount, key = fields.yuan("amount"), api_key(fields)
    given = fields.optional_yuan("compensation")
    result = await once(
        request,
        key,
        lambda: cardflows.replacement_purchase(request, account_id, new_meter, amount, key, given),
    )
    return json_response(_card_sale(result))


@routes.api(
    "POST",
    f"/api/v1/meters/{ID}/reset-card",
    name="api_reset_card",
    permission="meters.reset",
    feature="F7.1",
    summary="【复位卡（IC卡）】 for this meter",
    responses=answers(CARD, *SERVICE_ANSWERS),
)
async def api_reset_card(request: web.Request) -> web.StreamResponse:
    return json_response(_card(await cardflows.reset_card(request, path_int(request))))


@routes.api(
    "POST",
    f"/api/v1/meters/{ID}/relay-card",
    name="api_relay_card",
    permission="relay.control",
    feature="F7.4",
    summary="【强制拉合闸卡（IC卡）】 close (on: true) or trip this meter",
    body=obj({"on": BOOLEAN}, example={"on": False}),
    responses=answers(CARD, *SERVICE_ANSWERS),
)
async def api_relay_card(request: web.Request) -> web.StreamResponse:
    fields = await Fields.from_json(request)
    answer = await cardflows.relay_card(request, path_int(request), fields.boolean("on"))
    return json_response(_card(answer))


@routes.api(
    "POST",
    "/api/v1/cards/query",
    name="api_query_card",
    permission="tools.cards",
    feature="F7.3",
    summary="【查询卡（IC卡）】 (meter_id omitted: any meter); read it back with /cards/read",
    body=obj({"meter_id": nullable(INTEGER)}, required=(), example={}),
    responses=answers(CARD, *SERVICE_ANSWERS),
)
async def api_query_card(request: web.Request) -> web.StreamResponse:
    fields = await Fields.from_json(request)
    meter_id = fields.integer("meter_id", required=False, minimum=1)
    return json_response(_card(await cardflows.query_card(request, meter_id)))


@routes.api(
    "POST",
    "/api/v1/cards/settings",
    name="api_settings_card",
    permission="tools.cards",
    feature="F7.2",
    summary="【设置卡（IC卡）】 values in yuan; omitted ones stay unchanged on the meter",
    body=obj(
        {
            "meter_id": nullable(INTEGER),
            "alarm1": AMOUNT_IN,
            "alarm2": AMOUNT_IN,
            "overdraft_limit": AMOUNT_IN,
            "hoarding_limit": AMOUNT_IN,
            "close_allowed": AMOUNT_IN,
        },
        required=(),
        example={"alarm1": "20.00"},
    ),
    responses=answers(CARD, *SERVICE_ANSWERS),
)
async def api_settings_card(request: web.Request) -> web.StreamResponse:
    fields = await Fields.from_json(request)
    values = {
        f"{name}_fen": fields.optional_yuan(name)
        for name in ("alarm1", "alarm2", "overdraft_limit", "hoarding_limit", "close_allowed")
    }
    meter_id = fields.integer("meter_id", required=False, minimum=1)
    return json_response(_card(await cardflows.settings_card(request, meter_id, values)))
