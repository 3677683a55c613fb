"""F5.2 organisation info (单位信息维护): the operating company's details, printed on receipts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from aiohttp import web

from gateway.store import siteinfo
from gateway.store.siteinfo import Organisation
from web.audit import audited
from web.errors import Described
from web.forms import Fields
from web.keys import DATABASE
from web.pages.common import submit
from web.render import json_response, render
from web.routes import RouteTable
from web.schemas import STRING, answers, obj

routes = RouteTable()

FIELDS = ("name", "address", "phone", "tax_number", "bank", "bank_account", "contact")
SCHEMA = obj(
    dict.fromkeys(FIELDS, STRING),
    required=(),
    example={"name": "示例供电所", "phone": "0571-00000000"},
)


def org_json(org: Organisation) -> dict[str, Any]:
    return {name: getattr(org, name) for name in FIELDS}


def _from_fields(fields: Fields, before: Organisation) -> Organisation:
    return Organisation(
        **{name: fields.text(name, max_len=200) for name in FIELDS}, extra=before.extra
    )


async def _save(request: web.Request, fields: Fields) -> Organisation:
    db = request.app[DATABASE]
    before = await db.read(siteinfo.get_organisation)
    org = _from_fields(fields, before)
    return await audited(
        request,
        "organisation.save",
        "organisation",
        lambda c: siteinfo.save_organisation(c, org),
        detail=org_json(org),
    )


async def _page(
    request: web.Request,
    error: Described | None = None,
    form: Mapping[str, Any] | None = None,
    status: int = 200,
) -> web.StreamResponse:
    org = await request.app[DATABASE].read(siteinfo.get_organisation)
    return render(
        request,
        "organisation.html",
        status=status,
        title_key="menu.organisation",
        form=form or asdict(org),
        error=error,
        names=FIELDS,
    )


@routes.page("GET", "/organisation", name="organisation", permission="org.manage", feature="F5.2")
async def page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


@routes.page(
    "POST", "/organisation", name="organisation_save", permission="org.manage", feature="F5.2"
)
async def save(request: web.Request) -> web.StreamResponse:
    async def work() -> None:
        await _save(request, await Fields.from_form(request))

    return await submit(
        request,
        work,
        done_key="common.saved",
        to="organisation",
        on_error=lambda e, f: _page(request, e, f, 400),
    )


@routes.api(
    "GET",
    "/api/v1/organisation",
    name="api_organisation",
    permission="org.manage",
    feature="F5.2",
    summary="Organisation info printed on receipts",
    responses=answers(SCHEMA),
)
async def api_get(request: web.Request) -> web.StreamResponse:
    return json_response(org_json(await request.app[DATABASE].read(siteinfo.get_organisation)))


@routes.api(
    "PUT",
    "/api/v1/organisation",
    name="api_organisation_save",
    permission="org.manage",
    feature="F5.2",
    summary="Change the organisation info",
    body=SCHEMA,
    responses=answers(SCHEMA, 400),
)
async def api_save(request: web.Request) -> web.StreamResponse:
    return json_response(org_json(await _save(request, await Fields.from_json(request))))
