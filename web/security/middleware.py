"""The one place every request is checked: session, forced password change, CSRF, permission.

The matched route's entry in the route table says what it needs. Pages answer a refusal with a
redirect (to the login or the change-password page) or an error page; the API answers JSON with
a code: 401 E601 without a session, 403 E602 while the factory password is unchanged, 403 E604
for a missing CSRF token, 403 E603 without the route's permission.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.store import operators
from gateway.store.errors import StoreError
from web.audit import log_event
from web.errors import (
    CSRF_FAILED,
    FORBIDDEN,
    MUST_CHANGE_PASSWORD,
    NOT_FOUND,
    NOT_LOGGED_IN,
    WebError,
)
from web.i18n import as_lang
from web.keys import CONFIG, CONTEXT, DATABASE, ROUTES, SESSIONS, RequestContext
from web.render import error_page, json_error
from web.routes import PUBLIC, SIGNED_IN, Route
from web.security.sessions import COOKIE, Session, csrf_ok

log = logging.getLogger(__name__)

LANG_COOKIE = "pg_lang"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "_csrf"


def _is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


async def _presented_csrf(request: web.Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.content_type == "application/x-www-form-urlencoded":
        value = (await request.post()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    if request.content_type == "multipart/form-data":
        # Uploads are streamed by their handler, so the body is not read here: multipart forms
        # carry the token in their action URL instead.
        return request.query.get(CSRF_FIELD)
    return None


def _refuse(request: web.Request, exc: WebError) -> web.StreamResponse:
    if _is_api(request):
        return json_error(request, exc)
    return error_page(request, exc)


@web.middleware
async def security_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    routes = request.app[ROUTES]
    name = request.match_info.route.name
    route: Route | None = routes.by_name.get(name) if name else None
    config = request.app[CONFIG]
    sessions = request.app[SESSIONS]
    session: Session | None = sessions.get(request.cookies.get(COOKIE))
    lang = session.lang if session else as_lang(request.cookies.get(LANG_COOKIE), config.language)

    if route is None:
        # Static files and aiohttp's own 404/405 answers.
        request[CONTEXT] = RequestContext(None, lang, session, None)
        return await handler(request)
    if route.permission == PUBLIC:
        request[CONTEXT] = RequestContext(route, lang, session, None)
        return await handler(request)

    operator = None
    if session is not None:
        try:
            operator = await request.app[DATABASE].read(operators.get, session.operator_id)
        except StoreError:
            operator = None
        if operator is None or not operator.active or operator.locked:
            sessions.drop(session.token)
            session, operator = None, None
    if session is None or operator is None:
        request[CONTEXT] = RequestContext(route, lang, None, None)
        if _is_api(request):
            return json_error(request, WebError(NOT_LOGGED_IN, 401))
        target = "/login"
        if request.method == "GET" and request.path != "/":
            target += "?next=" + quote(request.path_qs, safe="")
        raise web.HTTPSeeOther(location=target)

    ctx = RequestContext(route, session.lang, session, operator)
    request[CONTEXT] = ctx
    if operator.must_change_password and not route.before_password_change:
        if _is_api(request):
            return json_error(request, WebError(MUST_CHANGE_PASSWORD, 403))
        raise web.HTTPSeeOther(location="/password")
    if route.writes and not csrf_ok(session, await _presented_csrf(request)):
        await log_event(
            request, "web.csrf_refused", route.name, result="error", error_code=CSRF_FAILED
        )
        return _refuse(request, WebError(CSRF_FAILED, 403))
    if route.permission != SIGNED_IN and route.permission not in operator.permissions:
        if route.writes:
            await log_event(
                request, "web.forbidden", route.name, result="error", error_code=FORBIDDEN
            )
        return _refuse(request, WebError(FORBIDDEN, 403))
    return await handler(request)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Coded errors a handler did not deal with become a JSON error or an error page."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status == 404:
            missing = WebError(NOT_FOUND, 404)
            if CONTEXT not in request:
                request[CONTEXT] = RequestContext(None, request.app[CONFIG].language, None, None)
            return (
                json_error(request, missing) if _is_api(request) else error_page(request, missing)
            )
        raise
    except Exception as exc:
        if CONTEXT not in request:
            request[CONTEXT] = RequestContext(None, request.app[CONFIG].language, None, None)
        if _is_api(request):
            return json_error(request, exc)
        return error_page(request, exc)
