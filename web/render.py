"""Pages from Jinja2 templates, JSON answers, and the error answer for both.

Templates get the operator's language through ``t('key')``, the CSRF token through
``csrf_field()``, URLs by route name through ``url('name', id=3)``, the menu filtered by the
operator's permissions, and the display filters ``yuan``, ``kwh``, ``price``, ``when``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import Markup

from web import formatting
from web.errors import Described, WebError, describe
from web.i18n import Lang
from web.keys import CONFIG, CONTEXT, PRINTER, ROUTES, TEMPLATES, TEXTS, RequestContext
from web.menu import MENU, MenuSection, section_of
from web.routes import SIGNED_IN

JSON_TYPE = "application/json"


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates ship with the package; no stat() per render
    )
    env.filters["yuan"] = formatting.yuan
    env.filters["kwh"] = formatting.kwh
    env.filters["price"] = formatting.price
    env.filters["when"] = formatting.local_time
    return env


def _context(request: web.Request) -> RequestContext:
    if CONTEXT in request:
        return request[CONTEXT]
    lang: Lang = request.app[CONFIG].language
    return RequestContext(None, lang, None, None)


def visible_menu(request: web.Request, ctx: RequestContext) -> list[dict[str, Any]]:
    """The manual's menu with the items this operator may open."""
    routes = request.app[ROUTES].by_name
    shown: list[dict[str, Any]] = []
    for section in MENU:
        items = []
        for item in section.items:
            route = routes.get(item.route)
            if route is None:
                continue
            if route.permission == SIGNED_IN or ctx.can(route.permission):
                items.append(
                    {
                        "route": item.route,
                        "title": item.title,
                        "features": item.features,
                        "fids": "–".join(dict.fromkeys((item.features[0], item.features[-1])))
                        if item.features
                        else "",
                        "href": route.path,
                    }
                )
        if items:
            shown.append({"key": section.key, "title": section.title, "items": items})
    return shown


def page_context(request: web.Request) -> dict[str, Any]:
    ctx = _context(request)
    texts = request.app[TEXTS]
    lang = ctx.lang
    router = request.app.router
    route_name = ctx.route.name if ctx.route is not None else ""
    section: MenuSection | None = section_of(route_name)
    csrf = ctx.session.csrf if ctx.session is not None else ""

    def t(key: str, **params: Any) -> str:
        return texts.text(lang, key, **params)

    def url(name: str, **parts: Any) -> str:
        resource = router[name]
        return str(resource.url_for(**{k: str(v) for k, v in parts.items()}))

    def csrf_field() -> Markup:
        return Markup('<input type="hidden" name="_csrf" value="{}">').format(csrf)

    flashes: list[tuple[str, str]] = []
    if ctx.session is not None and ctx.session.flashes:
        flashes, ctx.session.flashes = ctx.session.flashes, []
    return {
        "ctx": ctx,
        "lang": lang,
        "operator": ctx.operator,
        "t": t,
        "url": url,
        "csrf": csrf,
        "csrf_field": csrf_field,
        "menu": visible_menu(request, ctx) if ctx.operator is not None else [],
        "route_name": route_name,
        "section_key": section.key if section is not None else "",
        "flashes": flashes,
        "frames": False,
        "request_path": request.path,
        # 【小票打印】 next to the browser print buttons when a receipt printer is configured.
        "direct_print": request.app[PRINTER].enabled,
    }


def render(
    request: web.Request,
    template_name: str,
    /,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    **values: Any,
) -> web.Response:
    env = request.app[TEMPLATES]
    context = page_context(request)
    context.update(values)
    body = env.get_template(template_name).render(context)
    return web.Response(
        text=body, status=status, content_type="text/html", charset="utf-8", headers=headers
    )


def json_response(data: Any, *, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(data, ensure_ascii=False, separators=(",", ":")),
        status=status,
        content_type=JSON_TYPE,
        charset="utf-8",
    )


def error_body(found: Described, field: str | None = None) -> dict[str, Any]:
    return {
        "error": {
            "code": found.code,
            "message": found.message,
            "remedy": found.remedy,
            "field": field,
        }
    }


def status_of(exc: BaseException) -> int:
    if isinstance(exc, WebError):
        return exc.status
    code = getattr(exc, "code", "")
    if code in ("E304",):
        return 404
    if code == "E314":
        return 401
    if code in ("E315", "E501"):
        return 403
    if code in ("E305", "E306", "E307", "E308", "E311", "E312", "E506", "E510", "E513"):
        return 409
    if code in ("E507", "E511"):
        return 502  # the meter did not answer or did not do it: the gateway's upstream failed
    if isinstance(code, str) and code.startswith("E") and code != "E699":
        return 400 if code[1] in "0123456" else 502
    return 500


def json_error(request: web.Request, exc: BaseException) -> web.Response:
    ctx = _context(request)
    found = describe(exc, ctx.lang, request.app[TEXTS])
    field = getattr(exc, "field", None)
    return json_response(
        error_body(found, field if isinstance(field, str) else None), status=status_of(exc)
    )


def error_page(
    request: web.Request, exc: BaseException, *, status: int | None = None
) -> web.Response:
    ctx = _context(request)
    found = describe(exc, ctx.lang, request.app[TEXTS])
    return render(
        request, "error.html", status=status or status_of(exc), error=found, back=request.path
    )


def flash(request: web.Request, kind: str, text: str) -> None:
    ctx = _context(request)
    if ctx.session is not None:
        ctx.session.flashes.append((kind, text))


def flash_key(request: web.Request, key: str, **params: Any) -> None:
    ctx = _context(request)
    flash(request, "ok", request.app[TEXTS].text(ctx.lang, key, **params))


def redirect(request: web.Request, name: str, **parts: Any) -> web.HTTPSeeOther:
    """A 303-style redirect after a POST to the named route (PRG, so reload never resubmits)."""
    location = request.app.router[name].url_for(**{k: str(v) for k, v in parts.items()})
    return web.HTTPSeeOther(location=str(location))
