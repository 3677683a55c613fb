"""F5.4 operators (操作员维护): add with an initial password and ticked permissions, edit, delete
(deactivate: names stay on the records they made), and reset a forgotten password.

A new or reset operator must change the password at first login (the security middleware sends
them to F5.5 before anything else).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from gateway.store import auth, operators, passwords
from gateway.store.operators import NewOperator, Operator
from gateway.store.permissions import CATALOGUE
from web.audit import audited
from web.errors import SELF_LOCKOUT, Described, WebError
from web.forms import Fields
from web.keys import DATABASE, SESSIONS, operator
from web.pages.auth import OPERATOR_SCHEMA, operator_json
from web.pages.common import ID_PATH, ErrorPage, path_id, submit
from web.pages.crud import Api, Crud, api_routes, form_routes
from web.render import json_response, render
from web.routes import RouteTable
from web.schemas import STRING, answers, array, obj

routes = RouteTable()

NEW_BODY = obj(
    {"name": STRING, "display_name": STRING, "password": STRING, "permissions": array(STRING)},
    required=("name", "password"),
    example={"name": "api-example", "password": "initial-123", "permissions": ["lines"]},
)
EDIT_BODY = obj(
    {"display_name": STRING, "permissions": array(STRING)},
    required=("permissions",),
    example={"display_name": "", "permissions": ["lines"]},
)
RESET_BODY = obj({"password": STRING}, example={"password": "temporary-123"})


async def _create(request: web.Request, fields: Fields) -> Operator:
    name = fields.text("name", required=True, max_len=64)
    password = fields.text("password", required=True, max_len=128)
    passwords.check_strength(password)
    hashed = await passwords.hash_password_async(password)
    new = NewOperator(
        name=name,
        password_hash=hashed,
        display_name=fields.text("display_name", max_len=64),
        permissions=frozenset(fields.strings("permissions")),
        must_change_password=True,
    )
    return await audited(
        request,
        "operator.create",
        lambda op: f"operator:{op.name}",
        lambda c: operators.create(c, new),
        detail={"permissions": sorted(new.permissions)},
    )


async def _update(request: web.Request, operator_id: int, fields: Fields) -> Operator:
    display_name = fields.text("display_name", max_len=64)
    granted = sorted(fields.strings("permissions"))
    return await audited(
        request,
        "operator.update",
        f"operator:{operator_id}",
        lambda c: operators.update(c, operator_id, display_name=display_name, permissions=granted),
        detail={"permissions": granted},
    )


async def _deactivate(request: web.Request, operator_id: int) -> None:
    if operator_id == operator(request).id:
        raise WebError(SELF_LOCKOUT, 409)
    await audited(
        request,
        "operator.delete",
        f"operator:{operator_id}",
        lambda c: operators.deactivate(c, operator_id),
    )
    request.app[SESSIONS].drop_operator(operator_id)


async def _reset(request: web.Request, operator_id: int, fields: Fields) -> Operator:
    if operator_id == operator(request).id:
        raise WebError(SELF_LOCKOUT, 409)
    password = fields.text("password", required=True, max_len=128)
    db = request.app[DATABASE]
    target = await db.read(operators.get, operator_id)
    done = await auth.reset_password(
        db, target.name, password, by_operator_id=operator(request).id, via="web"
    )
    request.app[SESSIONS].drop_operator(operator_id)
    return done


async def _page(
    request: web.Request,
    error: Described | None = None,
    form: Mapping[str, Any] | None = None,
    status: int = 200,
) -> web.StreamResponse:
    everyone = await request.app[DATABASE].read(operators.list_all)
    edit_id = request.query.get("edit") or (form or {}).get("id")
    editing = next((op for op in everyone if str(op.id) == str(edit_id)), None)
    granted: set[str] = set()
    if form is not None and hasattr(form, "getall"):
        granted = set(form.getall("permissions", []))
    elif editing is not None:
        granted = set(editing.permissions)
    return render(
        request,
        "operators.html",
        status=status,
        title_key="menu.operators",
        operators=everyone,
        editing=editing,
        form=form or {},
        granted=granted,
        catalogue=CATALOGUE,
        error=error,
        adding=request.query.get("add") is not None or (error is not None and editing is None),
        me=operator(request),
    )


def _error(request: web.Request) -> ErrorPage:
    async def show(error: Described, form: Mapping[str, Any]) -> web.StreamResponse:
        return await _page(request, error, await request.post(), 400)

    return show


@routes.page("GET", "/operators", name="operators", permission="operators.manage", feature="F5.4")
async def page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


CRUD = Crud(
    name="operator",
    path="/operators",
    page="operators",
    permission="operators.manage",
    feature="F5.4",
    create=_create,
    update=_update,
    delete=_deactivate,
    on_error=_error,
    created="operators.created",
    schema=OPERATOR_SCHEMA,
    to_json=operator_json,
    api_create=Api(
        "Add an operator (must change the password at first login)", (400, 409), NEW_BODY
    ),
    api_update=Api("Change an operator's display name and permissions", (400, 404), EDIT_BODY),
    api_delete=Api("Delete (deactivate) an operator; their records keep the name", (400, 404, 409)),
)
form_routes(routes, CRUD)


@routes.page(
    "POST",
    f"/operators/{ID_PATH}/reset-password",
    name="operator_reset",
    permission="operators.manage",
    feature="F5.4",
)
async def reset(request: web.Request) -> web.StreamResponse:
    async def work() -> None:
        await _reset(request, path_id(request), await Fields.from_form(request))

    return await submit(
        request, work, done_key="operators.reset_done", to="operators", on_error=_error(request)
    )


@routes.api(
    "GET",
    "/api/v1/operators",
    name="api_operators",
    permission="operators.manage",
    feature="F5.4",
    summary="List active operators",
    responses=answers(array(OPERATOR_SCHEMA)),
)
async def api_list(request: web.Request) -> web.StreamResponse:
    everyone = await request.app[DATABASE].read(operators.list_all)
    return json_response([operator_json(op) for op in everyone])


api_routes(routes, CRUD)


@routes.api(
    "POST",
    f"/api/v1/operators/{ID_PATH}/reset-password",
    name="api_operator_reset",
    permission="operators.manage",
    feature="F5.4",
    summary="Set a temporary password, to be changed at next login",
    body=RESET_BODY,
    responses=answers(OPERATOR_SCHEMA, 400, 404, 409),
)
async def api_reset(request: web.Request) -> web.StreamResponse:
    op = await _reset(request, path_id(request), await Fields.from_json(request))
    return json_response(operator_json(op))
