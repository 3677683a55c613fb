"""F5.1 price types (价格类型管理): flat, tiered, time-of-use and TOU plus ladder, each change an
effective-dated version (sales keep the version they were priced with).

【添加】→ parameters →【确定】adds a price type with its first version; selecting one and
changing its prices adds a version effective from the time given; 【删除】archives it (refused
while an open account uses it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from gateway.billing import tariff_from_json_dict
from gateway.store import tariffs
from gateway.store.conn import Conn
from gateway.store.tariffs import PriceType, PriceVersion
from web.audit import audited
from web.errors import Described
from web.forms import Fields
from web.keys import CLOCK, DATABASE
from web.pages.common import ID_PATH, ErrorPage, path_id
from web.pages.crud import Api, Crud, api_routes, form_routes
from web.render import json_response, render
from web.routes import RouteTable
from web.schemas import BOOLEAN, INTEGER, STRING, answers, array, nullable, obj
from web.tariff_form import KINDS, form_values, summary, tariff_document

routes = RouteTable()

TARIFF = {
    "type": "object",
    "description": "tariff JSON of gateway.billing (prices in 0.0001 "
    "yuan/kWh, thresholds in 0.01 kWh); id, version and effective_from are filled in",
}
VERSION_SCHEMA = obj(
    {
        "id": INTEGER,
        "version_no": INTEGER,
        "effective_from": STRING,
        "kind": {"enum": list(KINDS)},
        "summary": STRING,
        "tariff": {"type": "object"},
        "source": {"enum": ["local", "cloud"]},
    }
)
TYPE_SCHEMA = obj(
    {
        "id": INTEGER,
        "name": STRING,
        "description": STRING,
        "archived": BOOLEAN,
        "versions": array(VERSION_SCHEMA),
    }
)
EXAMPLE_TARIFF = {"kind": "flat", "price": 5283}
NEW_BODY = obj(
    {"name": STRING, "description": STRING, "tariff": TARIFF, "effective_from": nullable(STRING)},
    required=("name", "tariff"),
    example={"name": "API example price", "tariff": EXAMPLE_TARIFF},
)
VERSION_BODY = obj(
    {"tariff": TARIFF, "effective_from": nullable(STRING)},
    required=("tariff",),
    example={"tariff": EXAMPLE_TARIFF, "effective_from": "2030-01-01T00:00"},
)


def version_json(v: PriceVersion) -> dict[str, Any]:
    return {
        "id": v.id,
        "version_no": v.version_no,
        "effective_from": v.effective_from,
        "kind": v.tariff.get("kind"),
        "summary": summary(v.tariff),
        "tariff": v.tariff,
        "source": v.source,
    }


def _load_all(c: Conn, include_archived: bool) -> list[tuple[PriceType, list[PriceVersion]]]:
    return [
        (pt, tariffs.versions(c, pt.id))
        for pt in tariffs.list_types(c, include_archived=include_archived)
    ]


def type_json(pt: PriceType, versions: list[PriceVersion]) -> dict[str, Any]:
    return {
        "id": pt.id,
        "name": pt.name,
        "description": pt.description,
        "archived": pt.archived,
        "versions": [version_json(v) for v in versions],
    }


def _local_now(request: web.Request) -> dt.datetime:
    return request.app[CLOCK]().astimezone().replace(tzinfo=None, second=0, microsecond=0)


def _add_version(c: Conn, type_id: int, fields: Fields, effective: dt.datetime) -> PriceVersion:
    number = len(tariffs.versions(c, type_id)) + 1
    doc = tariff_document(fields, type_id=type_id, version=number, effective_from=effective)
    return tariffs.add_version(c, type_id, doc, effective.astimezone())


def _effective(request: web.Request, fields: Fields) -> dt.datetime:
    return fields.local_datetime("effective_from") or _local_now(request)


async def _create(request: web.Request, fields: Fields) -> PriceType:
    name = fields.text("name", required=True, max_len=64)
    description = fields.text("description", max_len=200)
    effective = _effective(request, fields)

    def work(c: Conn) -> PriceType:
        created = tariffs.create_type(c, name, description)
        _add_version(c, created.id, fields, effective)
        return created

    return await audited(
        request,
        "price_type.create",
        lambda pt: f"price_type:{pt.id}",
        work,
        detail={"name": name, "kind": fields.raw("kind")},
    )


async def _update(request: web.Request, type_id: int, fields: Fields) -> PriceType:
    name = fields.text("name", required=True, max_len=64)
    description = fields.text("description", max_len=200)
    effective = _effective(request, fields)

    def work(c: Conn) -> PriceType:
        renamed = tariffs.rename_type(c, type_id, name, description)
        latest = tariffs.versions(c, type_id)
        doc = tariff_document(fields, type_id=type_id, version=1, effective_from=effective)
        previous = latest[-1].tariff if latest else None
        same = (
            previous is not None
            and {**previous, "version": 1, "effective_from": doc["effective_from"]} == doc
        )
        if not same:  # a rename alone adds no version
            _add_version(c, type_id, fields, effective)
        return renamed

    return await audited(
        request,
        "price_type.update",
        f"price_type:{type_id}",
        work,
        detail={"name": name, "kind": fields.raw("kind")},
    )


async def _archive(request: web.Request, type_id: int) -> None:
    await audited(
        request,
        "price_type.delete",
        f"price_type:{type_id}",
        lambda c: tariffs.archive_type(c, type_id),
    )


async def _page(
    request: web.Request,
    error: Described | None = None,
    form: Mapping[str, Any] | None = None,
    status: int = 200,
) -> web.StreamResponse:
    everything = await request.app[DATABASE].read(_load_all, False)
    edit_id = request.query.get("edit") or (form or {}).get("id")
    editing = next(((pt, vs) for pt, vs in everything if str(pt.id) == str(edit_id)), None)
    values: dict[str, Any] = {"kind": "flat", "settlement": "monthly", "base_band": "flat"}
    if editing is not None:
        pt, versions = editing
        values.update({"name": pt.name, "description": pt.description})
        if versions:
            values.update(form_values(versions[-1].tariff))
    if form:
        values.update(form)
    values.setdefault("effective_from", _local_now(request).isoformat(timespec="minutes"))
    rows = [
        {
            "type": pt,
            "current": versions[-1] if versions else None,
            "count": len(versions),
            "summary": summary(versions[-1].tariff) if versions else "",
        }
        for pt, versions in everything
    ]
    return render(
        request,
        "price_types.html",
        status=status,
        title_key="menu.price_types",
        rows=rows,
        editing=editing[0] if editing else None,
        versions=[version_json(v) for v in editing[1]] if editing else [],
        form=values,
        error=error,
        adding=request.query.get("add") is not None or (error is not None and editing is None),
        kinds=KINDS,
    )


def _error(request: web.Request) -> ErrorPage:
    return lambda error, form: _page(request, error, form, 400)


@routes.page("GET", "/price-types", name="price_types", permission="tariffs.manage", feature="F5.1")
async def page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


CRUD = Crud(
    name="price_type",
    path="/price-types",
    page="price_types",
    permission="tariffs.manage",
    feature="F5.1",
    create=_create,
    update=_update,
    delete=_archive,
    on_error=_error,
    updated="price_types.saved",
    # The API's create takes the tariff as billing JSON (api_create below) and has no PUT.
    api_delete=Api(
        "Delete (archive) a price type; refused while an open account uses it", (404, 409)
    ),
)
form_routes(routes, CRUD)


# ---- API: the tariff travels as billing JSON ---------------------------------------------------


def _api_tariff(
    fields: Fields, type_id: int, version: int, effective: dt.datetime
) -> dict[str, Any]:
    raw = fields.raw("tariff")
    if not isinstance(raw, dict):
        raw = {}
    doc = {
        **raw,
        "id": str(type_id),
        "version": version,
        "effective_from": effective.replace(tzinfo=None).isoformat(),
    }
    return tariff_from_json_dict(doc).to_json_dict()


@routes.api(
    "GET",
    "/api/v1/price-types",
    name="api_price_types",
    permission="tariffs.manage",
    feature="F5.1",
    summary="Price types with all their versions",
    responses=answers(array(TYPE_SCHEMA)),
)
async def api_list(request: web.Request) -> web.StreamResponse:
    everything = await request.app[DATABASE].read(_load_all, False)
    return json_response([type_json(pt, vs) for pt, vs in everything])


@routes.api(
    "POST",
    "/api/v1/price-types",
    name="api_price_type_create",
    permission="tariffs.manage",
    feature="F5.1",
    summary="Add a price type with its first version",
    body=NEW_BODY,
    responses=answers(TYPE_SCHEMA, 400, 409, ok_status=201),
)
async def api_create(request: web.Request) -> web.StreamResponse:
    fields = await Fields.from_json(request)
    name = fields.text("name", required=True, max_len=64)
    description = fields.text("description", max_len=200)
    effective = _effective(request, fields)

    def work(c: Conn) -> tuple[PriceType, list[PriceVersion]]:
        created = tariffs.create_type(c, name, description)
        doc = _api_tariff(fields, created.id, 1, effective)
        tariffs.add_version(c, created.id, doc, effective.astimezone())
        return created, tariffs.versions(c, created.id)

    pt, versions = await audited(
        request, "price_type.create", lambda r: f"price_type:{r[0].id}", work, detail={"name": name}
    )
    return json_response(type_json(pt, versions), status=201)


@routes.api(
    "POST",
    f"/api/v1/price-types/{ID_PATH}/versions",
    name="api_price_version_add",
    permission="tariffs.manage",
    feature="F5.1",
    summary="Add a version (new prices from effective_from on)",
    body=VERSION_BODY,
    responses=answers(VERSION_SCHEMA, 400, 404, ok_status=201),
)
async def api_add_version(request: web.Request) -> web.StreamResponse:
    fields = await Fields.from_json(request)
    type_id = path_id(request)
    effective = _effective(request, fields)

    def work(c: Conn) -> PriceVersion:
        tariffs.get_type(c, type_id)
        number = len(tariffs.versions(c, type_id)) + 1
        doc = _api_tariff(fields, type_id, number, effective)
        return tariffs.add_version(c, type_id, doc, effective.astimezone())

    version = await audited(request, "price_type.version", f"price_type:{type_id}", work)
    return json_response(version_json(version), status=201)


api_routes(routes, CRUD)
