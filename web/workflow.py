"""What the workflow pages share: the services and the actor, the selected account as the pages
show it, finding a customer from what the operator typed, and running a money request once.

The pages never book money themselves: they parse the form, call ``gateway.services`` and show
the outcome. Reading here is display only (the account summary, the last sales).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from gateway.meters.relay_state import RelayState
from gateway.reading.runtime import ReadingRuntime
from gateway.services import RefundResult, SaleResult, Services
from gateway.services.actor import Actor
from gateway.services.meter_ops import MeterParameters
from gateway.store import customers, ledger, meters, readings, sales, tariffs, vends
from gateway.store.conn import Conn
from gateway.store.customers import Account, Customer, CustomerFilter, CustomerRow
from gateway.store.errors import NotFoundError
from gateway.store.meters import Meter
from gateway.store.paging import PageRequest
from gateway.store.readings import MeterStatus
from gateway.store.sales import SaleRow, SalesFilter
from web.audit import log_failure
from web.errors import BAD_INPUT, NOT_AVAILABLE, Described, WebError
from web.formatting import kwh, yuan
from web.forms import Fields
from web.frames import note
from web.keys import DATABASE, FRAMES, ONCE, READING, SERVICES, TEXTS, context, operator
from web.once import api_key, new_nonce
from web.pages.common import described, is_operator_error
from web.render import flash, redirect, render, status_of

T = TypeVar("T")

PICK_ROWS = 20
RECENT_SALES = 8


def services_of(request: web.Request) -> Services:
    """The use cases, or E614 (503) while the composition root has not connected them."""
    found = request.app[SERVICES]
    if not isinstance(found, Services):
        raise WebError(NOT_AVAILABLE, 503)
    return found


def reading_of(request: web.Request) -> ReadingRuntime:
    found = request.app[READING]
    if found is None:
        raise WebError(NOT_AVAILABLE, 503)
    return found


def actor_of(request: web.Request) -> Actor:
    """The signed-in operator as the services see them (permissions checked again there)."""
    me = operator(request)
    return Actor(me.id, me.display_name or me.name, me.permissions, "web")


def t(request: web.Request, key: str, **params: Any) -> str:
    return request.app[TEXTS].text(context(request).lang, key, **params)


def pane(
    request: web.Request,
    text: str,
    *,
    channel: str = "web",
    meter: str = "",
    error: bool = False,
) -> None:
    """A line in the command-frame pane that is not a frame (what the page is doing)."""
    note(request.app[FRAMES], channel, text, meter=meter, error=error)


async def once(request: web.Request, key: str, work: Callable[[], Awaitable[T]]) -> T:
    """Run a money request once per idempotency key (see web.once)."""
    return await request.app[ONCE].run(key, work)


def path_int(request: web.Request, name: str = "id") -> int:
    return int(request.match_info[name])


async def api_purchase(request: web.Request, sell: Callable[[int, int, str], Awaitable[T]]) -> T:
    """An API purchase on the account in the path: ``{"amount", "idempotency_key"}`` in the
    body, ``sell(account_id, amount_fen, key)`` run once per key (comm or card, open or daily)."""
    account_id = path_int(request)
    fields = await Fields.from_json(request)
    amount, key = fields.yuan("amount"), api_key(fields)
    return await once(request, key, lambda: sell(account_id, amount, key))


def safe_back(value: str | None, default: str) -> str:
    """A local path to return to after an action (never another site)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


# ---- the selected account ------------------------------------------------------------------


@dataclass(frozen=True)
class AccountView:
    """One account as the workflow pages show it: who, which meter, what the ledger says, and
    what the poller last saw on the meter."""

    account: Account
    customer: Customer
    meter: Meter
    price_type: str
    balance: ledger.Balance
    status: MeterStatus | None
    recent: list[SaleRow]

    @property
    def energy_wallet(self) -> bool:
        return str(self.account.value_kind) == "energy"

    @property
    def gateway_wallet(self) -> bool:
        return str(self.account.wallet_model) == "gateway"

    @property
    def relay(self) -> RelayState | None:
        if self.status is None or self.status.status3 is None:
            return None
        return RelayState(self.status.status3)


