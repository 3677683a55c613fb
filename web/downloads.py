"""Telling the page that a prepared download has started (big exports, backups).

Building an export or a backup can take a while before the first byte goes out, and a browser
shows nothing for a download until then. The page adds a random ``download`` token to the
request and shows "preparing…"; the response carries the token back in a short-lived cookie,
which the page watches for, so it knows the file is on its way.
"""

from __future__ import annotations

import re

from aiohttp import web

COOKIE = "pg_download"
FIELD = "download"
_TOKEN = re.compile(r"^[a-z0-9]{8,32}$")


def token_of(request: web.Request, posted: str | None = None) -> str | None:
    value = posted if posted is not None else request.query.get(FIELD)
    return value if value and _TOKEN.match(value) else None


def mark_started(response: web.StreamResponse, token: str | None, *, secure: bool) -> None:
    """Before ``prepare``: the cookie the waiting page looks for."""
    if token is None:
        return
    response.set_cookie(
        COOKIE, token, max_age=60, path="/", samesite="Strict", secure=secure, httponly=False
    )
