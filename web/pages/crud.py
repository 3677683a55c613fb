"""The create / update / delete routes of a registry page (lines, boxes, meters, meter types,
price types, operators), declared as data instead of six look-alike handlers.

A page module keeps what is its own: the list page, and the coroutines that turn a form or a JSON
body into the audited store call. It declares a :class:`Crud`; :func:`form_routes` adds the
three form posts (``POST /x``, ``POST /x/{id}``, ``POST /x/{id}/delete``, each a post/redirect/get
through :func:`submit`), :func:`api_routes` the JSON API's ``POST /api/v1/x`` (201),
``PUT /api/v1/x/{id}`` and ``DELETE /api/v1/x/{id}`` (``{"ok": true}``) for the operations the
spec documents. Two calls, so a module's routes stay in the order it lists them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiohttp import web

from web.forms import Fields
from web.pages.common import ID_PATH, ErrorPage, path_id, submit
from web.render import json_response
from web.routes import Handler, RouteTable
from web.schemas import OK, Schema, answers

T = TypeVar("T")


@dataclass(frozen=True)
class Api:
    """One JSON operation's OpenAPI entry: summary, request body schema (create and update), and
    the error statuses it answers besides 401 and 403."""

    summary: str
    errors: tuple[int, ...]
    body: Schema | None = None


@dataclass(frozen=True)
class Crud(Generic[T]):
    """One entity's create / update / delete routes.

    Route names: ``{name}_create``, ``{name}_update``, ``{name}_delete`` for the forms and
    ``api_{name}_create`` … for the API; paths: ``path`` for the forms and ``/api/v1`` + ``path``
    for the API. ``delete`` is whatever the entity's delete is (operators are deactivated, price
    types archived).
    """

    name: str
    path: str
    page: str  # route name of the list page the forms redirect to
    permission: str
    create: Callable[[web.Request, Fields], Awaitable[T]]
    update: Callable[[web.Request, int, Fields], Awaitable[T]]
    delete: Callable[[web.Request, int], Awaitable[None]]
    on_error: Callable[[web.Request], ErrorPage]  # the page again, the error shown (status 400)
    feature: str | None = None
    # Flash message keys of the three forms.
    created: str = "common.saved"
    updated: str = "common.saved"
    deleted: str = "common.deleted"
    # The API: the JSON answer of create and update, and which operations it offers.
    schema: Schema | None = None
    to_json: Callable[[T], Mapping[str, Any]] | None = None
    api_create: Api | None = None
    api_update: Api | None = None
    api_delete: Api | None = None


def form_routes(routes: RouteTable, crud: Crud[T]) -> None:
    """``POST path`` (create), ``POST path/{id}`` (update), ``POST path/{id}/delete``."""
    item = f"{crud.path}/{ID_PATH}"

    async def create(request: web.Request) -> None:
        await crud.create(request, await Fields.from_form(request))

    async def update(request: web.Request) -> None:
        await crud.update(request, path_id(request), await Fields.from_form(request))

    async def delete(request: web.Request) -> None:
        await crud.delete(request, path_id(request))

    for action, path, work, done_key in (
        ("create", crud.path, create, crud.created),
        ("update", item, update, crud.updated),
        ("delete", f"{item}/delete", delete, crud.deleted),
    ):
        routes.page(
            "POST",
            path,
            name=f"{crud.name}_{action}",
            permission=crud.permission,
            feature=crud.feature,
        )(_form_handler(crud, work, done_key))


def _form_handler(
    crud: Crud[T], work: Callable[[web.Request], Awaitable[None]], done_key: str
) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await submit(
            request,
            lambda: work(request),
            done_key=done_key,
            to=crud.page,
            on_error=crud.on_error(request),
        )

    return handler


def api_routes(routes: RouteTable, crud: Crud[T]) -> None:
    """``POST /api/v1/path`` (201 and the new item), ``PUT /api/v1/path/{id}`` (the item),
    ``DELETE /api/v1/path/{id}`` (``{"ok": true}``): those the spec documents."""
    base = f"/api/v1{crud.path}"
    item = f"{base}/{ID_PATH}"
    operations: list[tuple[str, str, str, Api, Handler, Schema | None, int]] = []
    if crud.api_create is not None or crud.api_update is not None:
        if crud.schema is None or crud.to_json is None:
            raise ValueError(f"{crud.name}: the API's create and update need schema and to_json")
        if crud.api_create is not None:
            handler = _api_create(crud, crud.to_json)
            operations.append(("POST", base, "create", crud.api_create, handler, crud.schema, 201))
        if crud.api_update is not None:
            handler = _api_update(crud, crud.to_json)
            operations.append(("PUT", item, "update", crud.api_update, handler, crud.schema, 200))
    if crud.api_delete is not None:
        operations.append(("DELETE", item, "delete", crud.api_delete, _api_delete(crud), OK, 200))
    for method, path, action, api, handler, ok, ok_status in operations:
        routes.api(
            method,
            path,
            name=f"api_{crud.name}_{action}",
            permission=crud.permission,
            feature=crud.feature,
            summary=api.summary,
            body=api.body,
            responses=answers(ok, *api.errors, ok_status=ok_status),
        )(handler)


def _api_create(crud: Crud[T], to_json: Callable[[T], Mapping[str, Any]]) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        done = await crud.create(request, await Fields.from_json(request))
        return json_response(to_json(done), status=201)

    return handler


def _api_update(crud: Crud[T], to_json: Callable[[T], Mapping[str, Any]]) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        done = await crud.update(request, path_id(request), await Fields.from_json(request))
        return json_response(to_json(done))

    return handler


def _api_delete(crud: Crud[T]) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        await crud.delete(request, path_id(request))
        return json_response({"ok": True})

    return handler
