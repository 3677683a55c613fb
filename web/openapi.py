"""The OpenAPI 3.1 document of ``/api/v1``, built from the route table (so it cannot drift).

Security: a session cookie (``POST /api/v1/session``) plus, for every write, the session's CSRF
token in the ``X-CSRF-Token`` header. Each operation names the permission it needs
(``x-permission``) and the manual's feature (``x-feature``).
"""

from __future__ import annotations

import re
from typing import Any

from gateway import __version__
from web.routes import PUBLIC, Route, Routes
from web.schemas import ERROR

_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")

DESCRIPTION = (
    "JSON API of the prepaid-gateway's local web UI. Sign in with `POST /api/v1/session`; the "
    "answer sets the session cookie and carries `csrf_token`, to be sent as the `X-CSRF-Token` "
    "header with every POST, PUT and DELETE. Money and energy are exact decimal strings "
    '("12.34" yuan, "3.50" kWh), prices have 4 decimals. Errors answer '
    '`{"error": {code, message, remedy, field}}` with a stable code (E + 3 digits).'
)


def openapi_path(path: str) -> str:
    """aiohttp's ``{id:\\d+}`` → OpenAPI's ``{id}``."""
    return _PARAM.sub(r"{\1}", path)


def _operation(route: Route) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.summary,
        "x-permission": route.permission,
        "responses": {},
    }
    if route.feature:
        op["x-feature"] = route.feature
        op["tags"] = [route.feature.split(".")[0]]
    if route.permission == PUBLIC:
        op["security"] = []
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}
        for name in _PARAM.findall(route.path)
    ]
    parameters.extend(
        {
            "name": q.name,
            "in": "query",
            "required": q.required,
            "schema": dict(q.schema),
            "description": q.description,
        }
        for q in route.query
    )
    if route.writes and route.permission != PUBLIC:
        parameters.append({"$ref": "#/components/parameters/CsrfToken"})
    if parameters:
        op["parameters"] = parameters
    if route.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": dict(route.body)}},
        }
    for status, schema in sorted(route.responses.items()):
        description = "OK" if status < 300 else "error"
        if schema is None:
            op["responses"][str(status)] = {
                "description": description,
                "content": {route.produces: {"schema": {"type": "string", "format": "binary"}}},
            }
        else:
            op["responses"][str(status)] = {
                "description": description,
                "content": {"application/json": {"schema": dict(schema)}},
            }
    return op


def build_document(routes: Routes) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes.api():
        paths.setdefault(openapi_path(route.path), {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "prepaid-gateway local API",
            "version": __version__,
            "description": DESCRIPTION,
        },
        "servers": [{"url": "/"}],
        "security": [{"session": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "pg_session"},
            },
            "parameters": {
                "CsrfToken": {
                    "name": "X-CSRF-Token",
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": "csrf_token from POST /api/v1/session",
                }
            },
            "schemas": {"Error": ERROR},
        },
    }
