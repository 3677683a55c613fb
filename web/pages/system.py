"""System data (系统数据维护): backup download (F6.1), restore upload (F6.2), operation-log
maintenance (F6.3), clear all customer data (F6.5). F6.4, the log query, is in web.queries.

Backups go through the store's online backup (consistent while sales continue) into a file next
to the database, which is then streamed and removed. An uploaded restore is streamed to disk,
validated completely by the store before it replaces anything, and the previous database is
kept aside; afterwards everyone signs in again (operators may differ in the restored data).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from pathlib import Path
from typing import Any, BinaryIO

from aiohttp import BodyPartReader, web

from gateway.services.errors import ServiceError
from gateway.services.system import CONFIRMATIONS, SystemData
from gateway.store import operators, oplog
from gateway.store.clearall import ClearAllResult
from gateway.store.clock import compact
from web import downloads
from web.audit import log_failure
from web.errors import BAD_INPUT, CONFIRMATION_TEXT, NO_FILE, WRONG_PASSWORD, Described, WebError
from web.forms import Fields
from web.keys import CLOCK, CONFIG, DATABASE, SESSIONS, TEXTS, context, operator
from web.pages.common import described, is_operator_error, submit
from web.queries import OPLOG_FILTERS, oplog_filter
from web.render import flash_key, json_response, redirect, render
from web.routes import RouteTable
from web.schemas import INTEGER, STRING, answers, obj
from web.security.sessions import COOKIE
from web.workflow import actor_of

routes = RouteTable()

CHUNK = 256 * 1024


def _t(request: web.Request, key: str) -> str:
    return request.app[TEXTS].text(context(request).lang, key)


def _work_file(request: web.Request, stem: str, suffix: str) -> Path:
    """A private file next to the database (same disk: a backup can be large)."""
    folder = request.app[DATABASE].path.parent
    return folder / f".{stem}-{secrets.token_hex(6)}{suffix}"


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


# ---- F6.1 backup -----------------------------------------------------------------------------


@routes.page("GET", "/system/backup", name="backup", permission="system.backup", feature="F6.1")
async def backup_page(request: web.Request) -> web.StreamResponse:
    return render(request, "backup.html", title_key="menu.backup")


@routes.page(
    "POST",
    "/system/backup",
    name="backup_download",
    permission="system.backup",
    feature="F6.1",
    produces="application/vnd.sqlite3",
)
async def backup_download(request: web.Request) -> web.StreamResponse:
    """【数据备份】: a consistent copy of the database, streamed as a download."""
    db = request.app[DATABASE]
    target = _work_file(request, "web-backup", ".sqlite")
    name = f"prepaid-gateway-backup-{compact(request.app[CLOCK]())}.sqlite"
    try:
        result = await db.backup(target, operator_id=operator(request).id)
        handle: BinaryIO = await asyncio.to_thread(open, target, "rb")
        _remove(target)  # the open handle keeps the data until the download ends
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/vnd.sqlite3",
                "Content-Disposition": f'attachment; filename="{name}"',
                "Content-Length": str(result.size_bytes),
            }
        )
        posted = (await request.post()).get(downloads.FIELD)
        downloads.mark_started(
            response,
            downloads.token_of(request, posted if isinstance(posted, str) else ""),
            secure=request.app[CONFIG].tls,
        )
        try:
            await response.prepare(request)
            while chunk := await asyncio.to_thread(handle.read, CHUNK):
                await response.write(chunk)
            await response.write_eof()
        finally:
            await asyncio.to_thread(handle.close)
        return response
    finally:
        _remove(target)


# ---- F6.2 restore ----------------------------------------------------------------------------


async def _receive_upload(request: web.Request, target: Path) -> int:
    """Stream the multipart field ``file`` to ``target``; returns its size (0: none chosen)."""
    if request.content_type != "multipart/form-data":
        raise WebError(NO_FILE, field="file")
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, BodyPartReader) or part.name != "file":
            continue
        handle: BinaryIO = await asyncio.to_thread(open, target, "wb")
        size = 0
        try:
            while chunk := await part.read_chunk(CHUNK):
                size += len(chunk)
                await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(os.fsync, handle.fileno())
        finally:
            await asyncio.to_thread(handle.close)
        if size:
            return size
    raise WebError(NO_FILE, field="file")


@routes.page("GET", "/system/restore", name="restore", permission="system.restore", feature="F6.2")
async def restore_page(request: web.Request) -> web.StreamResponse:
    return render(request, "restore.html", title_key="menu.restore")


@routes.page(
    "POST", "/system/restore", name="restore_upload", permission="system.restore", feature="F6.2"
)
async def restore_upload(request: web.Request) -> web.StreamResponse:
    """【数据恢复】: validated first; the live database is untouched if the file is refused."""
    db = request.app[DATABASE]
    upload = _work_file(request, "web-restore", ".sqlite")
    me = operator(request)
    try:
        await _receive_upload(request, upload)
        await db.restore(upload, operator_id=me.id)
    except Exception as exc:
        if not is_operator_error(exc):
            raise
        if not isinstance(exc, WebError):
            await log_failure(request, "system.restore", "upload", exc)
        return render(
            request,
            "restore.html",
            status=400,
            title_key="menu.restore",
            error=described(request, exc),
        )
    finally:
        await asyncio.to_thread(_remove, upload)
    # The restored data has its own operators and passwords: everyone signs in again.
    sessions = request.app[SESSIONS]
    for operator_id in {s.operator_id for s in list(sessions._sessions.values())}:
        sessions.drop_operator(operator_id)
    response = web.HTTPSeeOther(location="/login?restored=1")
    response.del_cookie(COOKIE, path="/")
    raise response


# ---- F6.3 operation-log maintenance ----------------------------------------------------------


def _condition(fields: Fields) -> Any:
    flt = oplog_filter(fields)
    if flt == type(flt)():
        raise WebError(BAD_INPUT, field="until", problem="condition")
    return flt


@routes.page(
    "GET", "/oplog/maintain", name="oplog_maintain", permission="oplog.maintain", feature="F6.3"
)
async def oplog_maintain(request: web.Request) -> web.StreamResponse:
    return await _maintain_page(request)


async def _maintain_page(
    request: web.Request, error: Described | None = None, form: Any = None, status: int = 200
) -> web.StreamResponse:
    people = await request.app[DATABASE].read(operators.list_all, include_inactive=True)
    return render(
        request,
        "oplog_maintain.html",
        status=status,
        title_key="menu.oplog_maintain",
        filters=OPLOG_FILTERS,
        form=form or {},
        error=error,
        choice_pairs=lambda f: [(v, _t(request, k)) for v, k in f.choices],
        operator_options=[(p.id, p.display_name or p.name) for p in people],
    )


async def _delete_log(request: web.Request, fields: Fields) -> oplog.OpLogEntry:
    flt = _condition(fields)
    me = operator(request)
    # The deletion writes its own record (oplog.delete) in the same transaction.
    return await request.app[DATABASE].write(oplog.delete_where, flt, operator_id=me.id)


@routes.page(
    "POST", "/oplog/maintain", name="oplog_delete", permission="oplog.maintain", feature="F6.3"
)
async def oplog_delete(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        entry = await _delete_log(request, Fields(form))
    except Exception as exc:
        if not is_operator_error(exc):
            raise
        return await _maintain_page(request, described(request, exc), form, 400)
    flash_key(request, "oplog.deleted", count=int(entry.detail.get("removed", 0)))
    raise redirect(request, "oplog_maintain")


@routes.api(
    "POST",
    "/api/v1/oplog/delete",
    name="api_oplog_delete",
    permission="oplog.maintain",
    feature="F6.3",
    summary="Delete log entries matching the condition (the deletion is itself logged)",
    body=obj(
        {
            "since": STRING,
            "until": STRING,
            "operator": INTEGER,
            "action": STRING,
            "text": STRING,
            "result": {"enum": ["ok", "error"]},
        },
        required=(),
        example={"until": "2000-01-01"},
    ),
    responses=answers(obj({"removed": INTEGER, "record_id": INTEGER}), 400),
)
async def api_oplog_delete(request: web.Request) -> web.StreamResponse:
    entry = await _delete_log(request, await Fields.from_json(request))
    return json_response({"removed": int(entry.detail.get("removed", 0)), "record_id": entry.id})


# ---- F6.5 clear all customer data ------------------------------------------------------------


async def _clear(request: web.Request, fields: Fields) -> ClearAllResult:
    """F6.5 through the service that owns its rules (password, phrase, one transaction that
    logs what it removed); a refusal is logged here, where the operator's attempt is seen."""
    password = fields.text("password", required=True, max_len=128)
    phrase = fields.text("confirmation", required=True, max_len=64)
    try:
        return await SystemData(request.app[DATABASE]).clear_all(
            actor_of(request), password, phrase
        )
    except ServiceError as refused:
        if refused.code == "E509":
            exc = WebError(WRONG_PASSWORD, 403, field="password")
        elif refused.code == "E502":
            exc = WebError(CONFIRMATION_TEXT, field="confirmation")
        else:
            raise
        await log_failure(request, "system.clear_all", "customer data", exc)
        raise exc from None


