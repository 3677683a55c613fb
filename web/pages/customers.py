"""F2.1-F2.7 开户购电/用户维护, and the customer page.

The manual's sequence: select the meter → fill in the customer → 【读表地址】 (does the meter
answer at that address?) → 【用户信息保存】 (customer and account) →
【开户购电（通讯）】/【开户购电（IC卡）】 → 【发票打印】.
The customer page carries the rest of F2: 用户信息维护, 补用户卡, 注销用户,
强制用电 / 强制停电 (also F7.4) and 复位清零, with the balance, relay state,
recent sales and the consumption and balance charts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from gateway.services.customers import SavedCustomer
from gateway.store import customers, ledger, meters, readings, tariffs
from gateway.store.conn import Conn
from gateway.store.customers import AccountLimits, Customer, CustomerSpec
from gateway.store.meters import MeterFilter, MeterState
from gateway.store.paging import PageRequest
from web import charts, formatting
from web.errors import Described
from web.forms import Fields
from web.keys import CLOCK, DATABASE, SERVICES, context
from web.once import form_key, new_nonce
from web.render import flash_key, json_response, redirect, render
from web.routes import SIGNED_IN, RouteTable
from web.schemas import (
    ACCOUNT,
    AMOUNT_IN,
    IDEMPOTENCY_KEY,
    INTEGER,
    OK,
    SALE_RESULT,
    STRING,
    answers,
    nullable,
    obj,
)
from web.workflow import (
    AccountView,
    Outcome,
    account_json,
    account_view,
    actor_of,
    api_purchase,
    attempt,
    once,
    path_int,
    sale_json,
    services_of,
    t,
)

routes = RouteTable()

ID = r"{id:\d+}"
METER_ROWS = 30
CHART_DAYS = 30
# What the service answers when it is not connected, refuses, cannot reach the meter, ...
SERVICE_ANSWERS = (400, 404, 409, 502, 503)

OPEN_STEPS = (
    "flow.select_meter",
    "flow.fill_customer",
    "btn.read_address",
    "btn.save_customer",
    "btn.open_purchase_comm",
    "btn.print_receipt",
)

CUSTOMER_BODY = obj(
    {
        "number": STRING,
        "name": STRING,
        "phone": STRING,
        "address": STRING,
        "id_number": STRING,
        "note": STRING,
        "meter_id": nullable(INTEGER),
        "price_type_id": nullable(INTEGER),
        "alarm1": nullable(AMOUNT_IN),
        "alarm2": nullable(AMOUNT_IN),
        "overdraft_limit": nullable(AMOUNT_IN),
        "hoarding_limit": nullable(AMOUNT_IN),
    },
    required=("number", "name"),
    example={"number": "900001", "name": "API customer"},
)
SAVED = obj({"customer_id": INTEGER, "account_id": nullable(INTEGER)})
PURCHASE_BODY = obj(
    {"amount": AMOUNT_IN, "idempotency_key": IDEMPOTENCY_KEY},
    example={"amount": "10.00", "idempotency_key": "example-key-0000000001"},
)


# ---- reading the form ----------------------------------------------------------------------


def _spec(fields: Fields) -> CustomerSpec:
    return CustomerSpec(
        number=fields.text("number", required=True, max_len=32),
        name=fields.text("name", required=True, max_len=64),
        phone=fields.text("phone", max_len=32),
        address=fields.text("address", max_len=200),
        id_number=fields.text("id_number", max_len=32),
        note=fields.text("note", max_len=200),
    )


def _limits(fields: Fields) -> AccountLimits:
    return AccountLimits(
        alarm1_fen=fields.optional_yuan("alarm1"),
        alarm2_fen=fields.optional_yuan("alarm2"),
        overdraft_limit_fen=fields.optional_yuan("overdraft_limit"),
        hoarding_limit_fen=fields.optional_yuan("hoarding_limit"),
    )


async def _save(
    request: web.Request, fields: Fields, customer_id: int | None = None
) -> SavedCustomer:
    services = services_of(request)
    meter_id = fields.integer("meter_id", required=False, minimum=1)
    return await services.customers.save(
        actor_of(request),
        _spec(fields),
        customer_id=customer_id,
        meter_id=meter_id,
        price_type_id=fields.integer("price_type_id", required=False, minimum=1),
        limits=_limits(fields) if meter_id is not None else None,
        keep_power=fields.boolean("keep_power"),
    )


# ---- F2.1 select the meter, fill in the customer, read the address, save --------------------


def _customer_form(customer: Customer) -> dict[str, Any]:
    return {
        "number": customer.number,
        "name": customer.name,
        "phone": customer.phone,
        "address": customer.address,
        "id_number": customer.id_number,
        "note": customer.note,
    }


async def _open_page(
    request: web.Request,
    *,
    form: Mapping[str, Any] | None = None,
    error: Described | None = None,
    verified: bool | None = None,
    status: int = 200,
) -> web.StreamResponse:
    db = request.app[DATABASE]
    query = Fields(request.query)
    values: dict[str, Any] = dict(form or {})
    meter_text = query.text("meter_q", max_len=12)
    meter_id = query.integer("meter", required=False, minimum=1) or (
        int(values["meter_id"]) if str(values.get("meter_id", "")).isdigit() else None
    )
    customer_id = query.integer("customer", required=False, minimum=1)
    free = await db.read(
        meters.search,
        MeterFilter(
            state=MeterState.INSTALLED, address_prefix=meter_text or None, without_open_account=True
        ),
        PageRequest(limit=METER_ROWS),
    )
    chosen = await db.read(meters.get, meter_id) if meter_id else None
    existing = await db.read(customers.get_customer, customer_id) if customer_id else None
    if existing is not None and not values:
        values = _customer_form(existing)
    price_types = await db.read(tariffs.list_types)
    now = 0 if chosen is None else (1 if verified is None else 3)
    return render(
        request,
        "customer_open.html",
        status=status,
        title_key="menu.customer_open",
        steps=OPEN_STEPS,
        step=now,
        meters=free.items,
        more_meters=free.has_more,
        meter_q=meter_text,
        chosen=chosen,
        existing=existing,
        form=values,
        error=error,
        verified=verified,
        price_options=[(p.id, p.name) for p in price_types],
        frames=True,
    )


@routes.page(
    "GET", "/customers/open", name="customer_open", permission="customers.manage", feature="F2.1"
)
async def open_page(request: web.Request) -> web.StreamResponse:
    return await _open_page(request)


@routes.page(
    "POST",
    "/customers/open/verify",
    name="customer_verify_address",
    permission="customers.manage",
    feature="F2.1",
)
async def verify_address(request: web.Request) -> web.StreamResponse:
    """【读表地址】: ask the chosen meter for its address before saving the customer on it."""
    fields = await Fields.from_form(request)
    form = dict(await request.post())

    async def work() -> bool:
        meter_id = fields.required_int("meter_id", minimum=1)
        return await services_of(request).meter_ops.verify_address(actor_of(request), meter_id)

    outcome = await attempt(
        request, "meter.verify_address", "meter:" + str(fields.raw("meter_id") or ""), work
    )
    return await _open_page(
        request,
        form=form,
        error=outcome.error,
        verified=bool(outcome.value) if outcome.ok else False,
        status=outcome.status,
    )


@routes.page(
    "POST", "/customers/open", name="customer_save", permission="customers.manage", feature="F2.1"
)
async def save(request: web.Request) -> web.StreamResponse:
    """【用户信息保存】: the customer, and the account on the chosen meter."""
    fields = await Fields.from_form(request)
    form = dict(await request.post())
    existing = fields.integer("customer_id", required=False, minimum=1)
    outcome = await attempt(
        request, "customer.save", "customer:" + str(fields.raw("number") or ""),
        lambda: _save(request, fields, existing),
    )  # fmt: skip
    if not outcome.ok:
        return await _open_page(request, form=form, error=outcome.error, status=outcome.status)
    saved: SavedCustomer = outcome.value
    flash_key(request, "customer.saved", number=saved.customer.number)
    raise redirect(request, "customer_page", id=saved.customer.id)


# ---- the customer page ---------------------------------------------------------------------


def _day_number(day: dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def _charts(
    c: Conn, view: AccountView, today: dt.date
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Daily consumption, and the balance at the end of each day, for the last days."""
    first = today - dt.timedelta(days=CHART_DAYS - 1)
    rollups = {
        r.period: r for r in readings.days(c, view.meter.id, _day_number(first), _day_number(today))
    }
    days = [first + dt.timedelta(days=i) for i in range(CHART_DAYS)]
    use = [(d.strftime("%m-%d"), rollups[n].used_cwh if (n := _day_number(d)) in rollups else 0)
           for d in days]  # fmt: skip
    balance: list[tuple[str, int]] = []
    if view.gateway_wallet:
        # The gateway holds the money: the ledger's running balance at each day's end.
        running, by_day = 0, {}
        for entry in ledger.for_account(c, view.account.id):
            running += entry.amount_fen
            by_day[formatting.local_time(entry.created_at)[:10]] = running
        ordered, index, last = sorted(by_day.items()), 0, 0
        for day in days:
            while index < len(ordered) and ordered[index][0] <= day.isoformat():
                last = ordered[index][1]
                index += 1
            balance.append((day.strftime("%m-%d"), max(last, 0)))
    else:
        # The meter holds it: what the poller last read each day.
        last = 0
        for day in days:
            found = rollups.get(_day_number(day))
            if found is not None and found.remaining_last is not None:
                last = found.remaining_last
            balance.append((day.strftime("%m-%d"), last))
    return use, balance


