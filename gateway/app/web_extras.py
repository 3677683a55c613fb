"""Routes the composition root adds to the web UI: the live mirror of the front panel."""

from __future__ import annotations

from aiohttp import web

from gateway.panel.service import Panel
from web.routes import RouteTable

PANEL: web.AppKey[Panel | None] = web.AppKey("panel", Panel)

routes = RouteTable()


@routes.page(
    "GET", "/panel/mirror.png", name="panel_mirror", permission="monitoring.view",
    produces="image/png",
)  # fmt: skip
async def panel_mirror(request: web.Request) -> web.StreamResponse:
    """What the OLED shows right now (support can see the panel over the phone)."""
    panel = request.app.get(PANEL)
    if panel is None:
        raise web.HTTPNotFound(text="no front panel is running")
    return web.Response(
        body=panel.latest_png(), content_type="image/png", headers={"Cache-Control": "no-store"}
    )
