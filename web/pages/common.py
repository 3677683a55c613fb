"""What page handlers share: recognising operator-facing errors, the post/redirect/get step, and
the ``{id}`` of an item's URLs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from web.errors import Described, describe
from web.keys import TEXTS, context
from web.render import flash_key, redirect

# What shows a form again with an operator error and the posted values (``submit``'s on_error).
ErrorPage = Callable[[Described, Mapping[str, Any]], Awaitable[web.StreamResponse]]

# The ``{id}`` of a registry item's URLs (aiohttp pattern; OpenAPI shows it as ``{id}``).
ID_PATH = r"{id:\d+}"


def path_id(request: web.Request) -> int:
    return int(request.match_info["id"])


def is_operator_error(exc: BaseException) -> bool:
    """Coded errors (E + 3 digits) are for the operator; anything else is a bug."""
    code = getattr(exc, "code", None)
    return isinstance(code, str) and len(code) == 4 and code[0] == "E" and code[1:].isdigit()


def described(request: web.Request, exc: BaseException) -> Described:
    return describe(exc, context(request).lang, request.app[TEXTS])


async def submit(
    request: web.Request,
    work: Callable[[], Awaitable[Any]],
    *,
    done_key: str,
    to: str,
    on_error: ErrorPage,
    to_parts: Mapping[str, Any] | None = None,
    **done_params: Any,
) -> web.StreamResponse:
    """Run a form's action; on success flash ``done_key`` and redirect to route ``to`` (so a
    reload never resubmits); on an operator error show the form again with what was typed."""
    try:
        await work()
    except Exception as exc:
        if not is_operator_error(exc):
            raise
        posted = dict(await request.post()) if request.can_read_body or request.body_exists else {}
        return await on_error(described(request, exc), posted)
    flash_key(request, done_key, **done_params)
    raise redirect(request, to, **(to_parts or {}))


def page_number(request: web.Request, name: str = "offset") -> int:
    value = request.query.get(name, "0")
    return int(value) if value.isdigit() else 0
