"""The card variants of the manual's workflows (the IC-card buttons of every page), and F3.2
读卡清卡: select the customer →【读参数（通讯）】/【读电卡（IC卡）】/【清电卡（IC卡）】.

The cards are written and read at the gateway's reader by gateway.services.card_workflows
(through web.cardflows); every money card is exactly once per form nonce, like the comm path.
After a card is written the page says to carry it to the meter.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway.cards.format import CardContent
from gateway.cards.session import CardRead
from gateway.store import customers
from web import cardflows
from web.cardfacts import CardFacts, card_facts, content_facts
from web.forms import Fields
from web.keys import DATABASE
from web.once import form_key
from web.render import flash, redirect
from web.routes import RouteTable
from web.workflow import Outcome, attempt, meter_by_address, once, path_int, t, workflow_page

from . import customers as customer_pages
from . import meter_tools, refunds, replacement, sales
from .customers import ID

routes = RouteTable()

CARD_STEPS = ("flow.select_customer", "btn.read_params_comm", "btn.read_card", "btn.clear_card")


def facts(request: web.Request, answer: Any) -> CardFacts | None:
    """What a card service answered, as rows for the page: a card read (CardView), a user card
    (UserCardView) or a card just written (CardWriteResult); None for anything else."""

    def translate(key: str) -> str:
        return t(request, key)

    read = getattr(answer, "read", None)
    if isinstance(read, CardRead):
        return card_facts(read, translate)
    content = getattr(answer, "card", None)
    if isinstance(content, CardContent):
        return content_facts(content, translate)
    return None


async def _page(request: web.Request, **kw: Any) -> web.StreamResponse:
    return await workflow_page(
        request, "card_tools.html", "menu.card_read_clear", CARD_STEPS, open_only=False, **kw
    )


@routes.page("GET", "/cards", name="card_read_clear", permission="cards.read", feature="F3.2")
async def card_page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


@routes.page(
    "POST",
    f"/cards/{ID}/read-params",
    name="cards_read_params",
    permission="cards.read",
    feature="F3.2",
)
async def cards_read_params(request: web.Request) -> web.StreamResponse:
    account_id = path_int(request)
    outcome = await sales.read_parameters(request, account_id)
    return await _page(
        request,
        account_id=account_id,
        params=outcome.value,
        error=outcome.error,
        status=outcome.status,
    )


async def _optional_account(request: web.Request) -> int | None:
    fields = await Fields.from_form(request)
    return fields.integer("account", required=False, minimum=1)


@routes.page("POST", "/cards/read", name="card_read", permission="cards.read", feature="F3.2")
async def card_read(request: web.Request) -> web.StreamResponse:
    """【读电卡（IC卡）】: what the card in the gateway's reader holds."""
    account_id = await _optional_account(request)
    outcome = await attempt(request, "card.read", "card", lambda: cardflows.read_card(request))
    return await _page(
        request,
        account_id=account_id,
        card=facts(request, outcome.value) if outcome.ok else None,
        error=outcome.error,
        status=outcome.status,
    )


@routes.page("POST", "/cards/clear", name="card_clear", permission="cards.read", feature="F3.2")
async def card_clear(request: web.Request) -> web.StreamResponse:
    """【清电卡（IC卡）】: the card becomes blank (a user card is refused while it carries a
    purchase the meter has not loaded)."""
    account_id = await _optional_account(request)
    outcome = await attempt(request, "card.clear", "card", lambda: cardflows.clear_card(request))
    if outcome.ok:
        flash(request, "ok", t(request, "cards.cleared"))
    return await _page(request, account_id=account_id, error=outcome.error, status=outcome.status)


# ---- the card buttons of the other workflow pages ------------------------------------------

Renderer = Callable[..., Awaitable[web.StreamResponse]]


def _sale_redirect(request: web.Request, outcome: Outcome) -> None:
    """A money card: the result page (with its receipt), as the comm variant."""
    if outcome.ok and hasattr(outcome.value, "vend_id"):
        flash(request, "ok", t(request, "cards.carry_to_meter"))
        raise redirect(request, "vend_result", id=outcome.value.vend_id)


async def _customer_of(request: web.Request, account_id: int) -> int:
    account = await request.app[DATABASE].read(customers.get_account, account_id)
    return account.customer_id


@routes.page(
    "POST",
    f"/accounts/{ID}/open-purchase-card",
    name="account_open_purchase_card",
    permission="sales.open",
    feature="F2.1",
)
async def open_purchase_card(request: web.Request) -> web.StreamResponse:
    """【开户购电（IC卡）】."""
    account_id = path_int(request)
    fields = await Fields.from_form(request)

    async def work() -> Any:
        amount, key = fields.yuan("amount"), form_key(fields)
        return await once(
            request, key, lambda: cardflows.open_purchase(request, account_id, amount, key)
        )

    outcome = await attempt(request, "card.open_purchase", f"account:{account_id}", work)
    _sale_redirect(request, outcome)
    return await customer_pages.customer_page_for(
        request, await _customer_of(request, account_id), outcome, dict(await request.post())
    )


