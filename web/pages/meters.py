"""The meter registry (电表档案): every physical meter by its 12-digit address, in a box, of a type.

Not a function of its own in the manual (its desktop program reads meters into a box's list);
F2.1 "select meter" picks from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from gateway.store import meters, metertypes, network
from gateway.store.meters import Meter, MeterFilter, MeterSpec, MeterState
from gateway.store.paging import PageRequest
from web.audit import audited
from web.errors import Described
from web.forms import Fields
from web.keys import CONFIG, DATABASE, TEXTS, context
from web.pages.common import ErrorPage, page_number
from web.pages.crud import Api, Crud, api_routes, form_routes
from web.render import json_response, render
from web.routes import QueryParam, RouteTable
from web.schemas import INTEGER, STRING, answers, nullable, obj, page_of

routes = RouteTable()

STATES = [s.value for s in MeterState]
SCHEMA = obj(
    {
        "id": INTEGER,
        "address": {"type": "string", "pattern": r"^\d{12}$"},
        "meter_number": STRING,
        "box_id": nullable(INTEGER),
        "box_name": nullable(STRING),
        "line_name": nullable(STRING),
        "type_id": INTEGER,
        "type_name": STRING,
        "position": nullable(INTEGER),
        "state": {"enum": STATES},
        "note": STRING,
    }
)
BODY = obj(
    {
        "address": {"type": "string", "pattern": r"^\d{12}$"},
        "meter_number": STRING,
        "box_id": nullable(INTEGER),
        "type_id": INTEGER,
        "position": nullable(INTEGER),
        "state": {"enum": STATES},
        "note": STRING,
    },
    required=("address", "type_id"),
    example={"address": "999900000001", "type_id": 1},
)


def meter_json(m: Meter) -> dict[str, Any]:
    return {
        "id": m.id,
        "address": m.address,
        "meter_number": m.meter_number,
        "box_id": m.box_id,
        "box_name": m.box_name,
        "line_name": m.line_name,
        "type_id": m.type_id,
        "type_name": m.type_name,
        "position": m.position,
        "state": str(m.state),
        "note": m.note,
    }


def _spec(fields: Fields) -> MeterSpec:
    return MeterSpec(
        address=fields.text("address", required=True, max_len=12),
        type_id=fields.required_int("type_id", minimum=1),
        meter_number=fields.text("meter_number", max_len=32),
        box_id=fields.integer("box_id", required=False, minimum=1),
        position=fields.integer("position", required=False, minimum=0, maximum=9999),
        state=MeterState(fields.choice("state", STATES, default="installed")),
        note=fields.text("note", max_len=200),
    )


def _filter(request: web.Request) -> MeterFilter:
    query = Fields(request.query)
    state = query.text("state", max_len=16)
    return MeterFilter(
        box_id=query.integer("box_id", required=False, minimum=1),
        state=MeterState(state) if state in STATES else None,
        address_prefix=query.text("address", max_len=12) or None,
    )


async def _page(
    request: web.Request,
    error: Described | None = None,
    form: Mapping[str, Any] | None = None,
    status: int = 200,
) -> web.StreamResponse:
    db = request.app[DATABASE]
    flt = _filter(request)
    limit = request.app[CONFIG].page_size
    found = await db.read(meters.search, flt, PageRequest(page_number(request), limit, True))
    boxes = await db.read(network.list_boxes)
    types = await db.read(metertypes.list_all)
    edit_id = request.query.get("edit") or (form or {}).get("id")
    editing = None
    if edit_id and str(edit_id).isdigit():
        editing = next((m for m in found.items if m.id == int(edit_id)), None) or (
            await db.read(meters.get, int(edit_id))
        )
    values: Mapping[str, Any] = form or (meter_json(editing) if editing else {})
    query = {k: v for k, v in request.query.items() if k in ("address", "box_id", "state") and v}
    return render(
        request,
        "meters.html",
        status=status,
        title_key="menu.meters",
        page=found,
        editing=editing,
        form=values,
        error=error,
        adding=request.query.get("add") is not None or error is not None,
        box_options=[(b.id, f"{b.line_name} / {b.name}") for b in boxes],
        type_options=[(t.id, t.name) for t in types],
        state_options=[(s, _state_label(request, s)) for s in STATES],
        query=query,
        base_query=urlencode(query),
    )


async def _create(request: web.Request, fields: Fields) -> Meter:
    spec = _spec(fields)
    return await audited(
        request,
        "meter.create",
        lambda m: f"meter:{m.address}",
        lambda c: meters.create(c, spec),
        detail=_detail(spec),
    )


async def _update(request: web.Request, meter_id: int, fields: Fields) -> Meter:
    spec = _spec(fields)
    return await audited(
        request,
        "meter.update",
        f"meter:{spec.address}",
        lambda c: meters.update(c, meter_id, spec),
        detail=_detail(spec),
    )


def _detail(spec: MeterSpec) -> dict[str, Any]:
    data = asdict(spec)
    data["state"] = str(spec.state)
    return data


async def _delete(request: web.Request, meter_id: int) -> None:
    await audited(
        request, "meter.delete", f"meter:{meter_id}", lambda c: meters.delete(c, meter_id)
    )


def _state_label(request: web.Request, state: str) -> str:
    return request.app[TEXTS].text(context(request).lang, f"meter_state.{state}")


def _error(request: web.Request) -> ErrorPage:
    return lambda error, form: _page(request, error, form, 400)


@routes.page("GET", "/meters", name="meters", permission="network.manage")
async def page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


CRUD = Crud(
    name="meter",
    path="/meters",
    page="meters",
    permission="network.manage",
    create=_create,
    update=_update,
    delete=_delete,
    on_error=_error,
    schema=SCHEMA,
    to_json=meter_json,
    api_create=Api("Register a meter", (400, 409), BODY),
    api_update=Api("Change a meter's registration", (400, 404, 409), BODY),
    api_delete=Api("Delete a meter (refused once an account or sale refers to it)", (404, 409)),
)
form_routes(routes, CRUD)


@routes.api(
    "GET",
    "/api/v1/meters",
    name="api_meters",
    permission="network.manage",
    summary="Search the meter registry",
    query=(
        QueryParam("address", {"type": "string"}, "address prefix"),
        QueryParam("box_id", {"type": "integer"}),
        QueryParam("state", {"enum": STATES}),
        QueryParam("offset", {"type": "integer", "minimum": 0}),
    ),
    responses=answers(page_of(SCHEMA), 400),
)
async def api_list(request: web.Request) -> web.StreamResponse:
    limit = request.app[CONFIG].page_size
    found = await request.app[DATABASE].read(
        meters.search, _filter(request), PageRequest(page_number(request), limit, True)
    )
    return json_response(
        {
            "items": [meter_json(m) for m in found.items],
            "offset": found.offset,
            "limit": found.limit,
            "has_more": found.has_more,
            "total": found.total,
        }
    )


api_routes(routes, CRUD)
