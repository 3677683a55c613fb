"""F1.1 master-station communication parameters (主站通讯参数): the listening IP/port DTU modules
dial into and the connection to the cloud master station (MQTT).

Stored in the ``settings`` table under :data:`SETTING_KEY` (a JSON object, see
:class:`MasterStation`); the link and sync parts read it at start, so a change applies after
the gateway restarts (the page says so). The MQTT password stays in the configuration file
(``password_file``), never in the database or in a page.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from aiohttp import web

from gateway.store import siteinfo
from web.audit import audited
from web.errors import BAD_INPUT, Described, WebError
from web.forms import Fields
from web.keys import DATABASE
from web.pages.common import submit
from web.render import json_response, render
from web.routes import RouteTable
from web.schemas import BOOLEAN, INTEGER, STRING, answers, obj

routes = RouteTable()

SETTING_KEY = "comm.master_station"


@dataclass(frozen=True)
class MasterStation:
    dtu_listen_host: str = "0.0.0.0"
    dtu_listen_port: int = 9000
    mqtt_enabled: bool = False
    mqtt_host: str = "localhost"
    mqtt_port: int = 8883
    mqtt_tls: bool = True
    mqtt_username: str = ""
    mqtt_prefix: str = "prepaid"
    mqtt_site_id: str = "site1"
    mqtt_gateway_id: str = "gw1"
    mqtt_keepalive: int = 60

    def __post_init__(self) -> None:
        try:
            ipaddress.ip_address(self.dtu_listen_host)
        except ValueError:
            raise WebError(BAD_INPUT, field="dtu_listen_host", problem="ip") from None
        for name in ("dtu_listen_port", "mqtt_port"):
            if not 1 <= getattr(self, name) <= 65535:
                raise WebError(BAD_INPUT, field=name, problem="range")
        if not 5 <= self.mqtt_keepalive <= 3600:
            raise WebError(BAD_INPUT, field="mqtt_keepalive", problem="range")
        for name in ("mqtt_prefix", "mqtt_site_id", "mqtt_gateway_id"):
            value = getattr(self, name)
            if not value or any(ch in value for ch in "/#+ "):
                raise WebError(BAD_INPUT, field=name, problem="topic")
        if self.mqtt_enabled and not self.mqtt_host:
            raise WebError(BAD_INPUT, field="mqtt_host", problem="required")

    @classmethod
    def from_stored(cls, data: object) -> MasterStation:
        if not isinstance(data, dict):
            return cls()
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except (WebError, TypeError):
            return cls()

    @classmethod
    def from_fields(cls, form: Fields) -> MasterStation:
        return cls(
            dtu_listen_host=form.text("dtu_listen_host", required=True, max_len=64),
            dtu_listen_port=form.required_int("dtu_listen_port", minimum=1, maximum=65535),
            mqtt_enabled=form.boolean("mqtt_enabled"),
            mqtt_host=form.text("mqtt_host", max_len=253),
            mqtt_port=form.required_int("mqtt_port", minimum=1, maximum=65535),
            mqtt_tls=form.boolean("mqtt_tls"),
            mqtt_username=form.text("mqtt_username", max_len=128),
            mqtt_prefix=form.text("mqtt_prefix", required=True, max_len=64),
            mqtt_site_id=form.text("mqtt_site_id", required=True, max_len=64),
            mqtt_gateway_id=form.text("mqtt_gateway_id", required=True, max_len=64),
            mqtt_keepalive=form.required_int("mqtt_keepalive", minimum=5, maximum=3600),
        )


SCHEMA = obj(
    {
        "dtu_listen_host": STRING,
        "dtu_listen_port": INTEGER,
        "mqtt_enabled": BOOLEAN,
        "mqtt_host": STRING,
        "mqtt_port": INTEGER,
        "mqtt_tls": BOOLEAN,
        "mqtt_username": STRING,
        "mqtt_prefix": STRING,
        "mqtt_site_id": STRING,
        "mqtt_gateway_id": STRING,
        "mqtt_keepalive": INTEGER,
    },
    example=asdict(MasterStation()),
)


async def load(request: web.Request) -> MasterStation:
    stored = await request.app[DATABASE].read(siteinfo.get_setting, SETTING_KEY)
    return MasterStation.from_stored(stored)


async def _save(request: web.Request, params: MasterStation) -> None:
    await audited(
        request,
        "settings.master_station",
        SETTING_KEY,
        lambda c: siteinfo.set_setting(c, SETTING_KEY, asdict(params)),
        detail=asdict(params),
    )


async def _page(
    request: web.Request,
    error: Described | None = None,
    form: Mapping[str, Any] | None = None,
    status: int = 200,
) -> web.StreamResponse:
    current = asdict(await load(request))
    if form is not None:
        current.update(form)
        for flag in ("mqtt_enabled", "mqtt_tls"):
            current[flag] = flag in form
    return render(
        request,
        "comm_params.html",
        status=status,
        title_key="menu.comm_params",
        form=current,
        error=error,
    )


@routes.page(
    "GET",
    "/settings/master-station",
    name="comm_params",
    permission="network.manage",
    feature="F1.1",
)
async def comm_params(request: web.Request) -> web.StreamResponse:
    return await _page(request)


@routes.page(
    "POST",
    "/settings/master-station",
    name="comm_params_save",
    permission="network.manage",
    feature="F1.1",
)
async def comm_params_save(request: web.Request) -> web.StreamResponse:
    async def work() -> None:
        await _save(request, MasterStation.from_fields(await Fields.from_form(request)))

    return await submit(
        request,
        work,
        done_key="comm.saved",
        to="comm_params",
        on_error=lambda error, form: _page(request, error, form, 400),
    )


@routes.api(
    "GET",
    "/api/v1/settings/master-station",
    name="api_comm_params",
    permission="network.manage",
    feature="F1.1",
    summary="Master-station communication parameters",
    responses=answers(SCHEMA),
)
async def api_comm_params(request: web.Request) -> web.StreamResponse:
    return json_response(asdict(await load(request)))


@routes.api(
    "PUT",
    "/api/v1/settings/master-station",
    name="api_comm_params_save",
    permission="network.manage",
    feature="F1.1",
    summary="Change the master-station communication parameters (applied at restart)",
    body=SCHEMA,
    responses=answers(SCHEMA, 400),
)
async def api_comm_params_save(request: web.Request) -> web.StreamResponse:
    params = MasterStation.from_fields(await Fields.from_json(request))
    await _save(request, params)
    return json_response(asdict(params))