@routes.page(
    "POST",
    f"/accounts/{ID}/reissue-card",
    name="account_reissue_card",
    permission="cards.issue",
    feature="F2.2",
)
async def reissue_card(request: web.Request) -> web.StreamResponse:
    """【补用户卡（IC卡）】: a blank card in the reader becomes the customer's card."""
    account_id = path_int(request)
    fields = await Fields.from_form(request)

    async def work() -> Any:
        key = form_key(fields)
        return await once(request, key, lambda: cardflows.reissue(request, account_id, key))

    outcome = await attempt(request, "card.reissue", f"account:{account_id}", work)
    if outcome.ok:
        flash(request, "ok", t(request, "cards.reissued"))
    return await customer_pages.customer_page_for(
        request, await _customer_of(request, account_id), outcome, {}
    )


@routes.page(
    "POST",
    f"/sales/daily/{ID}/card",
    name="daily_purchase_card",
    permission="sales.daily",
    feature="F3.1",
)
async def daily_purchase_card(request: web.Request) -> web.StreamResponse:
    """【日常购电（IC卡）】: the purchase on the customer's card; then the card goes into the
    meter."""
    account_id = path_int(request)
    fields = await Fields.from_form(request)

    async def work() -> Any:
        amount, key = fields.yuan("amount"), form_key(fields)
        return await once(
            request, key, lambda: cardflows.daily_purchase(request, account_id, amount, key)
        )

    outcome = await attempt(request, "card.daily_purchase", f"account:{account_id}", work)
    _sale_redirect(request, outcome)
    return await sales.page(
        request,
        account_id=account_id,
        error=outcome.error,
        vend_id=outcome.vend_id,
        form=dict(await request.post()),
        status=outcome.status,
    )


def _read_user_card(name: str, path: str, permission: str, feature: str, page: Renderer) -> None:
    """【读用户卡（IC卡）】 on a workflow page: the card's purchase state beside the account."""

    async def handler(request: web.Request) -> web.StreamResponse:
        account_id = path_int(request)
        outcome = await attempt(
            request, "card.read_user", f"account:{account_id}",
            lambda: cardflows.read_user_card(request),
        )  # fmt: skip
        return await page(
            request,
            account_id=account_id,
            card=facts(request, outcome.value) if outcome.ok else None,
            error=outcome.error,
            form=dict(await request.post()),
            status=outcome.status,
        )

    routes.page("POST", path, name=name, permission=permission, feature=feature)(handler)


_read_user_card(
    "daily_read_user_card", f"/sales/daily/{ID}/read-card", "sales.daily", "F3.1", sales.page
)
_read_user_card(
    "refund_read_user_card", f"/refunds/{ID}/read-card", "sales.refund", "F3.3", refunds.page
)
_read_user_card(
    "replace_read_user_card",
    f"/replacements/{ID}/read-card",
    "sales.replace",
    "F4.1",
    replacement.page,
)


@routes.page(
    "POST",
    f"/refunds/{ID}/make-card",
    name="refund_make_card",
    permission="sales.refund",
    feature="F3.3",
)
async def refund_make_card(request: web.Request) -> web.StreamResponse:
    """【制作退费卡（IC卡）】: the customer's card becomes a refund card for the meter."""
    account_id = path_int(request)

    async def work() -> Any:
        # Making it twice changes nothing (the service sees its own refund card).
        return await cardflows.make_refund_card(request, account_id)

    outcome = await attempt(request, "card.make_refund", f"account:{account_id}", work)
    if outcome.ok:
        flash(request, "ok", t(request, "cards.refund_card_made"))
    return await refunds.page(
        request,
        account_id=account_id,
        error=outcome.error,
        card=facts(request, outcome.value) if outcome.ok else None,
        status=outcome.status,
    )


@routes.page(
    "POST",
    f"/refunds/{ID}/clear-card",
    name="refund_clear_card",
    permission="sales.refund",
    feature="F3.3",
)
async def refund_clear_card(request: web.Request) -> web.StreamResponse:
    """【退费销户清卡】: the refund card back from the meter: pay out what it read, close."""
    account_id = path_int(request)
    fields = await Fields.from_form(request)

    async def work() -> Any:
        fee = fields.optional_yuan("fee") or 0
        key = form_key(fields)
        return await once(
            request, key, lambda: cardflows.refund_close(request, account_id, key, fee)
        )

    outcome = await attempt(request, "card.refund_close", f"account:{account_id}", work)
    if outcome.ok and hasattr(outcome.value, "vend_id"):
        raise redirect(request, "vend_result", id=outcome.value.vend_id)
    return await refunds.page(
        request,
        account_id=account_id,
        open_only=False,
        error=outcome.error,
        vend_id=outcome.vend_id,
        status=outcome.status,
    )


