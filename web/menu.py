"""The manual's menu (功能一览) as data: seven sections, each function with its feature ID.

Items link to routes by name; an item is shown when the operator holds the route's permission.
Pages that the workflow part adds later already have their place here (their routes exist as
placeholders until then), so every F-ID of spec/FEATURES.md is in the menu.
"""

from __future__ import annotations

from dataclasses import dataclass

from web.i18n import N_


@dataclass(frozen=True)
class MenuItem:
    route: str
    title: str  # translation key
    features: tuple[str, ...]  # the F-IDs this page serves


@dataclass(frozen=True)
class MenuSection:
    key: str
    title: str  # translation key
    items: tuple[MenuItem, ...]


MENU: tuple[MenuSection, ...] = (
    MenuSection(
        "network",
        N_("menu.network"),
        (
            MenuItem("comm_params", N_("menu.comm_params"), ("F1.1",)),
            MenuItem("lines", N_("menu.lines"), ("F1.2",)),
            MenuItem("boxes", N_("menu.boxes"), ("F1.3",)),
            MenuItem("meters", N_("menu.meters"), ()),
        ),
    ),
    MenuSection(
        "customers",
        N_("menu.customers"),
        (
            MenuItem(
                "customer_open",
                N_("menu.customer_open"),
                ("F2.1", "F2.2", "F2.3", "F2.4", "F2.5", "F2.6", "F2.7"),
            ),
            MenuItem("customer_query", N_("menu.customer_query"), ("F2.8",)),
            MenuItem("closed_query", N_("menu.closed_query"), ("F2.9",)),
            MenuItem("reissue_query", N_("menu.reissue_query"), ("F2.10",)),
        ),
    ),
    MenuSection(
        "charging",
        N_("menu.charging"),
        (
            MenuItem("daily_sale", N_("menu.daily_sale"), ("F3.1",)),
            MenuItem("card_read_clear", N_("menu.card_read_clear"), ("F3.2",)),
            MenuItem("refund_close", N_("menu.refund_close"), ("F3.3",)),
            MenuItem("receipt_reprint", N_("menu.receipt_reprint"), ("F3.4",)),
            MenuItem("sales_query", N_("menu.sales_query"), ("F3.5",)),
        ),
    ),
    MenuSection(
        "replacement",
        N_("menu.replacement"),
        (
            MenuItem("replace_meter", N_("menu.replace_meter"), ("F4.1",)),
            MenuItem("replacement_query", N_("menu.replacement_query"), ("F4.2",)),
        ),
    ),
    MenuSection(
        "master",
        N_("menu.master"),
        (
            MenuItem("price_types", N_("menu.price_types"), ("F5.1",)),
            MenuItem("organisation", N_("menu.organisation"), ("F5.2",)),
            MenuItem("receipt_designer", N_("menu.receipt_designer"), ("F5.3",)),
            MenuItem("operators", N_("menu.operators"), ("F5.4",)),
            MenuItem("password", N_("menu.password"), ("F5.5",)),
            MenuItem("meter_types", N_("menu.meter_types"), ("F5.6",)),
        ),
    ),
    MenuSection(
        "system",
        N_("menu.system"),
        (
            MenuItem("backup", N_("menu.backup"), ("F6.1",)),
            MenuItem("restore", N_("menu.restore"), ("F6.2",)),
            MenuItem("oplog_maintain", N_("menu.oplog_maintain"), ("F6.3",)),
            MenuItem("oplog_query", N_("menu.oplog_query"), ("F6.4",)),
            MenuItem("clear_all", N_("menu.clear_all"), ("F6.5",)),
        ),
    ),
    MenuSection(
        "tools",
        N_("menu.tools"),
        (
            MenuItem("tool_meter_reset", N_("menu.tool_meter_reset"), ("F7.1",)),
            MenuItem("tool_settings_card", N_("menu.tool_settings_card"), ("F7.2",)),
            MenuItem("tool_query", N_("menu.tool_query"), ("F7.3",)),
            MenuItem("tool_relay", N_("menu.tool_relay"), ("F7.4",)),
            MenuItem("monitoring", N_("menu.monitoring"), ("F7.5",)),
        ),
    ),
)


def section_of(route_name: str) -> MenuSection | None:
    for section in MENU:
        if any(item.route == route_name for item in section.items):
            return section
    return None
