"""Login, logout, language, and changing one's own password (F5.5).

The factory operator (``operator`` / ``00000000``) and anyone whose password was reset must
change it before anything else: the security middleware sends every other page here.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from gateway.store import auth, operators, siteinfo
from gateway.store.errors import AuthenticationError, StoreError
from web.audit import audited
from web.errors import (
    CONFIRM_MISMATCH,
    CSRF_FAILED,
    THROTTLED,
    WRONG_PASSWORD,
    WebError,
    describe,
)
from web.forms import Fields
from web.i18n import LANGUAGES, Lang, as_lang
from web.keys import CONFIG, CONTEXT, DATABASE, SESSIONS, TEXTS, THROTTLE, context, operator
from web.render import flash_key, json_response, redirect, render
from web.routes import PUBLIC, SIGNED_IN, RouteTable
from web.schemas import BOOLEAN, ERROR, INTEGER, OK, STRING, answers, array, obj
from web.security.middleware import LANG_COOKIE
from web.security.sessions import COOKIE, Session

routes = RouteTable()

LOGIN_CSRF_COOKIE = "pg_login"
LANG_SETTING = "web.language.operator.{id}"

OPERATOR_SCHEMA = obj(
    {
        "id": INTEGER,
        "name": STRING,
        "display_name": STRING,
        "permissions": array(STRING),
        "must_change_password": BOOLEAN,
    }
)
SESSION_SCHEMA = obj(
    {"operator": OPERATOR_SCHEMA, "csrf_token": STRING, "language": {"enum": list(LANGUAGES)}}
)


def operator_json(op: operators.Operator) -> dict[str, Any]:
    return {
        "id": op.id,
        "name": op.name,
        "display_name": op.display_name,
        "permissions": sorted(op.permissions),
        "must_change_password": op.must_change_password,
    }


def _safe_next(value: str | None) -> str:
    """Only a path on this server (no scheme, no host, no '//' trick)."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or "\\" in value:
        return "/"
    return value


def _client_address(request: web.Request) -> str:
    return request.remote or "unknown"


def _set_session_cookie(
    request: web.Request, response: web.StreamResponse, session: Session
) -> None:
    response.set_cookie(
        COOKIE,
        session.token,
        httponly=True,
        secure=request.app[CONFIG].tls,
        samesite="Strict",
        path="/",
    )


async def _login(
    request: web.Request, name: str, password: str
) -> tuple[Session, operators.Operator]:
    """Throttle, authenticate (the store logs every outcome), open a session."""
    throttle = request.app[THROTTLE]
    address = _client_address(request)
    wait = throttle.wait_seconds(name, address)
    if wait:
        raise WebError(THROTTLED, 429, seconds=wait)
    try:
        found = await auth.authenticate(request.app[DATABASE], name, password)
    except StoreError:
        throttle.failure(name, address)
        raise
    throttle.success(name, address)
    db = request.app[DATABASE]
    stored = await db.read(siteinfo.get_setting, LANG_SETTING.format(id=found.id))
    lang = as_lang(stored, context(request).lang)
    session = request.app[SESSIONS].create(found.id, lang)
    return session, found


@routes.page("GET", "/login", name="login", permission=PUBLIC)
async def login_page(request: web.Request) -> web.StreamResponse:
    wanted = request.query.get("lang")
    if wanted not in LANGUAGES:
        return _login_form(request)
    request[CONTEXT] = replace(context(request), lang=as_lang(wanted))
    response = _login_form(request)
    response.set_cookie(
        LANG_COOKIE, as_lang(wanted), samesite="Strict", path="/", max_age=3 * 365 * 86400
    )
    return response


def _login_form(
    request: web.Request, *, error: Any = None, name: str = "", status: int = 200
) -> web.StreamResponse:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        status=status,
        title_key="login.title",
        login_token=token,
        error=error,
        name=name,
        next=_safe_next(request.query.get("next")),
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        secure=request.app[CONFIG].tls,
        samesite="Strict",
        path="/login",
    )
    return response


def _check_login_token(cookie: str, presented: str) -> None:
    """A login form posted from another site carries no matching cookie (double submit)."""
    if not cookie or not secrets.compare_digest(cookie, presented):
        raise WebError(CSRF_FAILED, 403)


@routes.page("POST", "/login", name="login_submit", permission=PUBLIC)
async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name = str(form.get("name", "")).strip()
    lang = context(request).lang
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    presented = str(form.get("_login", ""))
    try:
        _check_login_token(cookie, presented)
        session, found = await _login(request, name, str(form.get("password", "")))
    except (WebError, StoreError) as exc:
        status = exc.status if isinstance(exc, WebError) else 401
        return _login_form(
            request, error=describe(exc, lang, request.app[TEXTS]), name=name, status=status
        )
    target = "/password" if found.must_change_password else _safe_next(str(form.get("next", "")))
    response = web.HTTPSeeOther(location=target)
    _set_session_cookie(request, response, session)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/login")
    raise response


@routes.page("POST", "/logout", name="logout", permission=SIGNED_IN, before_password_change=True)
async def logout(request: web.Request) -> web.StreamResponse:
    await _logout(request)
    response = web.HTTPSeeOther(location="/login")
    response.del_cookie(COOKIE, path="/")
    raise response


async def _logout(request: web.Request) -> None:
    ctx = context(request)
    assert ctx.session is not None
    request.app[SESSIONS].drop(ctx.session.token)
    await audited(request, "auth.logout", f"operator:{operator(request).name}", lambda c: None)


