"""Menu functions whose pages come with the workflow part (gateway.services): open account and
purchase, daily sale, cards, refunds, replacement, meter tools, monitoring.

Each has its route, permission and place in the menu already; until its real page replaces this
entry (same route name), it shows the manual's sequence and buttons, disabled, so staff and
testers can see where the function lives. The workflow part deletes an entry here when it adds
the real page.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from web.i18n import N_
from web.render import render
from web.routes import RouteTable

routes = RouteTable()


@dataclass(frozen=True)
class Placeholder:
    name: str
    path: str
    permission: str
    feature: str
    title: str
    steps: tuple[str, ...]  # the manual's sequence, as translation keys
    buttons: tuple[str, ...]  # the manual's buttons (comm and card variants)


PLACEHOLDERS: tuple[Placeholder, ...] = (
    Placeholder(
        "customer_open",
        "/customers/open",
        "customers.manage",
        "F2.1",
        N_("menu.customer_open"),
        (
            N_("flow.select_meter"),
            N_("flow.fill_customer"),
            N_("btn.read_address"),
            N_("btn.save_customer"),
            N_("btn.open_purchase_comm"),
            N_("btn.print_receipt"),
        ),
        (
            N_("btn.read_address"),
            N_("btn.save_customer"),
            N_("btn.open_purchase_comm"),
            N_("btn.open_purchase_card"),
            N_("btn.reissue_card"),
            N_("btn.deregister"),
            N_("btn.force_on"),
            N_("btn.force_off"),
            N_("btn.reset_clear"),
        ),
    ),
    Placeholder(
        "daily_sale",
        "/sales/daily",
        "sales.daily",
        "F3.1",
        N_("menu.daily_sale"),
        (
            N_("flow.select_customer"),
            N_("btn.read_params_comm"),
            N_("flow.fill_purchase"),
            N_("btn.daily_purchase_comm"),
            N_("btn.print_receipt"),
        ),
        (
            N_("btn.read_params_comm"),
            N_("btn.read_user_card"),
            N_("btn.daily_purchase_comm"),
            N_("btn.daily_purchase_card"),
            N_("btn.print_receipt"),
        ),
    ),
    Placeholder(
        "card_read_clear",
        "/cards",
        "cards.read",
        "F3.2",
        N_("menu.card_read_clear"),
        (N_("flow.select_customer"), N_("btn.read_params_comm")),
        (N_("btn.read_params_comm"), N_("btn.read_card"), N_("btn.clear_card")),
    ),
    Placeholder(
        "refund_close",
        "/refunds",
        "sales.refund",
        "F3.3",
        N_("menu.refund_close"),
        (
            N_("flow.select_customer"),
            N_("btn.read_params_comm"),
            N_("btn.refund_close_comm"),
            N_("btn.print_receipt"),
        ),
        (
            N_("btn.read_params_comm"),
            N_("btn.refund_close_comm"),
            N_("btn.read_user_card"),
            N_("btn.make_refund_card"),
            N_("btn.refund_clear_card"),
            N_("btn.print_receipt"),
        ),
    ),
    Placeholder(
        "replace_meter",
        "/replacements/new",
        "sales.replace",
        "F4.1",
        N_("menu.replace_meter"),
        (
            N_("flow.select_customer_new_meter"),
            N_("btn.read_params_comm"),
            N_("flow.fill_purchase"),
            N_("btn.replace_purchase_comm"),
            N_("btn.print_receipt"),
        ),
        (
            N_("btn.read_params_comm"),
            N_("btn.read_user_card"),
            N_("btn.replace_purchase_comm"),
            N_("btn.replace_purchase_card"),
            N_("btn.print_receipt"),
        ),
    ),
    Placeholder(
        "tool_meter_reset",
        "/tools/reset",
        "meters.reset",
        "F7.1",
        N_("menu.tool_meter_reset"),
        (N_("flow.enter_address_card"), N_("btn.reset_card")),
        (N_("btn.reset_card"), N_("btn.reset_rs485")),
    ),
    Placeholder(
        "tool_settings_card",
        "/tools/settings-card",
        "tools.cards",
        "F7.2",
        N_("menu.tool_settings_card"),
        (N_("flow.set_parameters"), N_("btn.settings_card")),
        (N_("btn.settings_card"),),
    ),
    Placeholder(
        "tool_query",
        "/tools/query",
        "tools.cards",
        "F7.3",
        N_("menu.tool_query"),
        (N_("flow.set_parameters"), N_("btn.query_card"), N_("btn.read_card")),
        (N_("btn.query_card"), N_("btn.query_rs485"), N_("btn.read_card")),
    ),
    Placeholder(
        "tool_relay",
        "/tools/relay",
        "relay.control",
        "F7.4",
        N_("menu.tool_relay"),
        (N_("flow.enter_address_card"), N_("btn.relay_card")),
        (N_("btn.relay_card"), N_("btn.relay_rs485")),
    ),
    Placeholder(
        "monitoring",
        "/monitoring",
        "monitoring.view",
        "F7.5",
        N_("menu.monitoring"),
        (N_("btn.read_all"), N_("btn.read_one")),
        (
            N_("btn.read_all"),
            N_("btn.read_one"),
            N_("btn.export_monitoring"),
            N_("btn.export_exceptions"),
            N_("btn.export_alarms"),
        ),
    ),
)


def _register(entry: Placeholder) -> None:
    async def show(request: web.Request) -> web.StreamResponse:
        return render(
            request,
            "placeholder.html",
            title_key=entry.title,
            entry=entry,
            frames=True,
        )

    routes.page(
        "GET", entry.path, name=entry.name, permission=entry.permission, feature=entry.feature
    )(show)


for _entry in PLACEHOLDERS:
    _register(_entry)
