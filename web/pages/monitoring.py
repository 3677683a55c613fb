"""F7.5 系统抄表: 【抄表开始】 (read all meters now, with progress), 【单只读表】, and the three
lists with their Excel exports: monitoring (online, communication quality, last values),
exceptions (the meter or its link) and alarms (the customer's balance and supply), which an
operator acknowledges.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from gateway.reading.acknowledge import acknowledge
from gateway.reading.poller import Progress
from gateway.store import alarms, readings
from gateway.store.alarms import AlarmFilter, Category
from gateway.store.conn import Conn
from gateway.store.paging import PageRequest
from gateway.store.readings import MonitorFilter
from web import exports
from web.audit import log_event
from web.errors import BAD_INPUT, NOT_FOUND, WebError
from web.exports import Column
from web.forms import Fields
from web.frames import note
from web.jobs import Job
from web.keys import CLOCK, CONFIG, DATABASE, FRAMES, JOBS, READING, TEXTS, context, operator
from web.monitoring_tables import (
    MONITOR_COLUMNS,
    TABS,
    Col,
    Tab,
    alarm_columns,
    kind_label,
    kind_remedy,
    row_json,
)
from web.pages.common import page_number
from web.render import flash, json_response, redirect, render
from web.routes import SIGNED_IN, QueryParam, RouteTable
from web.schemas import BOOLEAN, INTEGER, OK, STRING, answers, array, nullable, obj, page_of
from web.workflow import actor_of, attempt, flash_error, path_int, reading_of, t

routes = RouteTable()

JOB_SCHEMA = obj(
    {
        "id": STRING,
        "kind": STRING,
        "state": {"enum": ["running", "done", "failed"]},
        "done": INTEGER,
        "total": INTEGER,
        "ok": INTEGER,
        "percent": INTEGER,
        "failed": array(STRING),
        "error_code": nullable(STRING),
        "error": nullable(STRING),
        "started_at": STRING,
        "finished_at": nullable(STRING),
    }
)
READ_ONE = obj(
    {"meter": STRING, "ok": BOOLEAN, "online": BOOLEAN, "error": STRING, "error_code": STRING}
)


def _tab(request: web.Request) -> Tab:
    value = request.query.get("tab", "monitoring")
    for tab in TABS:
        if value == tab:
            return tab
    return "monitoring"


def _monitor_filter(query: Fields) -> MonitorFilter:
    online = query.text("online", max_len=8)
    return MonitorFilter(
        online={"1": True, "0": False}.get(online),
        address_prefix=query.text("address", max_len=12) or None,
    )


def _alarm_filter(query: Fields, category: Category) -> AlarmFilter:
    active = query.text("active", max_len=8)
    acked = query.text("acked", max_len=8)
    return AlarmFilter(
        category=category,
        active={"1": True, "0": False}.get(active, True if active == "" else None),
        acknowledged={"1": True, "0": False}.get(acked),
        meter_address=query.text("address", max_len=12) or None,
    )


def _counts(c: Conn) -> dict[str, int]:
    return alarms.count_active(c)


def _columns(request: web.Request, tab: Tab) -> tuple[Col, ...]:
    return MONITOR_COLUMNS if tab == "monitoring" else alarm_columns(context(request).lang)


def _rows_of(tab: Tab, query: Fields) -> Any:
    if tab == "monitoring":
        flt = _monitor_filter(query)
        return (lambda c, page: readings.monitoring(c, flt, page)), (
            lambda c: readings.iterate_monitoring(c, flt)
        )
    category = Category.EXCEPTION if tab == "exceptions" else Category.ALARM
    aflt = _alarm_filter(query, category)
    return (lambda c, page: alarms.search(c, aflt, page)), (lambda c: alarms.iterate(c, aflt))


@routes.page("GET", "/monitoring", name="monitoring", permission="monitoring.view", feature="F7.5")
async def monitoring(request: web.Request) -> web.StreamResponse:
    tab = _tab(request)
    query = Fields(request.query)
    fetch, _ = _rows_of(tab, query)
    db = request.app[DATABASE]
    limit = request.app[CONFIG].page_size
    page = await db.read(fetch, PageRequest(page_number(request), limit))
    counts = await db.read(_counts)
    jobs = request.app[JOBS]
    job_id = request.query.get("job", "")
    job = jobs.get(job_id) if job_id else jobs.latest("read_all")
    reading = request.app[READING]
    kept = {k: v for k, v in request.query.items() if k not in ("offset", "job") and v}
    lang = context(request).lang
    return render(
        request,
        "monitoring.html",
        title_key="menu.monitoring",
        tab=tab,
        tabs=TABS,
        page=page,
        counts=counts,
        job=job,
        snapshot=reading.snapshot().poller if reading is not None else None,
        query=kept,
        base_query=urlencode(kept),
        kind_label=lambda name: kind_label(name, lang),
        kind_remedy=lambda name: kind_remedy(name, lang),
        can=context(request).can,
        frames=True,
    )


# ---- 【抄表开始】 and 【单只读表】 ------------------------------------------------------------


async def _start_read_all(request: web.Request) -> Job:
    """One read-all at a time: asking again while one runs shows the running one."""
    reading = reading_of(request)
    board = request.app[JOBS]
    running = board.latest("read_all")
    if running is not None and not running.finished:
        return running
    feed = request.app[FRAMES]
    texts, lang = request.app[TEXTS], context(request).lang

    async def work(job: Job) -> None:
        note(feed, "poller", texts.text(lang, "monitor.read_all_started"))

        def progress(p: Progress) -> None:
            job.progress(p.done, p.total, p.ok)

        summary = await reading.read_all(progress=progress)
        job.progress(summary.total, summary.total, summary.ok)
        job.failed = summary.failed
        done = texts.text(lang, "monitor.read_all_done", ok=summary.ok, total=summary.total)
        note(feed, "poller", done)

    job = board.start("read_all", operator(request).id, work)
    await log_event(request, "monitoring.read_all", f"job:{job.id}")
    return job


@routes.page(
    "POST",
    "/monitoring/read-all",
    name="monitoring_read_all",
    permission="monitoring.read",
    feature="F7.5",
)
async def read_all(request: web.Request) -> web.StreamResponse:
    job = await _start_read_all(request)
    location = request.app.router["monitoring"].url_for().with_query({"job": job.id})
    raise web.HTTPSeeOther(location=str(location))


@routes.page(
    "POST",
    r"/monitoring/read/{id:\d+}",
    name="monitoring_read_one",
    permission="monitoring.read",
    feature="F7.5",
)
async def read_one(request: web.Request) -> web.StreamResponse:
    meter_id = path_int(request)

    async def work() -> Any:
        return await reading_of(request).read_one(meter_id)

    outcome = await attempt(request, "monitoring.read_one", f"meter:{meter_id}", work)
    if outcome.error is not None:
        flash_error(request, outcome.error)
    elif outcome.value.ok:
        await log_event(request, "monitoring.read_one", f"meter:{outcome.value.address}")
        flash(request, "ok", t(request, "monitor.read_one_ok", address=outcome.value.address))
    else:
        flash(
            request,
            "error",
            t(request, "monitor.read_one_failed", address=outcome.value.address)
            + f" {outcome.value.error}",
        )
    raise redirect(request, "monitoring")


@routes.page(
    "POST", "/monitoring/ack", name="monitoring_ack", permission="alarms.ack", feature="F7.5"
)
async def ack(request: web.Request) -> web.StreamResponse:
    """Acknowledge the ticked exceptions or alarms (they end by themselves when cleared)."""
    fields = await Fields.from_form(request)
    tab = fields.choice("tab", TABS, default="alarms")

    async def work() -> int:
        ids = _ids(fields.strings("alarm"))
        done = await acknowledge(
            request.app[DATABASE], actor_of(request), ids, fields.text("note", max_len=200)
        )
        return len(done)

    outcome = await attempt(request, "alarms.ack", "alarms", work)
    if outcome.error is not None:
        flash_error(request, outcome.error)
    else:
        flash(request, "ok", t(request, "monitor.acked", count=outcome.value))
    location = request.app.router["monitoring"].url_for().with_query({"tab": tab})
    raise web.HTTPSeeOther(location=str(location))


def _ids(values: list[str]) -> list[int]:
    if not values or not all(v.isdigit() for v in values):
        raise WebError(BAD_INPUT, field="alarm", problem="choose")
    return [int(v) for v in values]


# ---- exports -------------------------------------------------------------------------------


def _export(tab: Tab) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        query = Fields(request.query)
        _, iterate = _rows_of(tab, query)
        columns = [
            Column(t(request, c.label) if "." in c.label else c.label, c.get, c.kind)
            for c in _columns(request, tab)
        ]
        await log_event(request, f"export.{tab}", "xlsx", {"query": dict(request.query)})
        return await exports.export_response(
            request,
            database_read=request.app[DATABASE].read,
            rows=iterate,
            columns=columns,
            fmt="xlsx",
            filename=tab,
            sheet=t(request, f"monitor.tab.{tab}"),
            now=request.app[CLOCK](),
        )

    return handler


for _tab_name in TABS:
    routes.page(
        "GET",
        f"/monitoring/{_tab_name}.xlsx",
        name=f"monitoring_{_tab_name}_xlsx",
        permission="monitoring.view",
        feature="F7.5",
        produces=exports.CONTENT_TYPES["xlsx"],
    )(_export(_tab_name))


# ---- JSON API ------------------------------------------------------------------------------


@routes.api(
    "GET",
    "/api/v1/monitoring",
    name="api_monitoring",
    permission="monitoring.view",
    feature="F7.5",
    summary="Monitoring, exception or alarm information (tab), newest state first",
    query=(
        QueryParam("tab", {"enum": list(TABS)}),
        QueryParam("address", {"type": "string"}, "meter address prefix"),
        QueryParam("online", {"enum": ["0", "1"]}),
        QueryParam("active", {"enum": ["0", "1", "all"]}),
        QueryParam("offset", {"type": "integer", "minimum": 0}),
    ),
    responses=answers(page_of({"type": "object"}), 400),
)
async def api_monitoring(request: web.Request) -> web.StreamResponse:
    tab = _tab(request)
    fetch, _ = _rows_of(tab, Fields(request.query))
    limit = request.app[CONFIG].page_size
    page = await request.app[DATABASE].read(fetch, PageRequest(page_number(request), limit))
    columns = _columns(request, tab)
    return json_response(
        {
            "items": [row_json(columns, row) for row in page.items],
            "offset": page.offset,
            "limit": page.limit,
            "has_more": page.has_more,
            "total": page.total,
        }
    )


@routes.api(
    "POST",
    "/api/v1/monitoring/read-all",
    name="api_read_all",
    permission="monitoring.read",
    feature="F7.5",
    summary="【抄表开始】 read every meter now; follow the job for progress",
    responses=answers(JOB_SCHEMA, 503, ok_status=202),
)
async def api_read_all(request: web.Request) -> web.StreamResponse:
    job = await _start_read_all(request)
    return json_response(job.to_json(), status=202)


@routes.api(
    "POST",
    r"/api/v1/meters/{id:\d+}/read",
    name="api_read_one",
    permission="monitoring.read",
    feature="F7.5",
    summary="【单只读表】 read one meter now, ahead of the schedule",
    responses=answers(READ_ONE, 400, 404, 503),
)
async def api_read_one(request: web.Request) -> web.StreamResponse:
    result = await reading_of(request).read_one(path_int(request))
    return json_response(
        {
            "meter": result.address,
            "ok": result.ok,
            "online": result.online,
            "error": result.error,
            "error_code": result.error_code,
        }
    )


@routes.api(
    "POST",
    "/api/v1/alarms/ack",
    name="api_alarms_ack",
    permission="alarms.ack",
    feature="F7.5",
    summary="Acknowledge exceptions or alarms by id",
    body=obj({"ids": array(INTEGER), "note": STRING}, required=("ids",), example={"ids": [999999]}),
    responses=answers(OK, 400, 404),
)
async def api_ack(request: web.Request) -> web.StreamResponse:
    fields = await Fields.from_json(request)
    raw = fields.raw("ids")
    if not isinstance(raw, list) or not raw or not all(type(v) is int for v in raw):
        raise WebError(BAD_INPUT, field="ids", problem="choose")
    await acknowledge(
        request.app[DATABASE], actor_of(request), raw, fields.text("note", max_len=200)
    )
    return json_response({"ok": True})


@routes.api(
    "GET",
    r"/api/v1/jobs/{job:\w+}",
    name="api_job",
    permission=SIGNED_IN,
    summary="Progress of a long operation (read all meters)",
    responses=answers(JOB_SCHEMA, 404),
)
async def api_job(request: web.Request) -> web.StreamResponse:
    job = request.app[JOBS].get(request.match_info["job"])
    if job is None:
        raise WebError(NOT_FOUND, 404)
    return json_response(job.to_json())
