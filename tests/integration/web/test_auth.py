"""First login with the factory password, the forced change, CSRF, throttling, idle timeout."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from gateway.store import network, oplog
from gateway.store.database import Database
from gateway.store.oplog import OpLogFilter
from gateway.store.paging import PageRequest

from .conftest import LOGIN_FIELD, PASSWORD, MovableClock, csrf_of, make_operator, sign_in

Client = TestClient  # type: ignore[type-arg]


async def login(
    client: Client, name: str, password: str, next_path: str = "/"
) -> tuple[int, str, str]:
    page = await client.get("/login")
    found = LOGIN_FIELD.search(await page.text())
    assert found
    response = await client.post(
        "/login",
        data={"name": name, "password": password, "_login": found.group(1), "next": next_path},
        allow_redirects=False,
    )
    return response.status, response.headers.get("Location", ""), await response.text()


async def actions(db: Database) -> list[tuple[str, str]]:
    page = await db.read(oplog.query, OpLogFilter(), PageRequest(limit=200))
    return [(e.action, e.result) for e in page.items]


async def test_first_login_forces_the_password_change(client: Client, db: Database) -> None:
    status, location, _ = await login(client, "operator", "00000000")
    assert (status, location) == (303, "/password")
    # Every other page sends the operator back to the change.
    dashboard = await client.get("/", allow_redirects=False)
    assert dashboard.headers["Location"] == "/password"
    form = await client.get("/password")
    text = await form.text()
    assert "首次登录" in text
    csrf = csrf_of(text)
    # The factory password cannot be kept, and the confirmation must match.
    weak = await client.post(
        "/password",
        data={
            "_csrf": csrf,
            "old_password": "00000000",
            "new_password": "00000000",
            "confirm_password": "00000000",
        },
    )
    assert weak.status == 400
    assert "E313" in await weak.text()
    mismatch = await client.post(
        "/password",
        data={
            "_csrf": csrf,
            "old_password": "00000000",
            "new_password": "new-secret-1",
            "confirm_password": "new-secret-2",
        },
    )
    assert "E607" in await mismatch.text()
    wrong_old = await client.post(
        "/password",
        data={
            "_csrf": csrf,
            "old_password": "11111111",
            "new_password": "new-secret-1",
            "confirm_password": "new-secret-1",
        },
    )
    assert "E608" in await wrong_old.text()
    done = await client.post(
        "/password",
        data={
            "_csrf": csrf,
            "old_password": "00000000",
            "new_password": "new-secret-1",
            "confirm_password": "new-secret-1",
        },
        allow_redirects=False,
    )
    assert (done.status, done.headers["Location"]) == (303, "/")
    home = await client.get("/")
    assert home.status == 200
    assert "运行概况" in await home.text()
    # Signing in again needs the new password.
    await client.post("/logout", data={"_csrf": csrf_of(await home.text())})
    assert (await login(client, "operator", "00000000"))[0] == 401
    assert (await login(client, "operator", "new-secret-1"))[1] == "/"
    logged = await actions(db)
    assert ("operator.change_password", "ok") in logged
    assert ("auth.login", "error") in logged
    assert ("auth.logout", "ok") in logged


async def test_a_form_without_its_csrf_token_changes_nothing(client: Client, db: Database) -> None:
    admin = await make_operator(db, "admin", {"network.manage"})
    csrf = sign_in(client, admin.id)
    refused = await client.post("/lines", data={"name": "L-no-token"})
    assert refused.status == 403
    assert "E604" in await refused.text()
    forged = await client.post("/lines", data={"name": "L-forged", "_csrf": "x" * 43})
    assert forged.status == 403
    api = await client.post("/api/v1/lines", json={"name": "L-api"})
    assert api.status == 403
    assert (await api.json())["error"]["code"] == "E604"
    assert await db.read(network.list_lines) == []
    accepted = await client.post(
        "/api/v1/lines", json={"name": "L-ok"}, headers={"X-CSRF-Token": csrf}
    )
    assert accepted.status == 201
    assert [line.name for line in await db.read(network.list_lines)] == ["L-ok"]
    assert ("web.csrf_refused", "error") in await actions(db)


async def test_a_login_form_from_elsewhere_is_refused(client: Client) -> None:
    response = await client.post("/login", data={"name": "operator", "password": "00000000"})
    assert response.status == 403
    assert "E604" in await response.text()


async def test_login_throttling_per_operator(
    client: Client, db: Database, clock: MovableClock
) -> None:
    await make_operator(db, "cashier", {"network.manage"})
    for _ in range(3):  # login_max_failures = 3 in the test config
        assert (await login(client, "cashier", "wrong-password"))[0] == 401
    status, _, body = await login(client, "cashier", PASSWORD)
    assert status == 429
    assert "E605" in body
    clock.advance(seconds=31)
    assert (await login(client, "cashier", PASSWORD))[1] == "/"


async def test_login_throttling_per_address(
    client: Client, db: Database, clock: MovableClock
) -> None:
    await make_operator(db, "cashier", {"network.manage"})
    for name in ("ghost1", "ghost2", "ghost3"):
        assert (await login(client, name, "guess"))[0] == 401
    # The address is slowed down for every name, even with the right password.
    assert (await login(client, "cashier", PASSWORD))[0] == 429
    clock.advance(seconds=31)
    # Each further failure doubles the wait.
    assert (await login(client, "ghost4", "guess"))[0] == 401
    clock.advance(seconds=31)
    assert (await login(client, "cashier", PASSWORD))[0] == 429
    clock.advance(seconds=31)
    assert (await login(client, "cashier", PASSWORD))[1] == "/"


async def test_the_api_signs_in_with_json_and_sends_writes_with_the_csrf_header(
    client: Client, db: Database
) -> None:
    await make_operator(db, "integrator", {"network.manage"})
    response = await client.post(
        "/api/v1/session", json={"name": "integrator", "password": PASSWORD}
    )
    assert response.status == 200
    body = await response.json()
    assert body["operator"]["permissions"] == ["network.manage"]
    created = await client.post(
        "/api/v1/lines", json={"name": "North"}, headers={"X-CSRF-Token": body["csrf_token"]}
    )
    assert created.status == 201
    wrong = await client.post("/api/v1/session", json={"name": "integrator", "password": "nope"})
    assert wrong.status == 401
    assert (await wrong.json())["error"]["code"] == "E314"


async def test_an_idle_session_expires(client: Client, db: Database, clock: MovableClock) -> None:
    user = await make_operator(db, "idle", {"network.manage"})
    sign_in(client, user.id)
    assert (await client.get("/lines")).status == 200
    clock.advance(minutes=29)
    assert (await client.get("/lines")).status == 200  # each request restarts the idle clock
    clock.advance(minutes=31)
    expired = await client.get("/lines", allow_redirects=False)
    assert expired.status == 303
    assert expired.headers["Location"].startswith("/login?next=")


async def test_session_cookie_flags(client: Client, db: Database) -> None:
    await make_operator(db, "cookie", {"network.manage"})
    page = await client.get("/login")
    token = LOGIN_FIELD.search(await page.text())
    assert token
    response = await client.post(
        "/login",
        data={"name": "cookie", "password": PASSWORD, "_login": token.group(1)},
        allow_redirects=False,
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Content-Security-Policy" in page.headers
