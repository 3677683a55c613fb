"""F3.1 日常售电: select the customer →【读参数（通讯）】/【读用户卡（IC卡）】→ 购电信息 →
【日常购电（通讯）】/【日常购电（IC卡）】→【发票打印】.

Keyboard first: the customer number (or meter address) and Enter select the account, the
amount field has the focus, Enter sells over RS485. The form's nonce is the sale's idempotency
key: a double click or a resubmitted form shows the first sale, never a second one.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.services.meter_ops import MeterParameters
from gateway.store import customers
from web.forms import Fields
from web.keys import DATABASE
from web.once import form_key
from web.quote import quote
from web.render import json_response
from web.routes import QueryParam, RouteTable
from web.schemas import SALE_RESULT, STRING, answers, obj
from web.workflow import (
    Outcome,
    actor_of,
    api_purchase,
    attempt,
    once,
    path_int,
    sale_json,
    services_of,
    vend_page,
    workflow_page,
)

from .customers import ID, PURCHASE_BODY, SERVICE_ANSWERS

routes = RouteTable()

DAILY_STEPS = (
    "flow.select_customer",
    "btn.read_params_comm",
    "flow.fill_purchase",
    "btn.daily_purchase_comm",
    "btn.print_receipt",
)
QUOTE = obj(
    {
        "amount": STRING,
        "energy": STRING,
        "previous_remainder": STRING,
        "remainder": STRING,
        "tiers": {"type": "array", "items": {"type": "object"}},
    }
)


async def page(request: web.Request, **kw: Any) -> web.StreamResponse:
    return await workflow_page(request, "daily_sale.html", "menu.daily_sale", DAILY_STEPS, **kw)


@routes.page("GET", "/sales/daily", name="daily_sale", permission="sales.daily", feature="F3.1")
async def daily_sale(request: web.Request) -> web.StreamResponse:
    return await page(request)


async def read_parameters(request: web.Request, account_id: int) -> Outcome:
    """【读参数（通讯）】 for the account's meter."""

    async def work() -> MeterParameters:
        account = await request.app[DATABASE].read(customers.get_account, account_id)
        return await services_of(request).meter_ops.read_parameters(
            actor_of(request), account.meter_id
        )

    return await attempt(request, "meter.read_parameters", f"account:{account_id}", work)


@routes.page(
    "POST",
    f"/sales/daily/{ID}/read",
    name="daily_read_params",
    permission="sales.daily",
    feature="F3.1",
)
async def daily_read(request: web.Request) -> web.StreamResponse:
    account_id = path_int(request)
    outcome = await read_parameters(request, account_id)
    return await page(
        request,
        account_id=account_id,
        params=outcome.value,
        error=outcome.error,
        form=dict(await request.post()),
        status=outcome.status,
    )


@routes.page(
    "POST", f"/sales/daily/{ID}", name="daily_purchase", permission="sales.daily", feature="F3.1"
)
async def daily_purchase(request: web.Request) -> web.StreamResponse:
    """【日常购电（通讯）】: once per form (nonce), then the result with its receipt."""
    account_id = path_int(request)
    fields = await Fields.from_form(request)

    async def work() -> Any:
        amount = fields.yuan("amount")
        key = form_key(fields)
        services = services_of(request)
        actor = actor_of(request)
        return await once(
            request, key, lambda: services.daily_purchase(actor, account_id, amount, key)
        )

    outcome = await attempt(request, "sale.daily", f"account:{account_id}", work)
    return await vend_page(request, outcome, page, account_id=account_id)


# ---- JSON API ------------------------------------------------------------------------------


@routes.api(
    "POST",
    f"/api/v1/accounts/{ID}/purchase",
    name="api_daily_purchase",
    permission="sales.daily",
    feature="F3.1",
    summary="【日常购电（通讯）】 (exactly once per idempotency_key; a repeat returns the first "
    "result with repeated=true)",
    body=PURCHASE_BODY,
    responses=answers(obj({"sale": SALE_RESULT}), *SERVICE_ANSWERS),
)
async def api_daily_purchase(request: web.Request) -> web.StreamResponse:
    result = await api_purchase(
        request, lambda *sale: services_of(request).daily_purchase(actor_of(request), *sale)
    )
    return json_response({"sale": sale_json(result)})


@routes.api(
    "GET",
    f"/api/v1/accounts/{ID}/quote",
    name="api_quote",
    permission="sales.daily",
    feature="F3.1",
    summary="购电信息 preview: the energy an amount buys on an energy-wallet meter (nothing sold)",
    query=(QueryParam("amount", {"type": "string"}, "yuan", required=True),),
    responses=answers(QUOTE, 400, 404, 503),
)
async def api_quote(request: web.Request) -> web.StreamResponse:
    account_id = path_int(request)
    amount = Fields(request.query).yuan("amount")
    clock = services_of(request).clock
    found = await request.app[DATABASE].read(quote, account_id, amount, clock)
    return json_response(found.to_json())