def account_view(c: Conn, account_id: int) -> AccountView:
    account = customers.get_account(c, account_id)
    return AccountView(
        account=account,
        customer=customers.get_customer(c, account.customer_id),
        meter=meters.get(c, account.meter_id),
        price_type=tariffs.get_type(c, account.price_type_id).name,
        balance=ledger.balance(c, account_id),
        status=readings.get_status(c, account.meter_id),
        recent=list(
            sales.query(
                c, SalesFilter(account_id=account_id), PageRequest(limit=RECENT_SALES)
            ).items
        ),
    )


def find_customers(c: Conn, text: str, *, open_only: bool = True) -> list[CustomerRow]:
    """What the operator typed, tried as customer number, then meter address or number, then
    name: counter staff type whichever they have in front of them."""
    text = text.strip()
    if not text:
        return []
    status = customers.AccountStatus.OPEN if open_only else None
    page = PageRequest(limit=PICK_ROWS)
    for flt in (
        CustomerFilter(number_prefix=text, status=status),
        CustomerFilter(meter=text, status=status),
        CustomerFilter(name=text, status=status),
    ):
        found = customers.search(c, flt, page).items
        if found:
            return list(found)
    return []


def exact_match(rows: list[CustomerRow], text: str) -> CustomerRow | None:
    """The one row the operator meant: the only match, or the exact number / meter address."""
    if len(rows) == 1:
        return rows[0]
    text = text.strip()
    exact = [r for r in rows if text in (r.number, r.meter_address, r.meter_number)]
    return exact[0] if len(exact) == 1 else None


def account_of_vend(c: Conn, vend_id: int) -> int:
    return vends.get(c, vend_id).account_id


def meter_by_address(c: Conn, address: str) -> Meter:
    """A meter the operator typed by its 12-digit address (leading zeros may be left out)."""
    text = address.strip()
    if not text.isdigit() or len(text) > 12:
        raise WebError(BAD_INPUT, field="address", problem="meter_address")
    found = meters.by_address(c, text.rjust(12, "0"))
    if found is None:
        raise NotFoundError(f"no meter with address {text.rjust(12, '0')}")
    return found


@dataclass(frozen=True)
class Outcome:
    """What a page action ended with: its value, or the operator-facing error (and, for money,
    the vend the error belongs to: E506 names the vend being verified)."""

    value: Any = None
    error: Described | None = None
    vend_id: int | None = None
    status: int = 200  # the HTTP status the page answers with (web.render.status_of)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def uncertain(self) -> bool:
        return self.error is not None and self.error.code == "E506"


async def attempt(
    request: web.Request, action: str, target: str, work: Callable[[], Awaitable[Any]]
) -> Outcome:
    """Run a page's action; an operator error is logged (refusals are in the operation log too)
    and returned for the page to show next to the form; anything else is a bug and propagates."""
    try:
        return Outcome(await work())
    except Exception as exc:
        if not is_operator_error(exc):
            raise
        if not isinstance(exc, WebError):
            await log_failure(request, action, target, exc)
        vend_id = getattr(exc, "vend_id", None)
        return Outcome(
            None,
            described(request, exc),
            vend_id if isinstance(vend_id, int) else None,
            status_of(exc),
        )


async def vend_page(
    request: web.Request,
    outcome: Outcome,
    form_page: Callable[..., Awaitable[web.StreamResponse]],
    **page_args: Any,
) -> web.StreamResponse:
    """A money form's answer: the vend's result page when it went through, else the same form
    again with the error, the vend it concerns (E506) and what the operator had typed."""
    if outcome.ok:
        raise redirect(request, "vend_result", id=outcome.value.vend_id)
    return await form_page(
        request,
        **page_args,
        error=outcome.error,
        vend_id=outcome.vend_id,
        form=dict(await request.post()),
        status=outcome.status,
    )


# ---- JSON for the API ----------------------------------------------------------------------


def sale_json(result: SaleResult) -> dict[str, Any]:
    return {
        "vend_id": result.vend_id,
        "state": result.state,
        "amount": yuan(result.amount_fen),
        "energy": kwh(result.energy_cwh),
        "remainder": yuan(result.remainder_fen),
        "purchase_count": result.purchase_count,
        "receipt_number": result.receipt_number,
        "meter": result.meter_address,
        "repeated": result.repeated,
        "error": result.error,
    }


