"""Lines (F1.2) and meter boxes / cabinets (F1.3).

The manual's sequences: 【添加】→ parameters →【确定】; select →【删除】.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from aiohttp import web

from gateway.store import network
from gateway.store.network import BAUD_RATES, BoxSpec, CommMode
from web.audit import audited
from web.errors import Described
from web.forms import Fields
from web.keys import DATABASE
from web.pages.common import ErrorPage
from web.pages.crud import Api, Crud, api_routes, form_routes
from web.render import json_response, render
from web.routes import RouteTable
from web.schemas import INTEGER, STRING, answers, array, obj

routes = RouteTable()

LINE_SCHEMA = obj({"id": INTEGER, "name": STRING, "description": STRING, "created_at": STRING})
LINE_BODY = obj(
    {"name": STRING, "description": STRING},
    required=("name",),
    example={"name": "API example line", "description": "from the OpenAPI example"},
)
COMM_MODES = [m.value for m in CommMode]
BOX_SCHEMA = obj(
    {
        "id": INTEGER,
        "line_id": INTEGER,
        "line_name": STRING,
        "name": STRING,
        "meter_count": INTEGER,
        "comm_mode": {"enum": COMM_MODES},
        "bus": STRING,
        "baud": INTEGER,
        "parity": {"enum": ["N", "E", "O"]},
        "description": STRING,
        "created_at": STRING,
    }
)
BOX_BODY = obj(
    {
        "line_id": INTEGER,
        "name": STRING,
        "meter_count": INTEGER,
        "comm_mode": {"enum": COMM_MODES},
        "bus": STRING,
        "baud": {"enum": list(BAUD_RATES)},
        "parity": {"enum": ["N", "E", "O"]},
        "description": STRING,
    },
    required=("line_id", "name", "comm_mode"),
    example={"line_id": 1, "name": "API example box", "comm_mode": "rs485", "bus": "rs485-1"},
)
PARITIES = ("N", "E", "O")


def line_json(line: network.Line) -> dict[str, Any]:
    return asdict(line)


def box_json(box: network.Box) -> dict[str, Any]:
    data = asdict(box)
    data["comm_mode"] = str(box.comm_mode)
    return data


# ---- lines (F1.2) ---------------------------------------------------------------------------


def _line_fields(fields: Fields) -> tuple[str, str]:
    return fields.text("name", required=True, max_len=64), fields.text("description", max_len=200)


async def _lines_page(
    request: web.Request,
    error: Described | None = None,
    form: Mapping[str, Any] | None = None,
    status: int = 200,
) -> web.StreamResponse:
    lines = await request.app[DATABASE].read(network.list_lines)
    edit_id = request.query.get("edit") or (form or {}).get("id")
    editing = next((ln for ln in lines if str(ln.id) == str(edit_id)), None)
    values: Mapping[str, Any] = form or (line_json(editing) if editing else {})
    return render(
        request,
        "lines.html",
        status=status,
        title_key="menu.lines",
        lines=lines,
        editing=editing,
        form=values,
        error=error,
        adding=request.query.get("add") is not None or error is not None,
    )


@routes.page("GET", "/lines", name="lines", permission="network.manage", feature="F1.2")
async def lines_page(request: web.Request) -> web.StreamResponse:
    return await _lines_page(request)


async def _create_line(request: web.Request, fields: Fields) -> network.Line:
    name, description = _line_fields(fields)
    return await audited(
        request,
        "line.create",
        lambda line: f"line:{line.id}",
        lambda c: network.create_line(c, name, description),
        detail={"name": name},
    )


async def _update_line(request: web.Request, line_id: int, fields: Fields) -> network.Line:
    name, description = _line_fields(fields)
    return await audited(
        request,
        "line.update",
        f"line:{line_id}",
        lambda c: network.update_line(c, line_id, name, description),
        detail={"name": name},
    )


async def _delete_line(request: web.Request, line_id: int) -> None:
    await audited(
        request, "line.delete", f"line:{line_id}", lambda c: network.delete_line(c, line_id)
    )


def _lines_error(request: web.Request) -> ErrorPage:
    return lambda error, form: _lines_page(request, error, form, 400)


LINES = Crud(
    name="line",
    path="/lines",
    page="lines",
    permission="network.manage",
    feature="F1.2",
    create=_create_line,
    update=_update_line,
    delete=_delete_line,
    on_error=_lines_error,
    schema=LINE_SCHEMA,
    to_json=line_json,
    api_create=Api("Add a line", (400, 409), LINE_BODY),
    api_update=Api("Change a line", (400, 404, 409), LINE_BODY),
    api_delete=Api("Delete a line (refused while boxes remain on it)", (404, 409)),
)
form_routes(routes, LINES)


@routes.api(
    "GET",
    "/api/v1/lines",
    name="api_lines",
    permission="network.manage",
    feature="F1.2",
    summary="List lines",
    responses=answers(array(LINE_SCHEMA)),
)
async def api_lines(request: web.Request) -> web.StreamResponse:
    lines = await request.app[DATABASE].read(network.list_lines)
    return json_response([line_json(line) for line in lines])


api_routes(routes, LINES)


# ---- boxes (F1.3) ---------------------------------------------------------------------------


def _box_spec(fields: Fields) -> BoxSpec:
    parity = fields.choice("parity", PARITIES, default="E")
    return BoxSpec(
        line_id=fields.required_int("line_id", minimum=1),
        name=fields.text("name", required=True, max_len=64),
        comm_mode=CommMode(fields.choice("comm_mode", COMM_MODES)),
        meter_count=fields.integer("meter_count", minimum=0, maximum=10_000, default=0) or 0,
        bus=fields.text("bus", max_len=64),
        baud=fields.integer("baud", default=2400, minimum=1) or 2400,
        parity=parity,
        description=fields.text("description", max_len=200),
    )


async def _boxes_page(
    request: web.Request,
    error: Described | None = None,
    form: Mapping[str, Any] | None = None,
    status: int = 200,
) -> web.StreamResponse:
    db = request.app[DATABASE]
    lines = await db.read(network.list_lines)
    line_filter = request.query.get("line")
    line_id = int(line_filter) if line_filter and line_filter.isdigit() else None
    boxes = await db.read(network.list_boxes, line_id)
    edit_id = request.query.get("edit") or (form or {}).get("id")
    editing = next((b for b in boxes if str(b.id) == str(edit_id)), None)
    values: Mapping[str, Any] = form or (box_json(editing) if editing else {})
    return render(
        request,
        "boxes.html",
        status=status,
        title_key="menu.boxes",
        lines=lines,
        boxes=boxes,
        line_id=line_id,
        editing=editing,
        form=values,
        error=error,
        line_options=[(line.id, line.name) for line in lines],
        baud_options=[(baud, str(baud)) for baud in BAUD_RATES],
        adding=request.query.get("add") is not None or error is not None,
    )


def _boxes_error(request: web.Request) -> ErrorPage:
    return lambda error, form: _boxes_page(request, error, form, 400)


async def _create_box(request: web.Request, fields: Fields) -> network.Box:
    spec = _box_spec(fields)
    return await audited(
        request,
        "box.create",
        lambda box: f"box:{box.id}",
        lambda c: network.create_box(c, spec),
        detail={"name": spec.name, "line_id": spec.line_id},
    )


async def _update_box(request: web.Request, box_id: int, fields: Fields) -> network.Box:
    spec = _box_spec(fields)
    return await audited(
        request,
        "box.update",
        f"box:{box_id}",
        lambda c: network.update_box(c, box_id, spec),
        detail={"name": spec.name, "line_id": spec.line_id},
    )


async def _delete_box(request: web.Request, box_id: int) -> None:
    await audited(request, "box.delete", f"box:{box_id}", lambda c: network.delete_box(c, box_id))


BOXES = Crud(
    name="box",
    path="/boxes",
    page="boxes",
    permission="network.manage",
    feature="F1.3",
    create=_create_box,
    update=_update_box,
    delete=_delete_box,
    on_error=_boxes_error,
    schema=BOX_SCHEMA,
    to_json=box_json,
    api_create=Api("Add a meter box", (400, 409), BOX_BODY),
    api_update=Api("Change a meter box", (400, 404, 409), BOX_BODY),
    api_delete=Api("Delete a meter box (refused while meters remain in it)", (404, 409)),
)


@routes.page("GET", "/boxes", name="boxes", permission="network.manage", feature="F1.3")
async def boxes_page(request: web.Request) -> web.StreamResponse:
    return await _boxes_page(request)


form_routes(routes, BOXES)


@routes.api(
    "GET",
    "/api/v1/boxes",
    name="api_boxes",
    permission="network.manage",
    feature="F1.3",
    summary="List meter boxes",
    responses=answers(array(BOX_SCHEMA)),
)
async def api_boxes(request: web.Request) -> web.StreamResponse:
    boxes = await request.app[DATABASE].read(network.list_boxes)
    return json_response([box_json(box) for box in boxes])


api_routes(routes, BOXES)
