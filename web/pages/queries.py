"""Query pages (【查询】), exports (【导入Excel】, CSV) and JSON for every spec in web.queries,
plus the receipt reprint (F3.4, 【发票补打】: the receipt again, marked as a copy)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from markupsafe import Markup, escape

from gateway.store import operators, receipts, siteinfo, vends
from gateway.store.conn import Conn
from gateway.store.paging import PageRequest
from gateway.store.vends import VendState
from web import exports
from web.audit import audited
from web.exports import Column
from web.forms import Fields
from web.keys import CLOCK, CONFIG, DATABASE, TEXTS, context, operator
from web.pages.common import described, is_operator_error, page_number
from web.pages.receipt_designer import load_template
from web.queries import QUERIES, ColumnDef, QuerySpec, paged_iterator
from web.receipts import Placed, ReceiptTemplate, place, values_for
from web.render import json_response, render
from web.routes import QueryParam, RouteTable
from web.schemas import answers, obj, page_of

routes = RouteTable()


def _cell_json(kind: exports.Kind, value: Any) -> Any:
    if value is None:
        return None
    if kind in ("money", "energy", "price", "time"):
        cell = exports._cell(kind, value)
        return format(cell, "f") if kind != "time" else cell
    return value


def _row_json(spec: QuerySpec, row: Any) -> dict[str, Any]:
    return {c.name: _cell_json(c.kind, c.get(row)) for c in spec.columns}


def _row_schema(spec: QuerySpec) -> dict[str, Any]:
    kinds = {"int": {"type": ["integer", "null"]}}
    return obj({c.name: kinds.get(c.kind, {"type": ["string", "null"]}) for c in spec.columns})


def _texts(request: web.Request) -> Any:
    texts = request.app[TEXTS]
    lang = context(request).lang
    return lambda key: texts.text(lang, key)


_NUMERIC = frozenset(("money", "energy", "price", "int"))
# Cells whose text this module formats itself from integers and timestamps (digits, "-", ".",
# ":", " "): nothing to escape. Names, addresses and translations are escaped.
_FORMATTED = _NUMERIC | {"time"}


@dataclass(frozen=True)
class _CellPlan:
    """How one column becomes a ``<td>``, worked out once per query rather than per cell."""

    column: ColumnDef
    opener: str
    escaped: bool


def _cell_plans(spec: QuerySpec) -> tuple[_CellPlan, ...]:
    return tuple(
        _CellPlan(
            column,
            '<td class="num">' if column.kind in _NUMERIC else '<td class="">',
            column.translate is not None or column.kind not in _FORMATTED,
        )
        for column in spec.columns
    )


def _display(plans: tuple[_CellPlan, ...], row: Any, t: Any) -> Markup:
    """The cells of one result row as HTML (built here: a template loop per cell costs more
    than the query on a 50-row page). Plain string joins: Markup.format runs Python's
    string.Formatter per cell, which alone was half of a 50-row page's server time."""
    cells: list[str] = []
    for plan in plans:
        column = plan.column
        value = column.get(row)
        if column.translate is not None:
            text = t(column.translate + str(value)) if value not in (None, "") else ""
        else:
            shown = _cell_json(column.kind, value)
            text = "" if shown is None else str(shown)
        # extend, not "+": str + Markup would call Markup.__radd__ and escape the tag itself
        cells.extend((plan.opener, escape(text) if plan.escaped else text, "</td>"))
    return Markup("".join(cells))


def _register(spec: QuerySpec) -> None:
    plans = _cell_plans(spec)

    def parsed(request: web.Request) -> Any:
        return spec.build(Fields(request.query))

    async def page(request: web.Request) -> web.StreamResponse:
        db = request.app[DATABASE]
        limit = request.app[CONFIG].page_size
        error = None
        found = None
        try:
            flt = parsed(request)
            found = await db.read(
                spec.fetch, flt, PageRequest(page_number(request), limit, _counted(request))
            )
        except Exception as exc:
            if not is_operator_error(exc):
                raise
            error = described(request, exc)
        t = _texts(request)
        needs_operators = any(f.kind == "operator" for f in spec.filters)
        people = await db.read(operators.list_all, include_inactive=True) if needs_operators else []
        query = {k: v for k, v in request.query.items() if k != "offset" and v}
        return render(
            request,
            "query.html",
            status=400 if error else 200,
            title_key=spec.title,
            spec=spec,
            page=found,
            rows=[(row, _display(plans, row, t)) for row in found.items] if found else [],
            error=error,
            query=query,
            base_query=urlencode(query),
            operator_options=[(p.id, p.display_name or p.name) for p in people],
            reprint=spec.name == "receipt_reprint",
            choice_pairs=lambda f: [(value, t(key)) for value, key in f.choices],
        )

    def export(fmt: exports.Format) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            flt = parsed(request)
            t = _texts(request)
            iterate = spec.iterate or paged_iterator(spec.fetch)
            columns = [Column(t(c.label), _exported(c, t), c.kind) for c in spec.columns]
            await audited(
                request,
                f"export.{spec.name}",
                fmt,
                lambda c: None,
                detail={"query": dict(request.query)},
            )
            db = request.app[DATABASE]
            return await exports.export_response(
                request,
                database_read=db.read,
                rows=lambda c: iterate(c, flt),
                columns=columns,
                fmt=fmt,
                filename=spec.name.removesuffix("_query"),
                sheet=t(spec.title),
                now=request.app[CLOCK](),
            )

        return handler

    async def api(request: web.Request) -> web.StreamResponse:
        limit = request.app[CONFIG].page_size
        found = await request.app[DATABASE].read(
            spec.fetch, parsed(request), PageRequest(page_number(request), limit, _counted(request))
        )
        return json_response(
            {
                "items": [_row_json(spec, row) for row in found.items],
                "offset": found.offset,
                "limit": found.limit,
                "has_more": found.has_more,
                "total": found.total,
            }
        )

    routes.page("GET", spec.path, name=spec.name, permission=spec.permission, feature=spec.feature)(
        page
    )
    for fmt in ("xlsx", "csv"):
        routes.page(
            "GET",
            f"{spec.path}/export.{fmt}",
            name=f"{spec.name}_{fmt}",
            permission=spec.permission,
            feature=spec.feature,
            produces=exports.CONTENT_TYPES[fmt],
        )(export(fmt))
    params = [
        QueryParam(
            f.name,
            {"type": "string", "format": "date"} if f.kind == "date" else {"type": "string"},
            f.label,
        )
        for f in spec.filters
    ]
    params.append(QueryParam("offset", {"type": "integer", "minimum": 0}))
    api_path = "/api/v1" + spec.path
    routes.api(
        "GET",
        api_path,
        name=f"api_{spec.name}",
        permission=spec.permission,
        feature=spec.feature,
        summary=f"{spec.feature} query",
        query=params,
        responses=answers(page_of(_row_schema(spec)), 400),
    )(api)


