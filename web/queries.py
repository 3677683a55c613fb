"""The manual's queries as data: filters, columns, the store function behind each, its export.

Every query page (【查询】), its 【导入Excel】/CSV export and its JSON API are generated from one
:class:`QuerySpec`, so the three always agree on filters and columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from gateway.store import cards, customers, oplog, receipts, replacements, sales
from gateway.store.conn import Conn
from gateway.store.customers import AccountStatus, CloseReason
from gateway.store.paging import MAX_LIMIT, Page, PageRequest
from gateway.store.receipts import ReceiptKind
from gateway.store.vends import VendChannel, VendKind
from web.exports import Kind
from web.forms import Fields, day_range
from web.i18n import N_

FilterKind = Literal["text", "date", "choice", "operator", "number"]


@dataclass(frozen=True)
class FilterDef:
    name: str
    label: str  # translation key
    kind: FilterKind = "text"
    choices: tuple[tuple[str, str], ...] = ()  # (value, translation key)


@dataclass(frozen=True)
class ColumnDef:
    name: str  # JSON key
    label: str  # translation key
    get: Callable[[Any], Any]
    kind: Kind = "text"
    translate: str | None = None  # a value prefix: the cell shows t(prefix + value)


@dataclass(frozen=True)
class QuerySpec:
    name: str
    path: str
    title: str
    permission: str
    feature: str
    filters: tuple[FilterDef, ...]
    columns: tuple[ColumnDef, ...]
    build: Callable[[Fields], Any]  # query-string fields -> the store's filter object
    fetch: Callable[[Conn, Any, PageRequest], Page[Any]]
    iterate: Callable[[Conn, Any], Iterator[Any]] | None = None


def paged_iterator(
    fetch: Callable[[Conn, Any, PageRequest], Page[Any]],
) -> Callable[[Conn, Any], Iterator[Any]]:
    """Every row of a paged query (for stores without an ``iterate``), in one snapshot."""

    def iterate(c: Conn, flt: Any) -> Iterator[Any]:
        offset = 0
        while True:
            page = fetch(c, flt, PageRequest(offset, MAX_LIMIT))
            yield from page.items
            if not page.has_more:
                return
            offset += MAX_LIMIT

    return iterate


def _dates(form: Fields) -> dict[str, Any]:
    since, until = day_range(form.date("since"), form.date("until"))
    return {"since": since, "until": until}


DATE_FILTERS = (
    FilterDef("since", N_("field.since"), "date"),
    FilterDef("until", N_("field.until"), "date"),
)


def _enum(value: str, cls: Any) -> Any:
    return cls(value) if value in {m.value for m in cls} else None


# ---- F2.8 customers ---------------------------------------------------------------------------
def _customers_filter(form: Fields) -> customers.CustomerFilter:
    status = form.text("status", max_len=10)
    return customers.CustomerFilter(
        number_prefix=form.optional_text("number", max_len=32),
        name=form.optional_text("name", max_len=64),
        phone_prefix=form.optional_text("phone", max_len=32),
        meter=form.optional_text("meter", max_len=32),
        status=_enum(status, AccountStatus),
        without_account=status == "none",
    )


CUSTOMERS = QuerySpec(
    name="customer_query",
    path="/query/customers",
    title=N_("menu.customer_query"),
    permission="queries.view",
    feature="F2.8",
    filters=(
        FilterDef("number", N_("field.customer_number")),
        FilterDef("name", N_("field.customer_name")),
        FilterDef("phone", N_("field.phone")),
        FilterDef("meter", N_("field.meter_address")),
        FilterDef(
            "status",
            N_("field.account_status"),
            "choice",
            (
                ("open", N_("status.open")),
                ("closed", N_("status.closed")),
                ("none", N_("status.none")),
            ),
        ),
    ),
    columns=(
        ColumnDef("number", N_("field.customer_number"), lambda r: r.number),
        ColumnDef("name", N_("field.customer_name"), lambda r: r.name),
        ColumnDef("phone", N_("field.phone"), lambda r: r.phone),
        ColumnDef("address", N_("field.address"), lambda r: r.address),
        ColumnDef("meter_address", N_("field.meter_address"), lambda r: r.meter_address),
        ColumnDef("line", N_("field.line"), lambda r: r.line_name),
        ColumnDef("box", N_("field.box"), lambda r: r.box_name),
        ColumnDef("price_type", N_("field.price_type_name"), lambda r: r.price_type_name),
        ColumnDef(
            "status",
            N_("field.account_status"),
            lambda r: str(r.account_status) if r.account_status else "none",
            translate="status.",
        ),
        ColumnDef("balance", N_("field.balance_yuan"), lambda r: r.balance_fen, "money"),
        ColumnDef("purchased", N_("field.purchased_yuan"), lambda r: r.purchased_fen, "money"),
        ColumnDef("purchases", N_("field.purchases"), lambda r: r.purchases, "int"),
        ColumnDef("opened_at", N_("field.opened_at"), lambda r: r.opened_at, "time"),
    ),
    build=_customers_filter,
    fetch=customers.search,
    iterate=customers.iterate,
)


# ---- F2.9 closed accounts ----------------------------------------------------------------------
def _closed_filter(form: Fields) -> customers.ClosedFilter:
    return customers.ClosedFilter(
        **_dates(form),
        number_prefix=form.optional_text("number", max_len=32),
        name=form.optional_text("name", max_len=64),
        reason=_enum(form.text("reason", max_len=16), CloseReason),
    )


CLOSED = QuerySpec(
    name="closed_query",
    path="/query/closed-accounts",
    title=N_("menu.closed_query"),
    permission="queries.view",
    feature="F2.9",
    filters=(
        *DATE_FILTERS,
        FilterDef("number", N_("field.customer_number")),
        FilterDef("name", N_("field.customer_name")),
        FilterDef(
            "reason",
            N_("field.close_reason"),
            "choice",
            (("refund", N_("reason.refund")), ("deregistered", N_("reason.deregistered"))),
        ),
    ),
    columns=(
        ColumnDef("number", N_("field.customer_number"), lambda r: r.number),
        ColumnDef("name", N_("field.customer_name"), lambda r: r.name),
        ColumnDef("phone", N_("field.phone"), lambda r: r.phone),
        ColumnDef("meter_address", N_("field.meter_address"), lambda r: r.meter_address),
        ColumnDef("opened_at", N_("field.opened_at"), lambda r: r.opened_at, "time"),
        ColumnDef("closed_at", N_("field.closed_at"), lambda r: r.closed_at, "time"),
        ColumnDef(
            "reason", N_("field.close_reason"), lambda r: str(r.close_reason), translate="reason."
        ),
        ColumnDef("purchased", N_("field.purchased_yuan"), lambda r: r.purchased_fen, "money"),
        ColumnDef("refund", N_("field.refund_yuan"), lambda r: r.refund_fen, "money"),
        ColumnDef("refund_operator", N_("field.operator"), lambda r: r.refund_operator),
    ),
    build=_closed_filter,
    fetch=customers.closed_accounts,
)


# ---- F2.10 card reissues -----------------------------------------------------------------------
def _reissue_filter(form: Fields) -> cards.ReissueFilter:
    return cards.ReissueFilter(
        **_dates(form),
        customer_number_prefix=form.optional_text("number", max_len=32),
        customer_name=form.optional_text("name", max_len=64),
        card_serial=form.optional_text("card", max_len=64),
    )


REISSUES = QuerySpec(
    name="reissue_query",
    path="/query/card-reissues",
    title=N_("menu.reissue_query"),
    permission="queries.view",
    feature="F2.10",
    filters=(
        *DATE_FILTERS,
        FilterDef("number", N_("field.customer_number")),
        FilterDef("name", N_("field.customer_name")),
        FilterDef("card", N_("field.card_serial")),
    ),
    columns=(
        ColumnDef("time", N_("field.time"), lambda r: r.issue.created_at, "time"),
        ColumnDef("number", N_("field.customer_number"), lambda r: r.customer_number),
        ColumnDef("name", N_("field.customer_name"), lambda r: r.customer_name),
        ColumnDef("meter_address", N_("field.meter_address"), lambda r: r.meter_address),
        ColumnDef("card", N_("field.card_serial"), lambda r: r.issue.card_serial),
        ColumnDef("replaced_card", N_("field.replaced_card"), lambda r: r.replaced_serial),
        ColumnDef("operator", N_("field.operator"), lambda r: r.operator_name),
    ),
    build=_reissue_filter,
    fetch=cards.reissues,
)


# ---- F3.5 sales ----------------------------------------------------------------------------------
def _sales_filter(form: Fields) -> sales.SalesFilter:
    return sales.SalesFilter(
        **_dates(form),
        operator_id=form.integer("operator", required=False, minimum=1),
        vend_kind=_enum(form.text("kind", max_len=20), VendKind),
        channel=_enum(form.text("channel", max_len=20), VendChannel),
    )


SALES = QuerySpec(
    name="sales_query",
    path="/query/sales",
    title=N_("menu.sales_query"),
    permission="queries.view",
    feature="F3.5",
    filters=(
        *DATE_FILTERS,
        FilterDef("operator", N_("field.operator"), "operator"),
        FilterDef(
            "kind",
            N_("field.sale_kind"),
            "choice",
            (
                ("open", N_("vend.open")),
                ("daily", N_("vend.daily")),
                ("replacement", N_("vend.replacement")),
            ),
        ),
        FilterDef(
            "channel",
            N_("field.channel"),
            "choice",
            (
                ("comm", N_("channel.comm")),
                ("card", N_("channel.card")),
                ("cloud", N_("channel.cloud")),
            ),
        ),
    ),
    columns=(
        ColumnDef("time", N_("field.time"), lambda r: r.created_at, "time"),
        ColumnDef("receipt_number", N_("field.receipt_number"), lambda r: r.receipt_number, "int"),
        ColumnDef("number", N_("field.customer_number"), lambda r: r.customer_number),
        ColumnDef("name", N_("field.customer_name"), lambda r: r.customer_name),
        ColumnDef("meter_address", N_("field.meter_address"), lambda r: r.meter_address),
        ColumnDef(
            "kind", N_("field.sale_kind"), lambda r: str(r.vend_kind or ""), translate="vend."
        ),
        ColumnDef(
            "channel", N_("field.channel"), lambda r: str(r.channel or ""), translate="channel."
        ),
        ColumnDef("amount", N_("field.amount_yuan"), lambda r: r.amount_fen, "money"),
        ColumnDef("energy", N_("field.energy_kwh"), lambda r: r.energy_cwh, "energy"),
        ColumnDef("remainder", N_("field.remainder_yuan"), lambda r: r.remainder_fen, "money"),
        ColumnDef("operator", N_("field.operator"), lambda r: r.operator_name),
    ),
    build=_sales_filter,
    fetch=sales.query,
    iterate=sales.iterate,
)


# ---- F4.2 replacements ---------------------------------------------------------------------------
def _replacement_filter(form: Fields) -> replacements.ReplacementFilter:
    return replacements.ReplacementFilter(
        **_dates(form),
        customer_number_prefix=form.optional_text("number", max_len=32),
        customer_name=form.optional_text("name", max_len=64),
        meter_address_prefix=form.optional_text("meter", max_len=12),
        operator_id=form.integer("operator", required=False, minimum=1),
    )


REPLACEMENTS = QuerySpec(
    name="replacement_query",
    path="/query/replacements",
    title=N_("menu.replacement_query"),
    permission="queries.view",
    feature="F4.2",
    filters=(
        *DATE_FILTERS,
        FilterDef("number", N_("field.customer_number")),
        FilterDef("name", N_("field.customer_name")),
        FilterDef("meter", N_("field.meter_address")),
        FilterDef("operator", N_("field.operator"), "operator"),
    ),
    columns=(
        ColumnDef("time", N_("field.time"), lambda r: r.replacement.created_at, "time"),
        ColumnDef("number", N_("field.customer_number"), lambda r: r.customer_number),
        ColumnDef("name", N_("field.customer_name"), lambda r: r.customer_name),
        ColumnDef("old_meter", N_("field.old_meter"), lambda r: r.old_meter_address),
        ColumnDef("new_meter", N_("field.new_meter"), lambda r: r.new_meter_address),
        ColumnDef(
            "compensation",
            N_("field.compensation_yuan"),
            lambda r: r.replacement.compensation_fen,
            "money",
        ),
        ColumnDef(
            "compensation_energy",
            N_("field.compensation_kwh"),
            lambda r: r.replacement.compensation_cwh,
            "energy",
        ),
        ColumnDef("sale", N_("field.amount_yuan"), lambda r: r.sale_fen, "money"),
        ColumnDef("operator", N_("field.operator"), lambda r: r.operator_name),
    ),
    build=_replacement_filter,
    fetch=replacements.query,
)


# ---- F3.4 receipts (reprint) ---------------------------------------------------------------------
def _receipt_filter(form: Fields) -> receipts.ReceiptFilter:
    return receipts.ReceiptFilter(
        **_dates(form),
        number=form.integer("receipt", required=False, minimum=1),
        kind=_enum(form.text("kind", max_len=16), ReceiptKind),
        customer_number_prefix=form.optional_text("number", max_len=32),
        customer_name=form.optional_text("name", max_len=64),
    )


RECEIPTS = QuerySpec(
    name="receipt_reprint",
    path="/receipts",
    title=N_("menu.receipt_reprint"),
    permission="receipts.reprint",
    feature="F3.4",
    filters=(
        FilterDef("receipt", N_("field.receipt_number"), "number"),
        *DATE_FILTERS,
        FilterDef("number", N_("field.customer_number")),
        FilterDef("name", N_("field.customer_name")),
        FilterDef(
            "kind",
            N_("field.receipt_kind"),
            "choice",
            tuple((k.value, f"receipt_kind.{k.value}") for k in ReceiptKind),
        ),
    ),
    columns=(
        ColumnDef("receipt_number", N_("field.receipt_number"), lambda r: r.receipt.number, "int"),
        ColumnDef("time", N_("field.time"), lambda r: r.receipt.created_at, "time"),
        ColumnDef(
            "kind",
            N_("field.receipt_kind"),
            lambda r: str(r.receipt.kind),
            translate="receipt_kind.",
        ),
        ColumnDef("number", N_("field.customer_number"), lambda r: r.customer_number),
        ColumnDef("name", N_("field.customer_name"), lambda r: r.customer_name),
        ColumnDef("operator", N_("field.operator"), lambda r: r.operator_name),
        ColumnDef("printed", N_("field.times_printed"), lambda r: r.times_printed, "int"),
    ),
    build=_receipt_filter,
    fetch=receipts.query,
)


# ---- F6.4 operation log --------------------------------------------------------------------------
def oplog_filter(form: Fields) -> oplog.OpLogFilter:
    result = form.text("result", max_len=8)
    return oplog.OpLogFilter(
        **_dates(form),
        operator_id=form.integer("operator", required=False, minimum=1),
        action_prefix=form.optional_text("action", max_len=64),
        text=form.optional_text("text", max_len=64),
        result=result if result in ("ok", "error") else None,
    )


OPLOG_FILTERS = (
    *DATE_FILTERS,
    FilterDef("operator", N_("field.operator"), "operator"),
    FilterDef("action", N_("field.action")),
    FilterDef("text", N_("field.contains")),
    FilterDef(
        "result",
        N_("field.result"),
        "choice",
        (("ok", N_("result.ok")), ("error", N_("result.error"))),
    ),
)

OPLOG = QuerySpec(
    name="oplog_query",
    path="/oplog",
    title=N_("menu.oplog_query"),
    permission="oplog.view",
    feature="F6.4",
    filters=OPLOG_FILTERS,
    columns=(
        ColumnDef("time", N_("field.time"), lambda r: r.created_at, "time"),
        ColumnDef("operator", N_("field.operator"), lambda r: r.operator_name),
        ColumnDef("action", N_("field.action"), lambda r: r.action),
        ColumnDef("target", N_("field.target"), lambda r: r.target),
        ColumnDef("result", N_("field.result"), lambda r: r.result, translate="result."),
        ColumnDef("error_code", N_("field.error_code"), lambda r: r.error_code),
        ColumnDef("detail", N_("field.detail"), lambda r: _compact(r.detail)),
    ),
    build=oplog_filter,
    fetch=oplog.query,
    iterate=oplog.iterate,
)


def _compact(detail: dict[str, Any]) -> str:
    import json

    text = json.dumps(detail, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return text if len(text) <= 300 else text[:297] + "..."


QUERIES: tuple[QuerySpec, ...] = (CUSTOMERS, CLOSED, REISSUES, RECEIPTS, SALES, REPLACEMENTS, OPLOG)