@routes.page(
    "POST",
    f"/replacements/{ID}/card",
    name="replace_purchase_card",
    permission="sales.replace",
    feature="F4.1",
)
async def replace_purchase_card(request: web.Request) -> web.StreamResponse:
    """【换表购电（IC卡）】."""
    account_id = path_int(request)
    fields = await Fields.from_form(request)

    async def work() -> Any:
        new_meter = fields.required_int("new_meter_id", minimum=1)
        amount, key = fields.yuan("amount"), form_key(fields)
        manual = fields.boolean("manual") or fields.has("compensation")
        given = (fields.optional_yuan("compensation") or 0) if manual else None
        return await once(
            request,
            key,
            lambda: cardflows.replacement_purchase(
                request, account_id, new_meter, amount, key, given
            ),
        )

    outcome = await attempt(request, "card.replacement", f"account:{account_id}", work)
    _sale_redirect(request, outcome)
    return await replacement.page(
        request,
        account_id=account_id,
        error=outcome.error,
        vend_id=outcome.vend_id,
        form=dict(await request.post()),
        status=outcome.status,
    )


# ---- F7.1-F7.4 cards -----------------------------------------------------------------------


async def _tool_meter(request: web.Request, fields: Fields, *, required: bool) -> int | None:
    address = fields.text("address", required=required, max_len=12)
    if not address:
        return None
    meter = await request.app[DATABASE].read(meter_by_address, address)
    return meter.id


def _tool_card(
    tool: str,
    name: str,
    path: str,
    permission: str,
    done_key: str,
    call: Callable[[web.Request, Fields], Awaitable[Any]],
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        fields = await Fields.from_form(request)
        form = dict(await request.post())
        outcome = await attempt(
            request, f"card.{tool}", "meter:" + str(fields.raw("address") or ""),
            lambda: call(request, fields),
        )  # fmt: skip
        return await meter_tools.tool_page(
            request,
            tool,
            form=form,
            error=outcome.error,
            done=t(request, done_key) if outcome.ok else "",
            card=facts(request, outcome.value) if outcome.ok else None,
            status=outcome.status,
        )

    routes.page("POST", path, name=name, permission=permission, feature=meter_tools.TOOLS[tool][1])(
        handler
    )


async def _reset(request: web.Request, fields: Fields) -> Any:
    meter_id = await _tool_meter(request, fields, required=True)
    assert meter_id is not None
    return await cardflows.reset_card(request, meter_id)


async def _settings(request: web.Request, fields: Fields) -> Any:
    meter_id = await _tool_meter(request, fields, required=False)
    values = {
        "alarm1_fen": fields.optional_yuan("alarm1"),
        "alarm2_fen": fields.optional_yuan("alarm2"),
        "overdraft_limit_fen": fields.optional_yuan("overdraft_limit"),
        "hoarding_limit_fen": fields.optional_yuan("hoarding_limit"),
        "close_allowed_fen": fields.optional_yuan("close_allowed"),
    }
    return await cardflows.settings_card(request, meter_id, values)


async def _query(request: web.Request, fields: Fields) -> Any:
    return await cardflows.query_card(request, await _tool_meter(request, fields, required=False))


async def _read(request: web.Request, fields: Fields) -> Any:
    return await cardflows.read_card(request)


async def _relay(request: web.Request, fields: Fields) -> Any:
    meter_id = await _tool_meter(request, fields, required=True)
    assert meter_id is not None
    on = fields.choice("action", ("on", "off")) == "on"
    return await cardflows.relay_card(request, meter_id, on)


_tool_card(
    "reset", "tool_reset_card", "/tools/reset/card", "meters.reset", "cards.tool_written", _reset
)
_tool_card(
    "settings",
    "tool_settings_card_write",
    "/tools/settings-card",
    "tools.cards",
    "cards.tool_written",
    _settings,
)
_tool_card(
    "query", "tool_query_card", "/tools/query/card", "tools.cards", "cards.tool_written", _query
)
_tool_card(
    "query",
    "tool_query_read_card",
    "/tools/query/read-card",
    "tools.cards",
    "cards.read_done",
    _read,
)
_tool_card(
    "relay", "tool_relay_card", "/tools/relay/card", "relay.control", "cards.tool_written", _relay
)
