"""F5.6 meter types (仪表类型维护): protocol, who holds the wallet, money or energy, phases, and
the profile that says how to talk money to the model (password, operator code, relay form,
MAC provider, default limits)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from aiohttp import web

from gateway.billing.units import format_yuan
from gateway.store import metertypes
from gateway.store.metertypes import (
    MeterProfile,
    MeterType,
    MeterTypeSpec,
    Protocol,
    ValueKind,
    WalletModel,
)
from web.audit import audited
from web.errors import Described
from web.forms import Fields
from web.keys import DATABASE
from web.pages.common import ErrorPage
from web.pages.crud import Api, Crud, api_routes, form_routes
from web.render import json_response, render
from web.routes import RouteTable
from web.schemas import INTEGER, STRING, YUAN, answers, array, nullable, obj

routes = RouteTable()

LIMITS = (
    "alarm1_fen",
    "alarm2_fen",
    "overdraft_limit_fen",
    "hoarding_limit_fen",
    "close_allowed_fen",
)
RELAY_FORMS: tuple[Literal["plaintext", "level98"], ...] = ("plaintext", "level98")
MAC_PROVIDERS: tuple[Literal["none", "software", "encryption_machine"], ...] = (
    "none",
    "software",
    "encryption_machine",
)

SCHEMA = obj(
    {
        "id": INTEGER,
        "name": STRING,
        "protocol": {"enum": [p.value for p in Protocol]},
        "wallet_model": {"enum": [w.value for w in WalletModel]},
        "value_kind": {"enum": [v.value for v in ValueKind]},
        "phases": {"enum": [1, 3]},
        "password_level": INTEGER,
        "password": STRING,
        "operator_code": STRING,
        "relay_form": {"enum": list(RELAY_FORMS)},
        "recharge_layout": STRING,
        "mac_provider": {"enum": list(MAC_PROVIDERS)},
        **{name.removesuffix("_fen"): nullable(YUAN) for name in LIMITS},
    }
)
BODY = obj(
    {k: v for k, v in SCHEMA["properties"].items() if k != "id"},
    required=("name", "protocol", "wallet_model", "value_kind", "phases"),
    example={
        "name": "API example type",
        "protocol": "dlt645-2007",
        "wallet_model": "meter",
        "value_kind": "money",
        "phases": 1,
        "alarm1": "20.00",
    },
)


def type_json(mt: MeterType) -> dict[str, Any]:
    p = mt.profile
    data: dict[str, Any] = {
        "id": mt.id,
        "name": mt.name,
        "protocol": str(mt.protocol),
        "wallet_model": str(mt.wallet_model),
        "value_kind": str(mt.value_kind),
        "phases": mt.phases,
        "password_level": p.password_level,
        "password": p.password,
        "operator_code": p.operator_code,
        "relay_form": p.relay_form,
        "recharge_layout": p.recharge_layout,
        "mac_provider": p.mac_provider,
    }
    for name in LIMITS:
        value = getattr(p, name)
        data[name.removesuffix("_fen")] = None if value is None else format_yuan(value)
    return data


def _spec(fields: Fields, keep_extra: Mapping[str, Any] | None = None) -> MeterTypeSpec:
    profile = MeterProfile(
        password_level=fields.integer("password_level", minimum=0, maximum=99, default=2) or 0,
        password=fields.text("password", max_len=6) or "000000",
        operator_code=fields.text("operator_code", max_len=8) or "00000000",
        relay_form=fields.choice("relay_form", RELAY_FORMS, default="plaintext"),
        recharge_layout=fields.text("recharge_layout", max_len=32) or "standard",
        mac_provider=fields.choice("mac_provider", MAC_PROVIDERS, default="none"),
        **{name: fields.optional_yuan(name.removesuffix("_fen")) for name in LIMITS},
        extra=dict(keep_extra or {}),
    )
    return MeterTypeSpec(
        name=fields.text("name", required=True, max_len=64),
        protocol=Protocol(fields.choice("protocol", [p.value for p in Protocol])),
        wallet_model=WalletModel(fields.choice("wallet_model", [w.value for w in WalletModel])),
        value_kind=ValueKind(fields.choice("value_kind", [v.value for v in ValueKind])),
        phases=fields.required_int("phases", minimum=1, maximum=3),
        profile=profile,
    )


async def _page(
    request: web.Request,
    error: Described | None = None,
    form: Mapping[str, Any] | None = None,
    status: int = 200,
) -> web.StreamResponse:
    types = await request.app[DATABASE].read(metertypes.list_all)
    edit_id = request.query.get("edit") or (form or {}).get("id")
    editing = next((mt for mt in types if str(mt.id) == str(edit_id)), None)
    values: Mapping[str, Any] = form or (type_json(editing) if editing else {})
    return render(
        request,
        "meter_types.html",
        status=status,
        title_key="menu.meter_types",
        types=[type_json(mt) for mt in types],
        editing=editing,
        form=values,
        error=error,
        adding=request.query.get("add") is not None or error is not None,
        protocols=[p.value for p in Protocol],
        relay_forms=RELAY_FORMS,
        mac_providers=MAC_PROVIDERS,
    )


async def _create(request: web.Request, fields: Fields) -> MeterType:
    spec = _spec(fields)
    return await audited(
        request,
        "meter_type.create",
        lambda mt: f"meter_type:{mt.id}",
        lambda c: metertypes.create(c, spec),
        detail={"name": spec.name},
    )


async def _update(request: web.Request, type_id: int, fields: Fields) -> MeterType:
    db = request.app[DATABASE]
    before = await db.read(metertypes.get, type_id)
    spec = _spec(fields, before.profile.extra)  # fields the page does not show are kept
    return await audited(
        request,
        "meter_type.update",
        f"meter_type:{type_id}",
        lambda c: metertypes.update(c, type_id, spec),
        detail={"name": spec.name},
    )


async def _delete(request: web.Request, type_id: int) -> None:
    await audited(
        request,
        "meter_type.delete",
        f"meter_type:{type_id}",
        lambda c: metertypes.delete(c, type_id),
    )


def _error(request: web.Request) -> ErrorPage:
    return lambda error, form: _page(request, error, form, 400)


@routes.page(
    "GET", "/meter-types", name="meter_types", permission="meter_types.manage", feature="F5.6"
)
async def page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


CRUD = Crud(
    name="meter_type",
    path="/meter-types",
    page="meter_types",
    permission="meter_types.manage",
    feature="F5.6",
    create=_create,
    update=_update,
    delete=_delete,
    on_error=_error,
    schema=SCHEMA,
    to_json=type_json,
    api_create=Api("Add a meter type", (400, 409), BODY),
    api_update=Api("Change a meter type", (400, 404, 409), BODY),
    api_delete=Api("Delete a meter type (refused while meters of the type exist)", (404, 409)),
)
form_routes(routes, CRUD)


@routes.api(
    "GET",
    "/api/v1/meter-types",
    name="api_meter_types",
    permission="meter_types.manage",
    feature="F5.6",
    summary="List meter types",
    responses=answers(array(SCHEMA)),
)
async def api_list(request: web.Request) -> web.StreamResponse:
    types = await request.app[DATABASE].read(metertypes.list_all)
    return json_response([type_json(mt) for mt in types])


api_routes(routes, CRUD)