@routes.page("POST", "/lang", name="language", permission=SIGNED_IN, before_password_change=True)
async def language(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    lang = await _set_language(request, as_lang(form.get("lang")))
    response = web.HTTPSeeOther(location=_safe_next(str(form.get("next", "/"))))
    response.set_cookie(LANG_COOKIE, lang, samesite="Strict", path="/", max_age=3 * 365 * 86400)
    raise response


async def _set_language(request: web.Request, lang: Lang) -> Lang:
    ctx = context(request)
    assert ctx.session is not None
    me = operator(request)
    ctx.session.lang = lang
    await audited(
        request,
        "operator.language",
        f"operator:{me.name}",
        lambda c: siteinfo.set_setting(c, LANG_SETTING.format(id=me.id), lang),
        detail={"language": lang},
    )
    return lang


@routes.page(
    "GET",
    "/password",
    name="password",
    permission=SIGNED_IN,
    feature="F5.5",
    before_password_change=True,
)
async def password_page(request: web.Request) -> web.StreamResponse:
    return render(request, "password.html", title_key="menu.password", forced=_forced(request))


def _forced(request: web.Request) -> bool:
    return operator(request).must_change_password


async def _change_password(request: web.Request, fields: Fields) -> operators.Operator:
    old = fields.text("old_password", required=True, max_len=128)
    new = fields.text("new_password", required=True, max_len=128)
    confirm = fields.text("confirm_password", required=True, max_len=128)
    if new != confirm:
        raise WebError(CONFIRM_MISMATCH, field="confirm_password")
    me = operator(request)
    try:
        changed = await auth.change_password(request.app[DATABASE], me.id, old, new)
    except AuthenticationError as exc:
        raise WebError(WRONG_PASSWORD, field="old_password") from exc
    ctx = context(request)
    assert ctx.session is not None
    sessions = request.app[SESSIONS]
    sessions.drop_operator(me.id, keep=ctx.session.token)
    sessions.rotate(ctx.session)
    return changed


@routes.page(
    "POST",
    "/password",
    name="password_submit",
    permission=SIGNED_IN,
    feature="F5.5",
    before_password_change=True,
)
async def password_submit(request: web.Request) -> web.StreamResponse:
    try:
        await _change_password(request, await Fields.from_form(request))
    except (WebError, StoreError) as exc:
        found = describe(exc, context(request).lang, request.app[TEXTS])
        return render(
            request,
            "password.html",
            status=400,
            title_key="menu.password",
            forced=_forced(request),
            error=found,
        )
    ctx = context(request)
    assert ctx.session is not None
    flash_key(request, "password.changed")
    response = redirect(request, "dashboard")
    _set_session_cookie(request, response, ctx.session)
    raise response


# ---- API --------------------------------------------------------------------------------------


@routes.api(
    "POST",
    "/api/v1/session",
    name="api_login",
    permission=PUBLIC,
    summary="Sign in; answers the CSRF token to send as X-CSRF-Token with every write",
    body=obj(
        {"name": STRING, "password": STRING},
        example={"name": "nobody", "password": "wrong-password"},
    ),
    responses={200: SESSION_SCHEMA, 400: ERROR, 401: ERROR, 403: ERROR, 429: ERROR},
)
async def api_login(request: web.Request) -> web.StreamResponse:
    fields = await Fields.from_json(request)
    session, found = await _login(
        request,
        fields.text("name", required=True, max_len=64),
        fields.text("password", required=True, max_len=128),
    )
    response = json_response(
        {"operator": operator_json(found), "csrf_token": session.csrf, "language": session.lang}
    )
    _set_session_cookie(request, response, session)
    return response


@routes.api(
    "GET",
    "/api/v1/session",
    name="api_session",
    permission=SIGNED_IN,
    summary="Who is signed in, and the CSRF token of this session",
    responses=answers(SESSION_SCHEMA),
    before_password_change=True,
)
async def api_session(request: web.Request) -> web.StreamResponse:
    ctx = context(request)
    assert ctx.session is not None
    return json_response(
        {
            "operator": operator_json(operator(request)),
            "csrf_token": ctx.session.csrf,
            "language": ctx.session.lang,
        }
    )


@routes.api(
    "DELETE",
    "/api/v1/session",
    name="api_logout",
    permission=SIGNED_IN,
    summary="Sign out",
    responses=answers(OK),
    before_password_change=True,
)
async def api_logout(request: web.Request) -> web.StreamResponse:
    await _logout(request)
    response = json_response({"ok": True})
    response.del_cookie(COOKIE, path="/")
    return response


@routes.api(
    "POST",
    "/api/v1/password",
    name="api_password",
    permission=SIGNED_IN,
    feature="F5.5",
    summary="Change the signed-in operator's password (old / new / confirm)",
    body=obj(
        {"old_password": STRING, "new_password": STRING, "confirm_password": STRING},
        example={"old_password": "x", "new_password": "y", "confirm_password": "z"},
    ),
    responses={**answers(SESSION_SCHEMA, 400)},
    before_password_change=True,
)
async def api_password(request: web.Request) -> web.StreamResponse:
    changed = await _change_password(request, await Fields.from_json(request))
    ctx = context(request)
    assert ctx.session is not None
    response = json_response(
        {
            "operator": operator_json(changed),
            "csrf_token": ctx.session.csrf,
            "language": ctx.session.lang,
        }
    )
    _set_session_cookie(request, response, ctx.session)
    return response


@routes.api(
    "PUT",
    "/api/v1/session/language",
    name="api_language",
    permission=SIGNED_IN,
    summary="Switch this operator's language (zh or en)",
    body=obj({"language": {"enum": list(LANGUAGES)}}, example={"language": "zh"}),
    responses=answers(obj({"language": {"enum": list(LANGUAGES)}}), 400),
    before_password_change=True,
)
async def api_language(request: web.Request) -> web.StreamResponse:
    fields = await Fields.from_json(request)
    lang = await _set_language(request, fields.choice("language", LANGUAGES))
    return json_response({"language": lang})