async def _customer_page(
    request: web.Request,
    customer_id: int,
    *,
    error: Described | None = None,
    vend_id: int | None = None,
    form: Mapping[str, Any] | None = None,
    status: int = 200,
) -> web.StreamResponse:
    db = request.app[DATABASE]
    customer = await db.read(customers.get_customer, customer_id)
    history = await db.read(customers.accounts_of, customer_id)
    view = None
    use: list[tuple[str, int]] = []
    balance: list[tuple[str, int]] = []
    if customer.current_account_id is not None:
        view = await db.read(account_view, customer.current_account_id)
        today = _local_today(request)
        use, balance = await db.read(_charts, view, today)
    ctx = context(request)
    energy_unit = view is not None and view.energy_wallet and not view.gateway_wallet
    return render(
        request,
        "customer.html",
        status=status,
        title_key="customer.title",
        customer=customer,
        view=view,
        history=history,
        error=error,
        vend_id=vend_id,
        form=dict(form or {}),
        edit=_customer_form(customer),
        nonce=new_nonce(),
        use_chart=charts.bar_chart(
            use, label=formatting.kwh, title=t(request, "customer.chart_use"), height=200
        ) if any(v for _, v in use) else None,
        balance_chart=charts.line_chart(
            balance,
            label=formatting.kwh if energy_unit else formatting.yuan,
            title=t(request, "customer.chart_balance"),
            height=200,
        ) if any(v for _, v in balance) else None,
        balance_unit="kWh" if energy_unit else t(request, "unit.yuan"),
        can=ctx.can,
        frames=True,
    )  # fmt: skip


