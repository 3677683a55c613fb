"""F3.3 销户退费: 1) select the customer →【读参数（通讯）】→【退费销户（通讯）】→【发票打印】;
2) →【读用户卡（IC卡）】→【制作退费卡（IC卡）】→ card into the meter →【退费销户清卡】→【发票打印】.

The refund is exactly once per form (nonce): the meter is cleared and read back before the
ledger pays out; a meter that cannot be cleared closes nothing.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from web.forms import Fields
from web.once import api_key, form_key
from web.render import json_response
from web.routes import RouteTable
from web.schemas import AMOUNT_IN, IDEMPOTENCY_KEY, REFUND_RESULT, answers, obj
from web.workflow import (
    actor_of,
    attempt,
    once,
    path_int,
    refund_json,
    services_of,
    vend_page,
    workflow_page,
)

from .customers import ID, SERVICE_ANSWERS
from .sales import read_parameters

routes = RouteTable()

REFUND_STEPS = (
    "flow.select_customer",
    "btn.read_params_comm",
    "btn.refund_close_comm",
    "btn.print_receipt",
)
REFUND_BODY = obj(
    {"idempotency_key": IDEMPOTENCY_KEY, "fee": AMOUNT_IN},
    required=("idempotency_key",),
    example={"idempotency_key": "example-refund-000000001"},
)


async def page(request: web.Request, **kw: Any) -> web.StreamResponse:
    return await workflow_page(request, "refund.html", "menu.refund_close", REFUND_STEPS, **kw)


@routes.page("GET", "/refunds", name="refund_close", permission="sales.refund", feature="F3.3")
async def refund_page(request: web.Request) -> web.StreamResponse:
    return await page(request)


@routes.page(
    "POST",
    f"/refunds/{ID}/read",
    name="refund_read_params",
    permission="sales.refund",
    feature="F3.3",
)
async def refund_read(request: web.Request) -> web.StreamResponse:
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
    "POST", f"/refunds/{ID}", name="refund_submit", permission="sales.refund", feature="F3.3"
)
async def refund_submit(request: web.Request) -> web.StreamResponse:
    """【退费销户（通讯）】: clear the meter, pay out what it held, close the account."""
    account_id = path_int(request)
    fields = await Fields.from_form(request)

    async def work() -> Any:
        fee = fields.optional_yuan("fee") or 0
        key = form_key(fields)
        services = services_of(request)
        actor = actor_of(request)
        return await once(
            request,
            key,
            lambda: services.refunds.refund_and_close(actor, account_id, key, fee_fen=fee),
        )

    outcome = await attempt(request, "refund.close", f"account:{account_id}", work)
    return await vend_page(request, outcome, page, account_id=account_id, open_only=False)


@routes.api(
    "POST",
    f"/api/v1/accounts/{ID}/refund",
    name="api_refund",
    permission="sales.refund",
    feature="F3.3",
    summary="【退费销户（通讯）】 clear the meter, refund what it held, close (once per key)",
    body=REFUND_BODY,
    responses=answers(obj({"refund": REFUND_RESULT}), *SERVICE_ANSWERS),
)
async def api_refund(request: web.Request) -> web.StreamResponse:
    account_id = path_int(request)
    fields = await Fields.from_json(request)
    fee = fields.optional_yuan("fee") or 0
    key = api_key(fields)
    services = services_of(request)
    actor = actor_of(request)
    result = await once(
        request, key, lambda: services.refunds.refund_and_close(actor, account_id, key, fee_fen=fee)
    )
    return json_response({"refund": refund_json(result)})
