"""The outcome of a sale, refund or replacement, and its receipt (【发票打印】).

Every money page redirects here after its action (post/redirect/get, so a reload shows the
result again and never sells again). The page says plainly what happened: confirmed with the
receipt, failed with nothing booked, or being verified (E506: do not sell again). The first
print of a receipt is the original; any later print is a copy (副本) and needs the reprint
permission, exactly like F3.4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.store import customers, receipts, vends
from gateway.store.conn import Conn
from gateway.store.customers import Account, Customer
from gateway.store.receipts import Receipt
from gateway.store.vends import Vend, VendChannel, VendEvent, VendKind
from web import cardflows
from web.audit import audited
from web.errors import FORBIDDEN, WebError
from web.formatting import kwh, yuan
from web.i18n import N_
from web.keys import DATABASE, context, operator
from web.pages.queries import RECEIPT_SCHEMA, render_receipt
from web.render import json_response, redirect, render
from web.routes import SIGNED_IN, RouteTable
from web.schemas import INTEGER, KWH, STRING, YUAN, answers, nullable, obj
from web.workflow import attempt, flash_error, path_int, services_of

routes = RouteTable()

ID = r"{id:\d+}"
NUMBER = r"{number:\d+}"

VEND = obj(
    {
        "vend_id": INTEGER,
        "kind": STRING,
        "channel": STRING,
        "state": STRING,
        "account_id": INTEGER,
        "amount": YUAN,
        "energy": KWH,
        "count_before": nullable(INTEGER),
        "count_after": nullable(INTEGER),
        "receipt_number": nullable(INTEGER),
        "error": nullable(STRING),
        "created_at": STRING,
    }
)


@dataclass(frozen=True)
class VendView:
    vend: Vend
    account: Account
    customer: Customer
    receipts: list[Receipt]
    events: list[VendEvent]

    @property
    def receipt(self) -> Receipt | None:
        return self.receipts[0] if self.receipts else None

    @property
    def request(self) -> dict[str, Any]:
        return self.vend.request


def _vend_view(c: Conn, vend_id: int) -> VendView:
    vend = vends.get(c, vend_id)
    account = customers.get_account(c, vend.account_id)
    return VendView(
        vend,
        account,
        customers.get_customer(c, account.customer_id),
        receipts.for_vend(c, vend_id),
        vends.events(c, vend_id),
    )


def vend_json(view: VendView) -> dict[str, Any]:
    vend = view.vend
    return {
        "vend_id": vend.id,
        "kind": str(vend.kind),
        "channel": str(vend.channel),
        "state": str(vend.state),
        "account_id": vend.account_id,
        "amount": yuan(vend.amount_fen),
        "energy": kwh(vend.energy_cwh),
        "count_before": vend.count_before,
        "count_after": vend.count_after,
        "receipt_number": view.receipt.number if view.receipt else None,
        "error": vend.error,
        "created_at": vend.created_at,
    }


@routes.page("GET", f"/results/{ID}", name="vend_result", permission=SIGNED_IN)
async def vend_result(request: web.Request) -> web.StreamResponse:
    view = await request.app[DATABASE].read(_vend_view, path_int(request))
    vend = view.vend
    router = request.app.router
    back = {
        VendKind.OPEN: router["customer_page"].url_for(id=str(view.customer.id)),
        VendKind.REFUND: router["refund_close"].url_for(),
        VendKind.CARD_REFUND: router["refund_close"].url_for(),
        VendKind.REPLACEMENT: router["replace_meter"].url_for(),
    }.get(vend.kind, router["daily_sale"].url_for())
    return render(
        request,
        "vend_result.html",
        title_key=_TITLES.get(vend.kind, "result.title_sale"),
        view=view,
        vend=vend,
        req=vend.request,
        back_url=str(back),
        can=context(request).can,
    )


_TITLES = {
    VendKind.OPEN: N_("result.title_open"),
    VendKind.DAILY: N_("result.title_daily"),
    VendKind.REFUND: N_("result.title_refund"),
    VendKind.CARD_REFUND: N_("result.title_refund"),
    VendKind.REPLACEMENT: N_("result.title_replacement"),
    VendKind.CARD_REISSUE: N_("result.title_reissue"),
}


@routes.page("POST", f"/results/{ID}/settle", name="vend_settle", permission="sales.daily")
async def vend_settle(request: web.Request) -> web.StreamResponse:
    """【核实结果】: ask the meter again how an unfinished vend ended (the gateway also does this
    by itself every minute)."""
    vend_id = path_int(request)
    vend = await request.app[DATABASE].read(vends.get, vend_id)

    async def work() -> None:
        services = services_of(request)
        if vend.channel is VendChannel.CARD:
            await cardflows.settle(request, vend_id, refund=vend.kind is VendKind.CARD_REFUND)
        elif vend.kind is VendKind.REFUND:
            await services.refunds.settle(vend_id)
        elif vend.channel is VendChannel.COMM:
            await services.vending.settle(vend_id)

    outcome = await attempt(request, "vend.settle", f"vend:{vend_id}", work)
    if outcome.error is not None:
        flash_error(request, outcome.error)
    raise redirect(request, "vend_result", id=vend_id)


@routes.page("POST", f"/receipts/{NUMBER}/print", name="receipt_print", permission=SIGNED_IN)
async def receipt_print(request: web.Request) -> web.StreamResponse:
    """【发票打印】: the original the first time; a copy (副本) after that, which is a reprint and
    needs that permission."""
    number = int(request.match_info["number"])
    me = operator(request)
    db = request.app[DATABASE]
    printed = await db.read(receipts.prints, number)
    copy = any(not p.copy for p in printed)
    if copy and not context(request).can("receipts.reprint"):
        raise WebError(FORBIDDEN, 403)

    def record(c: Conn) -> Receipt:
        found = receipts.get(c, number)
        receipts.record_print(c, number, operator_id=me.id, copy=copy)
        return found

    receipt = await audited(
        request, "receipt.reprint" if copy else "receipt.print", f"receipt:{number}", record
    )
    return await render_receipt(request, receipt, copy=copy)


@routes.api(
    "GET",
    f"/api/v1/vends/{ID}",
    name="api_vend",
    permission=SIGNED_IN,
    summary="How a sale, refund or replacement ended (state, counts, receipt number)",
    responses=answers(VEND, 404),
)
async def api_vend(request: web.Request) -> web.StreamResponse:
    view = await request.app[DATABASE].read(_vend_view, path_int(request))
    return json_response(vend_json(view))


@routes.api(
    "GET",
    f"/api/v1/receipts/{NUMBER}",
    name="api_receipt",
    permission="queries.view",
    feature="F3.4",
    summary="A receipt record (what it prints; nothing is recorded as printed)",
    responses=answers(RECEIPT_SCHEMA, 404),
)
async def api_receipt(request: web.Request) -> web.StreamResponse:
    r = await request.app[DATABASE].read(receipts.get, int(request.match_info["number"]))
    return json_response(
        {"number": r.number, "kind": str(r.kind), "content": r.content, "created_at": r.created_at}
    )