def _local_today(request: web.Request) -> dt.date:
    services = request.app[SERVICES]
    clock = getattr(services, "clock", None)
    if clock is not None:
        local: dt.datetime = clock.local_now()
        return local.date()
    return request.app[CLOCK]().astimezone().date()


@routes.page("GET", f"/customers/{ID}", name="customer_page", permission=SIGNED_IN, feature="F2.3")
async def customer_page(request: web.Request) -> web.StreamResponse:
    """Every operator who sells to the customer sees them; each button needs its own
    permission (shown only to those who have it, checked again by the server)."""
    return await _customer_page(request, path_int(request))


@routes.page(
    "POST",
    f"/customers/{ID}",
    name="customer_update",
    permission="customers.manage",
    feature="F2.3",
)
async def customer_update(request: web.Request) -> web.StreamResponse:
    """用户信息维护: change the details →【用户信息保存】."""
    customer_id = path_int(request)
    fields = await Fields.from_form(request)
    outcome = await attempt(
        request, "customer.update", f"customer:{customer_id}",
        lambda: _save(request, fields, customer_id),
    )  # fmt: skip
    if not outcome.ok:
        return await _customer_page(
            request,
            customer_id,
            error=outcome.error,
            form=dict(await request.post()),
            status=outcome.status,
        )
    flash_key(request, "common.saved")
    raise redirect(request, "customer_page", id=customer_id)


async def customer_page_for(
    request: web.Request, customer_id: int, outcome: Outcome, form: Mapping[str, Any]
) -> web.StreamResponse:
    """The customer page again after one of its actions (the card buttons), with its error."""
    return await _customer_page(
        request,
        customer_id,
        error=outcome.error,
        vend_id=outcome.vend_id,
        form=form,
        status=outcome.status,
    )


async def _customer_of(request: web.Request, account_id: int) -> int:
    account = await request.app[DATABASE].read(customers.get_account, account_id)
    return account.customer_id


@routes.page(
    "POST",
    f"/accounts/{ID}/open-purchase",
    name="account_open_purchase",
    permission="sales.open",
    feature="F2.1",
)
async def open_purchase(request: web.Request) -> web.StreamResponse:
    """【开户购电（通讯）】: the first purchase, written to the new meter over RS485."""
    account_id = path_int(request)
    fields = await Fields.from_form(request)

    async def work() -> Any:
        amount = fields.yuan("amount")
        key = form_key(fields)
        services = services_of(request)
        actor = actor_of(request)
        return await once(
            request, key, lambda: services.open_purchase(actor, account_id, amount, key)
        )

    outcome = await attempt(request, "sale.open", f"account:{account_id}", work)
    return await _after_sale(request, account_id, outcome)