@routes.page("GET", "/system/clear", name="clear_all", permission="system.clear", feature="F6.5")
async def clear_page(request: web.Request) -> web.StreamResponse:
    return render(request, "clear_all.html", title_key="menu.clear_all", phrases=CONFIRMATIONS)


@routes.page(
    "POST", "/system/clear", name="clear_all_submit", permission="system.clear", feature="F6.5"
)
async def clear_submit(request: web.Request) -> web.StreamResponse:
    async def work() -> None:
        await _clear(request, await Fields.from_form(request))

    async def on_error(error: Described, form: Any) -> web.StreamResponse:
        return render(
            request,
            "clear_all.html",
            status=400,
            title_key="menu.clear_all",
            phrases=CONFIRMATIONS,
            error=error,
        )

    return await submit(request, work, done_key="clear.done", to="clear_all", on_error=on_error)


@routes.api(
    "POST",
    "/api/v1/system/clear",
    name="api_clear_all",
    permission="system.clear",
    feature="F6.5",
    summary="Clear all customer data (current password and the confirmation phrase)",
    body=obj(
        {"password": STRING, "confirmation": {"enum": list(CONFIRMATIONS)}},
        example={"password": "wrong", "confirmation": "CLEAR ALL CUSTOMER DATA"},
    ),
    responses=answers(obj({"removed": {"type": "object"}}), 400),
)
async def api_clear(request: web.Request) -> web.StreamResponse:
    result = await _clear(request, await Fields.from_json(request))
    return json_response({"removed": result.removed})
