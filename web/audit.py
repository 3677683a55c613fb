"""Every state-changing action of the UI and API writes the operation log (F6.4).

:func:`audited` runs a store function and appends the log entry in the same transaction, so a
change without its log entry cannot happen. A refused action (bad input, record in use) is
logged too, with ``result = error`` and its code, in a transaction of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from aiohttp import web

from gateway.store import oplog
from gateway.store.conn import Conn
from web.errors import describe
from web.keys import DATABASE, context

R = TypeVar("R")


async def audited(
    request: web.Request,
    action: str,
    target: str | Callable[[R], str],
    fn: Callable[[Conn], R],
    *,
    detail: Mapping[str, Any] | None = None,
) -> R:
    """``fn(conn)`` plus its log entry, in one write transaction.

    ``target`` names the object (``line:3``); a callable gets the result (for created rows).
    """
    ctx = context(request)
    operator_id = ctx.operator.id if ctx.operator is not None else None

    def body(c: Conn) -> R:
        result = fn(c)
        named = target(result) if callable(target) else target
        oplog.append(c, action, operator_id=operator_id, target=named, detail=detail or {})
        return result

    db = request.app[DATABASE]
    try:
        return await db.write(body)
    except Exception as exc:
        await log_failure(request, action, target if isinstance(target, str) else "", exc, detail)
        raise


async def log_failure(
    request: web.Request,
    action: str,
    target: str,
    exc: BaseException,
    detail: Mapping[str, Any] | None = None,
) -> None:
    ctx = context(request)
    code = describe(exc, "en").code
    await request.app[DATABASE].write(
        oplog.append,
        action,
        operator_id=ctx.operator.id if ctx.operator is not None else None,
        target=target,
        detail={**(detail or {}), "error": str(exc)[:500]},
        result="error",
        error_code=code,
    )


async def log_event(
    request: web.Request,
    action: str,
    target: str = "",
    detail: Mapping[str, Any] | None = None,
    *,
    operator_id: int | None = None,
    operator_name: str | None = None,
    result: str = "ok",
    error_code: str | None = None,
) -> None:
    """A log entry for an action that is not a store write (login, logout, refusals)."""
    if operator_id is None and operator_name is None:
        ctx = context(request)
        operator_id = ctx.operator.id if ctx.operator is not None else None
    await request.app[DATABASE].write(
        oplog.append,
        action,
        operator_id=operator_id,
        operator_name=operator_name,
        target=target,
        detail=dict(detail or {}),
        result=result,
        error_code=error_code,
    )