def refund_json(result: RefundResult) -> dict[str, Any]:
    return {
        "vend_id": result.vend_id,
        "state": result.state,
        "refund": yuan(result.refund_fen),
        "owed": yuan(result.owed_fen),
        "receipt_number": result.receipt_number,
        "repeated": result.repeated,
    }


def params_json(params: MeterParameters) -> dict[str, Any]:
    return {
        "address": params.address,
        "values": dict(params.values),
        "relay": params.relay,
        "relay_open": params.relay_open,
        "errors": dict(params.errors),
    }


def account_json(view: AccountView) -> dict[str, Any]:
    status = view.status
    remaining = None
    if status is not None and status.remaining is not None:
        remaining = kwh(status.remaining) if view.energy_wallet else yuan(status.remaining)
    return {
        "account_id": view.account.id,
        "status": str(view.account.status),
        "customer": {
            "id": view.customer.id,
            "number": view.customer.number,
            "name": view.customer.name,
            "phone": view.customer.phone,
            "address": view.customer.address,
        },
        "meter": {"id": view.meter.id, "address": view.meter.address, "type": view.meter.type_name},
        "wallet_model": str(view.account.wallet_model),
        "value_kind": str(view.account.value_kind),
        "price_type": view.price_type,
        "balance": yuan(view.balance.balance_fen),
        "purchased": yuan(view.balance.purchased_fen),
        "purchases": view.balance.purchases,
        "remainder": yuan(view.balance.remainder_fen),
        "relay_open": view.relay.relay_open if view.relay is not None else None,
        "online": status.online if status is not None else None,
        "meter_remaining": remaining,
    }


def flash_error(request: web.Request, error: Described) -> None:
    """An error shown on the page the operator is sent back to (after a redirect)."""
    flash(request, "error", f"{error.code} {error.message} {error.remedy}".strip())


# ---- choosing the account a workflow works on ----------------------------------------------


@dataclass(frozen=True)
class Selection:
    """The 选中用户 step: what was typed, what it matched, and the account chosen."""

    q: str
    rows: list[CustomerRow]
    view: AccountView | None


async def select_account(
    request: web.Request, *, account_id: int | None = None, open_only: bool = True
) -> Selection:
    """From the query string (``q`` typed, ``account`` chosen) or a POST's account id.

    Typing a customer number (or meter address) that matches one account goes straight to it,
    so "number, Enter, amount, Enter" is a whole sale.
    """
    query = Fields(request.query)
    q = query.text("q", max_len=64)
    chosen = account_id or query.integer("account", required=False, minimum=1)
    db = request.app[DATABASE]
    rows: list[CustomerRow] = []
    if chosen is None and q:
        rows = await db.read(find_customers, q, open_only=open_only)
        one = exact_match(rows, q)
        if one is not None and one.account_id is not None:
            raise web.HTTPSeeOther(
                location=str(request.rel_url.with_query({"account": one.account_id, "q": q}))
            )
    view = await db.read(account_view, chosen) if chosen is not None else None
    return Selection(q, rows, view)


async def workflow_page(
    request: web.Request,
    template: str,
    title_key: str,
    steps: tuple[str, ...],
    *,
    account_id: int | None = None,
    open_only: bool = True,
    error: Described | None = None,
    vend_id: int | None = None,
    form: Mapping[str, Any] | None = None,
    params: MeterParameters | None = None,
    status: int = 200,
    **extra: Any,
) -> web.StreamResponse:
    """One of the select-the-customer workflow pages (daily sale, read/clear cards, refund,
    replacement), with what the last action left to show."""
    selection = await select_account(request, account_id=account_id, open_only=open_only)
    view = selection.view
    extra.setdefault("card", None)
    step = 0
    if view is not None:
        step = 1 if params is None and extra["card"] is None else 2
    return render(
        request,
        template,
        status=status,
        title_key=title_key,
        steps=steps,
        step=step,
        q=selection.q,
        rows=selection.rows,
        view=view,
        error=error,
        vend_id=vend_id,
        form=dict(form or {}),
        params=params,
        nonce=new_nonce(),
        can=context(request).can,
        frames=True,
        **extra,
    )
