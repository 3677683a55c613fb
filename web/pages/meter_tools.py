"""F7.1-F7.4 附加工具功能 over RS485 (the card variants are in web.pages.card_tools), and the
relay and reset actions of the customer page (F2.5-F2.7).

- F7.1 电表复位: the address →【复位（RS485）】(only for opened meters, never through a remote
  module: the service refuses with E003) or【复位卡（IC卡）】.
- F7.2 用户设置: alarm amounts, limits →【设置卡（IC卡）】.
- F7.3 用户查询: the address →【查询（RS485）】(the meter's registers) or【查询卡（IC卡）】→ card
  into the meter →【读电卡（IC卡）】.
- F7.4 继电器拉合闸: the address →【强制拉合闸（RS485）】or【强制拉合闸卡（IC卡）】.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from gateway.services.meter_ops import MeterParameters
from gateway.store import meters
from gateway.store.meters import Meter
from web.errors import Described
from web.forms import Fields
from web.keys import DATABASE, context
from web.once import new_nonce
from web.render import flash, json_response, render
from web.routes import RouteTable
from web.schemas import BOOLEAN, METER_PARAMETERS, OK, STRING, answers, obj
from web.workflow import (
    actor_of,
    attempt,
    flash_error,
    meter_by_address,
    params_json,
    path_int,
    safe_back,
    services_of,
    t,
)

from .customers import ID, SERVICE_ANSWERS

routes = RouteTable()

TOOLS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # tool → (title key, feature, the manual's sequence)
    "reset": ("menu.tool_meter_reset", "F7.1", ("flow.enter_address_card", "btn.reset_card")),
    "settings": ("menu.tool_settings_card", "F7.2", ("flow.set_parameters", "btn.settings_card")),
    "query": (
        "menu.tool_query",
        "F7.3",
        ("flow.set_parameters", "btn.query_card", "tool.card_to_meter", "btn.read_card"),
    ),
    "relay": ("menu.tool_relay", "F7.4", ("flow.enter_address_card", "btn.relay_card")),
}


async def tool_page(
    request: web.Request,
    tool: str,
    *,
    form: Mapping[str, Any] | None = None,
    error: Described | None = None,
    params: MeterParameters | None = None,
    done: str = "",
    card: Any = None,
    status: int = 200,
) -> web.StreamResponse:
    title, feature, steps = TOOLS[tool]
    return render(
        request,
        "meter_tool.html",
        status=status,
        title_key=title,
        feature=feature,
        tool=tool,
        steps=steps,
        form=dict(form or {}),
        error=error,
        params=params,
        done=done,
        card=card,
        nonce=new_nonce(),
        can=context(request).can,
        frames=True,
    )


async def _meter(request: web.Request, fields: Fields) -> Meter:
    address = fields.text("address", required=True, max_len=12)
    return await request.app[DATABASE].read(meter_by_address, address)


def _tool_get(tool: str, name: str, path: str, permission: str) -> None:
    async def show(request: web.Request) -> web.StreamResponse:
        return await tool_page(request, tool, form=dict(request.query))

    routes.page("GET", path, name=name, permission=permission, feature=TOOLS[tool][1])(show)


_tool_get("reset", "tool_meter_reset", "/tools/reset", "meters.reset")
_tool_get("settings", "tool_settings_card", "/tools/settings-card", "tools.cards")
_tool_get("query", "tool_query", "/tools/query", "tools.cards")
_tool_get("relay", "tool_relay", "/tools/relay", "relay.control")


@routes.page(
    "POST", "/tools/reset", name="tool_reset_rs485", permission="meters.reset", feature="F7.1"
)
async def reset_rs485(request: web.Request) -> web.StreamResponse:
    """【复位（RS485）】."""
    fields = await Fields.from_form(request)
    form = dict(await request.post())

    async def work() -> str:
        meter = await _meter(request, fields)
        await services_of(request).meter_ops.reset_and_clear(actor_of(request), meter.id)
        return meter.address

    outcome = await attempt(
        request, "meter.reset", "meter:" + str(fields.raw("address") or ""), work
    )
    done = t(request, "tool.reset_done", address=outcome.value) if outcome.ok else ""
    return await tool_page(
        request, "reset", form=form, error=outcome.error, done=done, status=outcome.status
    )


@routes.page(
    "POST", "/tools/query", name="tool_query_rs485", permission="tools.cards", feature="F7.3"
)
async def query_rs485(request: web.Request) -> web.StreamResponse:
    """【查询（RS485）】: the meter's registers, read one by one."""
    fields = await Fields.from_form(request)
    form = dict(await request.post())

    async def work() -> MeterParameters:
        meter = await _meter(request, fields)
        return await services_of(request).meter_ops.read_parameters(actor_of(request), meter.id)

    outcome = await attempt(
        request, "meter.read_parameters", "meter:" + str(fields.raw("address") or ""), work
    )
    return await tool_page(
        request,
        "query",
        form=form,
        error=outcome.error,
        params=outcome.value,
        status=outcome.status,
    )


