"""``/api/v1/openapi.json``: the API description, generated from the route table."""

from __future__ import annotations

from aiohttp import web

from web.keys import ROUTES
from web.openapi import build_document
from web.render import json_response
from web.routes import PUBLIC, RouteTable
from web.schemas import obj

routes = RouteTable()


@routes.api(
    "GET",
    "/api/v1/openapi.json",
    name="api_openapi",
    permission=PUBLIC,
    summary="This document (OpenAPI 3.1)",
    responses={200: obj({}, extra=True)},
)
async def openapi_json(request: web.Request) -> web.StreamResponse:
    return json_response(build_document(request.app[ROUTES]))
