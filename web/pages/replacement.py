"""F4.1 用户换表: select the customer (and the new meter) →【读参数（通讯）】(the old meter: what it
still holds is the compensation) → 购电信息 →【换表购电（通讯）】/【换表购电（IC卡）】→【发票打印】.

A dead old meter cannot be read: the operator enters its remaining value by hand (recorded as
such on the replacement). The compensation is shown before the sale and on the result.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.services import Services
from gateway.services.actor import Actor
from gateway.services.vending import SaleResult
from gateway.store import meters
from gateway.store.meters import MeterFilter, MeterState
from gateway.store.paging import PageRequest
from web.forms import Fields
from web.keys import DATABASE
from web.once import api_key, form_key
from web.render import json_response
from web.routes import RouteTable
from web.schemas import AMOUNT_IN, IDEMPOTENCY_KEY, INTEGER, SALE_RESULT, answers, obj
from web.workflow import (
    actor_of,
    attempt,
    once,
    path_int,
    sale_json,
    services_of,
    vend_page,
    workflow_page,
)

from .customers import ID, SERVICE_ANSWERS
from .sales import read_parameters

routes = RouteTable()

REPLACE_STEPS = (
    "flow.select_customer_new_meter",
    "btn.read_params_comm",
    "flow.fill_purchase",
    "btn.replace_purchase_comm",
    "btn.print_receipt",
)
SPARE_ROWS = 100
REPLACE_BODY = obj(
    {
        "new_meter_id": INTEGER,
        "amount": AMOUNT_IN,
        "idempotency_key": IDEMPOTENCY_KEY,
        "compensation": AMOUNT_IN,
        "compensation_kwh": AMOUNT_IN,
    },
    required=("new_meter_id", "amount", "idempotency_key"),
    example={"new_meter_id": 1, "amount": "0", "idempotency_key": "example-replace-00000001"},
)


async def page(request: web.Request, **kw: Any) -> web.StreamResponse:
    spares = await request.app[DATABASE].read(
        meters.search,
        MeterFilter(state=MeterState.INSTALLED, without_open_account=True),
        PageRequest(limit=SPARE_ROWS),
    )
    return await workflow_page(
        request,
        "replacement.html",
        "menu.replace_meter",
        REPLACE_STEPS,
        spare_options=[(m.id, f"{m.address} · {m.type_name}") for m in spares.items],
        **kw,
    )


@routes.page(
    "GET", "/replacements/new", name="replace_meter", permission="sales.replace", feature="F4.1"
)
async def replace_page(request: web.Request) -> web.StreamResponse:
    return await page(request)


@routes.page(
    "POST",
    f"/replacements/{ID}/read",
    name="replace_read_params",
    permission="sales.replace",
    feature="F4.1",
)
async def replace_read(request: web.Request) -> web.StreamResponse:
    """【读参数（通讯）】 of the old meter: its remaining value becomes the compensation."""
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


async def _replace(
    services: Services, actor: Actor, account_id: int, fields: Fields, key: str
) -> SaleResult:
    new_meter = fields.required_int("new_meter_id", minimum=1)
    amount = fields.yuan("amount")
    manual = (
        fields.boolean("manual") or fields.has("compensation") or fields.has("compensation_kwh")
    )
    return await services.vending.replacement_purchase(
        actor,
        account_id,
        new_meter,
        amount,
        key,
        manual_compensation_fen=(fields.optional_yuan("compensation") or 0) if manual else None,
        manual_compensation_cwh=(
            fields.kwh("compensation_kwh") if manual and fields.has("compensation_kwh") else None
        ),
    )


@routes.page(
    "POST",
    f"/replacements/{ID}",
    name="replace_submit",
    permission="sales.replace",
    feature="F4.1",
)
async def replace_submit(request: web.Request) -> web.StreamResponse:
    """【换表购电（通讯）】: the old meter's value plus the purchase onto the new meter."""
    account_id = path_int(request)
    fields = await Fields.from_form(request)

    async def work() -> Any:
        key = form_key(fields)
        services = services_of(request)
        actor = actor_of(request)
        return await once(request, key, lambda: _replace(services, actor, account_id, fields, key))

    outcome = await attempt(request, "sale.replacement", f"account:{account_id}", work)
    return await vend_page(request, outcome, page, account_id=account_id)


@routes.api(
    "POST",
    f"/api/v1/accounts/{ID}/replacement",
    name="api_replacement",
    permission="sales.replace",
    feature="F4.1",
    summary="【换表购电（通讯）】 move the account to a new meter with the old one's value "
    "(read from it, or given as compensation when it is dead) plus a purchase",
    body=REPLACE_BODY,
    responses=answers(obj({"sale": SALE_RESULT}), *SERVICE_ANSWERS),
)
async def api_replacement(request: web.Request) -> web.StreamResponse:
    account_id = path_int(request)
    fields = await Fields.from_json(request)
    key = api_key(fields)
    services = services_of(request)
    actor = actor_of(request)
    result = await once(request, key, lambda: _replace(services, actor, account_id, fields, key))
    return json_response({"sale": sale_json(result)})