def _counted(request: web.Request) -> bool:
    """Count the matches only when filtered: counting a whole 10,000-customer join costs more
    than the page itself, and "next page" needs no total."""
    return any(value for key, value in request.query.items() if key != "offset")


def _exported(column: Any, t: Any) -> Any:
    if column.translate is None:
        return column.get
    return lambda row: (
        t(column.translate + str(v)) if (v := column.get(row)) not in (None, "") else ""
    )


for _spec in QUERIES:
    _register(_spec)


# ---- F3.4 reprint -------------------------------------------------------------------------


async def render_receipt(
    request: web.Request, receipt: receipts.Receipt, *, copy: bool
) -> web.StreamResponse:
    """A receipt record printed with the current template (copy: the 副本 watermark)."""
    template, placed = await placed_receipt(request, receipt)
    return render(request, "receipt.html", template=template, placed=placed, copy=copy)


async def placed_receipt(
    request: web.Request, receipt: receipts.Receipt
) -> tuple[ReceiptTemplate, list[Placed]]:
    """The current template and its elements with this receipt's texts, in the operator's
    language: what the HTML receipt shows and the receipt printer prints."""
    t = _texts(request)
    org = await request.app[DATABASE].read(siteinfo.get_organisation)
    template = await load_template(request)
    facts = await request.app[DATABASE].read(_with_vend_facts, receipt)
    values = values_for(
        facts,
        organisation=org,
        number=receipt.number,
        created_at=receipt.created_at,
        kind_label=t(f"receipt_kind.{receipt.kind}"),
    )
    return template, place(template, values, t)


def _with_vend_facts(c: Conn, receipt: receipts.Receipt) -> dict[str, Any]:
    """The receipt's facts, plus what its vend recorded and the services did not copy onto it:
    a money meter's balance after the sale (what it held before plus what was loaded). Both are
    fixed once the sale is made, so every print of the receipt shows the same."""
    content = dict(receipt.content)
    if receipt.vend_id is None or "balance_fen" in content:
        return content
    vend = vends.get(c, receipt.vend_id)
    request = vend.request
    money_meter = vend.energy_cwh == 0 and "meter_remaining_before" in request
    if money_meter and vend.state is VendState.CONFIRMED and "load_value" in request:
        content["balance_fen"] = int(request["meter_remaining_before"]) + int(request["load_value"])
    return content


@routes.page(
    "POST",
    "/receipts/{number:\\d+}/reprint",
    name="receipt_reprint_print",
    permission="receipts.reprint",
    feature="F3.4",
)
async def reprint(request: web.Request) -> web.StreamResponse:
    number = int(request.match_info["number"])
    me = operator(request)

    def record(c: Conn) -> receipts.Receipt:
        found = receipts.get(c, number)
        receipts.record_print(c, number, operator_id=me.id, copy=True)
        return found

    receipt = await audited(request, "receipt.reprint", f"receipt:{number}", record)
    return await render_receipt(request, receipt, copy=True)


RECEIPT_SCHEMA = obj(
    {
        "number": {"type": "integer"},
        "kind": {"type": "string"},
        "content": {"type": "object"},
        "created_at": {"type": "string"},
    }
)


@routes.api(
    "POST",
    "/api/v1/receipts/{number:\\d+}/reprint",
    name="api_receipt_reprint_print",
    permission="receipts.reprint",
    feature="F3.4",
    summary="Record a reprint (copy) and return the receipt record",
    responses=answers(RECEIPT_SCHEMA, 404),
)
async def api_reprint(request: web.Request) -> web.StreamResponse:
    number = int(request.match_info["number"])
    me = operator(request)

    def record(c: Conn) -> receipts.Receipt:
        found = receipts.get(c, number)
        receipts.record_print(c, number, operator_id=me.id, copy=True)
        return found

    r = await audited(request, "receipt.reprint", f"receipt:{number}", record)
    return json_response(
        {"number": r.number, "kind": str(r.kind), "content": r.content, "created_at": r.created_at}
    )
