"""One-time form nonces and the guard that runs each money request once.

Every money form carries a fresh nonce (hidden field ``nonce``); it becomes the vend's
idempotency key (``web:<nonce>``; the API's own keys are ``api:<key>``). The services return the
first result for a key they have seen, but only once the vend exists: a double click arrives while
the first request is still reading the meter. :class:`OnceGuard` closes that gap in-process: a
second request with a key that is still running waits for the first one's outcome instead of
starting its own, so both get the same result and the same receipt.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from web.errors import BAD_INPUT, WebError
from web.forms import Fields

T = TypeVar("T")

NONCE_FIELD = "nonce"
_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def form_key(fields: Fields) -> str:
    """The idempotency key of a submitted money form (E606 when the nonce is missing)."""
    return "web:" + _checked(fields.text(NONCE_FIELD, required=True, max_len=64), NONCE_FIELD)


def api_key(fields: Fields) -> str:
    """The idempotency key an API client chose (``idempotency_key``, 16-64 URL-safe chars)."""
    name = "idempotency_key"
    return "api:" + _checked(fields.text(name, required=True, max_len=64), name)


def _checked(value: str, field: str) -> str:
    if not _NONCE.match(value):
        raise WebError(BAD_INPUT, field=field, problem="nonce")
    return value


class OnceGuard:
    """Runs the work of a key once at a time; concurrent callers share the first one's outcome.

    The work runs as its own task, shielded: a browser that goes away mid-sale does not cancel
    the sale (its outcome is recorded and shown to whoever asks with the same key).
    """

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Future[Any]] = {}

    async def run(self, key: str, work: Callable[[], Awaitable[T]]) -> T:
        future = self._running.get(key)
        if future is None:
            future = asyncio.ensure_future(work())
            self._running[key] = future
            future.add_done_callback(lambda _: self._running.pop(key, None))
        result: T = await asyncio.shield(future)
        return result

    @property
    def running(self) -> int:
        return len(self._running)