@routes.page(
    "POST", "/tools/relay", name="tool_relay_rs485", permission="relay.control", feature="F7.4"
)
async def relay_rs485(request: web.Request) -> web.StreamResponse:
    """【强制拉合闸（RS485）】: trip or close, with status word 3 read back."""
    fields = await Fields.from_form(request)
    form = dict(await request.post())

    async def work() -> str:
        meter = await _meter(request, fields)
        on = fields.choice("action", ("on", "off")) == "on"
        state = await services_of(request).meter_ops.force_power(actor_of(request), meter.id, on=on)
        return t(request, "tool.relay_on_done" if on else "tool.relay_off_done",
                 address=meter.address, state=state)  # fmt: skip

    outcome = await attempt(
        request, "relay.force", "meter:" + str(fields.raw("address") or ""), work
    )
    return await tool_page(
        request,
        "relay",
        form=form,
        error=outcome.error,
        done=outcome.value or "",
        status=outcome.status,
    )


# ---- the customer page's meter buttons (F2.5 强制用电, F2.6 强制停电, F2.7 复位清零) ---------


@routes.page(
    "POST", f"/meters/{ID}/relay", name="meter_relay", permission="relay.control", feature="F2.5"
)
async def meter_relay(request: web.Request) -> web.StreamResponse:
    meter_id = path_int(request)
    fields = await Fields.from_form(request)

    async def work() -> str:
        on = fields.choice("action", ("on", "off")) == "on"
        meter = await request.app[DATABASE].read(meters.get, meter_id)
        state = await services_of(request).meter_ops.force_power(actor_of(request), meter_id, on=on)
        return t(request, "tool.relay_on_done" if on else "tool.relay_off_done",
                 address=meter.address, state=state)  # fmt: skip

    outcome = await attempt(request, "relay.force", f"meter:{meter_id}", work)
    if outcome.error is not None:
        flash_error(request, outcome.error)
    else:
        flash(request, "ok", outcome.value)
    raise web.HTTPSeeOther(location=safe_back(fields.text("back", max_len=300), "/"))


@routes.page(
    "POST", f"/meters/{ID}/reset", name="meter_reset", permission="meters.reset", feature="F2.7"
)
async def meter_reset(request: web.Request) -> web.StreamResponse:
    meter_id = path_int(request)
    fields = await Fields.from_form(request)

    async def work() -> str:
        meter = await request.app[DATABASE].read(meters.get, meter_id)
        await services_of(request).meter_ops.reset_and_clear(actor_of(request), meter_id)
        return meter.address

    outcome = await attempt(request, "meter.reset", f"meter:{meter_id}", work)
    if outcome.error is not None:
        flash_error(request, outcome.error)
    else:
        flash(request, "ok", t(request, "tool.reset_done", address=outcome.value))
    raise web.HTTPSeeOther(location=safe_back(fields.text("back", max_len=300), "/"))


# ---- JSON API ------------------------------------------------------------------------------


@routes.api(
    "POST",
    f"/api/v1/meters/{ID}/read-parameters",
    name="api_read_parameters",
    permission="cards.read",
    feature="F3.2",
    summary="【读参数（通讯）】 the meter's registers (each read separately)",
    responses=answers(METER_PARAMETERS, *SERVICE_ANSWERS),
)
async def api_read_parameters(request: web.Request) -> web.StreamResponse:
    params = await services_of(request).meter_ops.read_parameters(
        actor_of(request), path_int(request)
    )
    return json_response(params_json(params))


@routes.api(
    "POST",
    f"/api/v1/meters/{ID}/verify-address",
    name="api_verify_address",
    permission="customers.manage",
    feature="F2.1",
    summary="【读表地址】 does a meter answer at this address",
    responses=answers(obj({"answers": BOOLEAN}), *SERVICE_ANSWERS),
)
async def api_verify_address(request: web.Request) -> web.StreamResponse:
    found = await services_of(request).meter_ops.verify_address(
        actor_of(request), path_int(request)
    )
    return json_response({"answers": bool(found)})


@routes.api(
    "POST",
    f"/api/v1/meters/{ID}/relay",
    name="api_relay",
    permission="relay.control",
    feature="F7.4",
    summary="【强制用电】 (on: true) / 【强制停电】 (on: false), with the relay state read back",
    body=obj({"on": BOOLEAN}, example={"on": True}),
    responses=answers(obj({"state": STRING}), *SERVICE_ANSWERS),
)
async def api_relay(request: web.Request) -> web.StreamResponse:
    fields = await Fields.from_json(request)
    state = await services_of(request).meter_ops.force_power(
        actor_of(request), path_int(request), on=fields.boolean("on")
    )
    return json_response({"state": state})


@routes.api(
    "POST",
    f"/api/v1/meters/{ID}/reset",
    name="api_meter_reset",
    permission="meters.reset",
    feature="F7.1",
    summary="【复位清零】/【复位（RS485）】 the meter clears its prepaid state",
    responses=answers(OK, *SERVICE_ANSWERS),
)
async def api_meter_reset(request: web.Request) -> web.StreamResponse:
    await services_of(request).meter_ops.reset_and_clear(actor_of(request), path_int(request))
    return json_response({"ok": True})
