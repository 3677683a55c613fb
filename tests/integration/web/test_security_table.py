"""Every route of the route table, three ways: no session, an operator without the route's
permission, and an operator with it. Pages redirect to the login; the API answers 401 JSON;
a missing permission is 403 with code E603 whatever the route."""

from __future__ import annotations

import re

import pytest
from aiohttp.test_utils import TestClient

from gateway.store.permissions import ALL_CODES
from web.app import route_tables
from web.keys import DATABASE
from web.routes import PUBLIC, SIGNED_IN, Route, Routes

from .conftest import make_operator, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROUTES = Routes(route_tables())
GUARDED = [r for r in ROUTES if r.permission != PUBLIC]
WITH_PERMISSION = [r for r in GUARDED if r.permission != SIGNED_IN]
STREAMS = {"frames_stream"}


def concrete(route: Route) -> str:
    return re.sub(r"\{[^}]+\}", "999999", route.path)


async def call(client: TestClient, route: Route, csrf: str | None = None) -> tuple[int, str, str]:  # type: ignore[type-arg]
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    response = await client.request(
        route.method, concrete(route), headers=headers, allow_redirects=False
    )
    try:
        if route.name in STREAMS:
            return response.status, response.headers.get("Location", ""), ""
        body = (await response.read()).decode("utf-8", errors="replace")
        return response.status, response.headers.get("Location", ""), body
    finally:
        response.close()


async def test_public_routes_are_only_the_sign_in_and_the_api_description() -> None:
    public = {r.name for r in ROUTES if r.permission == PUBLIC}
    assert public == {"login", "login_submit", "api_login", "api_openapi"}


async def test_every_route_names_a_known_permission() -> None:
    for route in ROUTES:
        assert route.permission in ALL_CODES | {PUBLIC, SIGNED_IN}, route.name


@pytest.mark.parametrize("route", GUARDED, ids=lambda r: r.name)
async def test_refused_without_a_session(shared_client: TestClient, route: Route) -> None:  # type: ignore[type-arg]
    shared_client.session.cookie_jar.clear()
    status, location, body = await call(shared_client, route)
    if route.kind == "api":
        assert status == 401
        assert '"code":"E601"' in body
    else:
        assert status == 303
        assert location.startswith("/login")


@pytest.mark.parametrize("route", WITH_PERMISSION, ids=lambda r: r.name)
async def test_refused_without_the_permission(
    shared_client: TestClient,  # type: ignore[type-arg]
    route: Route,
) -> None:
    db = shared_client.app[DATABASE]
    lacking = await make_operator(db, f"lacking-{route.name}", ALL_CODES - {route.permission})
    csrf = sign_in(shared_client, lacking.id)
    status, _, body = await call(shared_client, route, csrf)
    assert status == 403
    assert "E603" in body


@pytest.mark.parametrize("route", GUARDED, ids=lambda r: r.name)
async def test_accepted_with_the_permission(
    shared_client: TestClient,  # type: ignore[type-arg]
    route: Route,
) -> None:
    db = shared_client.app[DATABASE]
    granted = set() if route.permission == SIGNED_IN else {route.permission}
    holder = await make_operator(db, f"holder-{route.name}", granted)
    csrf = sign_in(shared_client, holder.id)
    status, location, body = await call(shared_client, route, csrf)
    # Past the checks: the handler ran. Empty input may be refused (400/404/409) with a code.
    assert status not in (401, 403, 500), body[:500]
    if route.name != "logout":
        assert not location.startswith("/login")
    if status >= 400:
        assert re.search(r"E\d{3}", body), body[:500]


async def test_must_change_password_blocks_everything_but_the_change(
    shared_client: TestClient,  # type: ignore[type-arg]
) -> None:
    client = shared_client
    fresh = await make_operator(client.app[DATABASE], "fresh", ALL_CODES, must_change=True)
    sign_in(client, fresh.id)
    page = await client.get("/lines", allow_redirects=False)
    assert page.status == 303
    assert page.headers["Location"] == "/password"
    api = await client.get("/api/v1/lines")
    assert api.status == 403
    assert (await api.json())["error"]["code"] == "E602"
    allowed = await client.get("/password")
    assert allowed.status == 200
