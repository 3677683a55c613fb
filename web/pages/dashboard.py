"""The dashboard a site manager opens first: meters online/offline, alarms, today's sales by
operator, low-balance customers, last sync with the cloud, and the last two weeks of sales.

Live state (meters, alarms, sync) comes from the ``STATUS`` provider; money from the store.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from aiohttp import web

from gateway.store import customers, sales, siteinfo
from gateway.store.conn import Conn
from gateway.store.paging import PageRequest
from web import charts, formatting
from web.keys import CLOCK, DATABASE, STATUS, context
from web.monitoring_tables import kind_label
from web.render import render
from web.routes import SIGNED_IN, RouteTable

routes = RouteTable()

LOW_BALANCE_SETTING = "web.dashboard.low_balance_fen"
DEFAULT_LOW_BALANCE_FEN = 2000
CHART_DAYS = 14
LOW_BALANCE_ROWS = 10


@dataclass(frozen=True)
class Money:
    today: list[sales.OperatorTotals]
    today_total: sales.SalesTotals
    by_day: list[tuple[str, int]]
    low_balance: list[customers.CustomerRow]
    low_balance_fen: int


def _money(c: Conn, now: dt.datetime) -> Money:
    local_now = now.astimezone()
    midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    tomorrow = midnight + dt.timedelta(days=1)
    today = sales.totals_by_operator(c, midnight, tomorrow)
    total = sales.totals(c, sales.SalesFilter(since=midnight, until=tomorrow))
    by_day = []
    for back in range(CHART_DAYS - 1, -1, -1):
        start = midnight - dt.timedelta(days=back)
        day_total = sales.totals(c, sales.SalesFilter(since=start, until=start + dt.timedelta(1)))
        by_day.append((start.strftime("%m-%d"), day_total.amount_fen))
    threshold = siteinfo.get_setting(c, LOW_BALANCE_SETTING, DEFAULT_LOW_BALANCE_FEN)
    threshold = threshold if isinstance(threshold, int) else DEFAULT_LOW_BALANCE_FEN
    low = customers.search(
        c,
        customers.CustomerFilter(balance_below_fen=threshold),
        PageRequest(limit=LOW_BALANCE_ROWS),
    )
    return Money(today, total, by_day, list(low.items), threshold)


@routes.page("GET", "/", name="dashboard", permission=SIGNED_IN)
async def dashboard(request: web.Request) -> web.StreamResponse:
    now = request.app[CLOCK]()
    money = await request.app[DATABASE].read(_money, now)
    status = request.app[STATUS]
    ctx = context(request)
    chart = charts.bar_chart(
        money.by_day, label=formatting.yuan, title="sales", width=560, height=240
    )
    return render(
        request,
        "dashboard.html",
        title_key="menu.dashboard",
        money=money,
        meters=status.meter_counts(),
        alarms=status.active_alarms(10),
        sync=status.sync_state(),
        sales_chart=chart,
        can_query=ctx.can("queries.view"),
        can_monitor=ctx.can("monitoring.view"),
        kind_label=lambda name: kind_label(name, ctx.lang),
        # The front panel's live image, when the running gateway has a panel (support can see
        # exactly what the OLED shows, over the phone).
        panel_mirror="panel_mirror" in request.app.router and ctx.can("monitoring.view"),
    )