async def _after_sale(
    request: web.Request, account_id: int, outcome: Outcome
) -> web.StreamResponse:
    if outcome.ok:
        raise redirect(request, "vend_result", id=outcome.value.vend_id)
    customer_id = await _customer_of(request, account_id)
    return await _customer_page(
        request,
        customer_id,
        error=outcome.error,
        vend_id=outcome.vend_id,
        form=dict(await request.post()),
        status=outcome.status,
    )


@routes.page(
    "POST",
    f"/accounts/{ID}/deregister",
    name="account_deregister",
    permission="customers.manage",
    feature="F2.4",
)
async def deregister(request: web.Request) -> web.StreamResponse:
    """【注销用户】: close the account without a refund (F3.3 is the refund path)."""
    account_id = path_int(request)
    fields = await Fields.from_form(request)

    async def work() -> Any:
        reason = fields.text("reason", max_len=200)
        return await services_of(request).customers.deregister(
            actor_of(request), account_id, reason=reason
        )

    outcome = await attempt(request, "customer.deregister", f"account:{account_id}", work)
    customer_id = await _customer_of(request, account_id)
    if not outcome.ok:
        return await _customer_page(
            request, customer_id, error=outcome.error, status=outcome.status
        )
    flash_key(request, "customer.deregistered")
    raise redirect(request, "customer_page", id=customer_id)


# ---- JSON API ------------------------------------------------------------------------------


@routes.api(
    "POST",
    "/api/v1/customers",
    name="api_customer_save",
    permission="customers.manage",
    feature="F2.1",
    summary="【用户信息保存】 a new customer; with meter_id and price_type_id, open the account",
    body=CUSTOMER_BODY,
    responses=answers(SAVED, *SERVICE_ANSWERS, ok_status=201),
)
async def api_save(request: web.Request) -> web.StreamResponse:
    saved = await _save(request, await Fields.from_json(request))
    account_id = saved.account.id if saved.account is not None else None
    return json_response({"customer_id": saved.customer.id, "account_id": account_id}, status=201)


@routes.api(
    "PUT",
    f"/api/v1/customers/{ID}",
    name="api_customer_update",
    permission="customers.manage",
    feature="F2.3",
    summary="用户信息维护: change a customer's details",
    body=CUSTOMER_BODY,
    responses=answers(SAVED, *SERVICE_ANSWERS),
)
async def api_update(request: web.Request) -> web.StreamResponse:
    saved = await _save(request, await Fields.from_json(request), path_int(request))
    account_id = saved.account.id if saved.account is not None else None
    return json_response({"customer_id": saved.customer.id, "account_id": account_id})


@routes.api(
    "GET",
    f"/api/v1/accounts/{ID}",
    name="api_account",
    permission="queries.view",
    feature="F2.8",
    summary="One account: customer, meter, ledger balance, what the poller last saw",
    responses=answers(ACCOUNT, 404),
)
async def api_account(request: web.Request) -> web.StreamResponse:
    view = await request.app[DATABASE].read(account_view, path_int(request))
    return json_response(account_json(view))


@routes.api(
    "POST",
    f"/api/v1/accounts/{ID}/open-purchase",
    name="api_open_purchase",
    permission="sales.open",
    feature="F2.1",
    summary="【开户购电（通讯）】 the first purchase on a new meter (exactly once per key)",
    body=PURCHASE_BODY,
    responses=answers(obj({"sale": SALE_RESULT}), *SERVICE_ANSWERS),
)
async def api_open_purchase(request: web.Request) -> web.StreamResponse:
    result = await api_purchase(
        request, lambda *sale: services_of(request).open_purchase(actor_of(request), *sale)
    )
    return json_response({"sale": sale_json(result)})


@routes.api(
    "POST",
    f"/api/v1/accounts/{ID}/deregister",
    name="api_deregister",
    permission="customers.manage",
    feature="F2.4",
    summary="【注销用户】 close the account without a refund",
    body=obj({"reason": STRING}, required=(), example={"reason": "moved away"}),
    responses=answers(OK, *SERVICE_ANSWERS),
)
async def api_deregister(request: web.Request) -> web.StreamResponse:
    fields = await Fields.from_json(request)
    await services_of(request).customers.deregister(
        actor_of(request), path_int(request), reason=fields.text("reason", max_len=200)
    )
    return json_response({"ok": True})
