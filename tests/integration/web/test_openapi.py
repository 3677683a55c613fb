"""The OpenAPI document validates, and every documented operation answers as documented: a
status it lists, with a body matching that status's schema (a generated walk over the spec)."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from gateway.store.permissions import ALL_CODES
from web.keys import DATABASE

from .conftest import make_operator, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="module")

Client = TestClient  # type: ignore[type-arg]
# Destructive or session-ending operations run last, so they do not disturb the others.
LAST = ("api_logout", "api_clear_all", "api_oplog_delete")


async def document(client: Client) -> dict[str, Any]:
    response = await client.get("/api/v1/openapi.json")
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


async def test_the_document_is_valid_openapi(shared_client: Client) -> None:
    spec = await document(shared_client)
    validate(spec)
    assert spec["components"]["parameters"]["CsrfToken"]["name"] == "X-CSRF-Token"
    operations = [op for path in spec["paths"].values() for op in path.values()]
    assert len(operations) > 40
    assert all(op.get("x-permission") for op in operations)


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = [
        (method.upper(), path, op)
        for path, methods in spec["paths"].items()
        for method, op in methods.items()
    ]
    order = {"GET": 0, "POST": 1, "PUT": 2, "DELETE": 3}
    return sorted(
        found,
        key=lambda item: (item[2]["operationId"] in LAST, order[item[0]], item[1]),
    )


async def test_every_operation_answers_as_documented(shared_client: Client) -> None:
    client = shared_client
    spec = await document(client)
    admin = await make_operator(client.app[DATABASE], "walker", ALL_CODES)
    checked = 0
    for method, path, op in _operations(spec):
        csrf = sign_in(client, admin.id)  # a fresh session each time (logout ends one)
        url = re.sub(r"\{\w+\}", "999999", path)
        body = None
        if "requestBody" in op:
            schema = op["requestBody"]["content"]["application/json"]["schema"]
            body = schema.get("example", {})
        response = await client.request(
            method, url, json=body, headers={"X-CSRF-Token": csrf}, allow_redirects=False
        )
        documented = op["responses"]
        assert str(response.status) in documented, (
            f"{method} {path} answered {response.status}: {(await response.text())[:300]}"
        )
        content = documented[str(response.status)]["content"]
        if "application/json" in content:
            payload = await response.json()
            jsonschema.validate(payload, content["application/json"]["schema"])
        else:
            assert response.content_type in content
        checked += 1
    assert checked == len(_operations(spec))


async def test_errors_have_the_documented_shape(shared_client: Client) -> None:
    response = await shared_client.get("/api/v1/no-such-thing")
    assert response.status == 404
    body = await response.json()
    spec = await document(shared_client)
    jsonschema.validate(body, spec["components"]["schemas"]["Error"])
    assert body["error"]["code"] == "E613"
