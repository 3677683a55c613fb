"""Serving the app: HTTPS on ``port`` (certificate from :mod:`web.security.tls`) and plain HTTP on
``redirect_port`` that only redirects to HTTPS. With ``tls = false`` (demo, loopback only) the
app is served over plain HTTP on ``port`` and nothing else listens.

    servers = await start(app, config)
    ...
    await servers.stop()
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

from web.config import WebConfig
from web.keys import CLOCK
from web.security.tls import load_context

log = logging.getLogger(__name__)


def redirect_app(config: WebConfig) -> web.Application:
    """Plain HTTP: every request is sent to the same path over HTTPS; nothing else is served."""

    async def to_https(request: web.Request) -> web.StreamResponse:
        host = request.url.host or "localhost"
        port = "" if config.port == 443 else f":{config.port}"
        raise web.HTTPPermanentRedirect(location=f"https://{host}{port}{request.rel_url}")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", to_https)
    return app


@dataclass
class WebServers:
    runners: list[web.AppRunner]

    async def stop(self) -> None:
        for runner in reversed(self.runners):
            await runner.cleanup()


async def start(app: web.Application, config: WebConfig) -> WebServers:
    runners: list[web.AppRunner] = []
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    runners.append(runner)
    try:
        if config.tls:
            context, paths = await load_context(config, app[CLOCK]())
            if paths.generated:
                log.warning("generated a self-signed HTTPS certificate at %s", paths.cert)
            await web.TCPSite(runner, config.host, config.port, ssl_context=context).start()
            if config.redirect_port:
                redirect = web.AppRunner(redirect_app(config), access_log=None)
                await redirect.setup()
                runners.append(redirect)
                await web.TCPSite(redirect, config.host, config.redirect_port).start()
        else:
            await web.TCPSite(runner, config.host, config.port).start()
    except BaseException:
        for started in reversed(runners):
            await started.cleanup()
        raise
    log.info("web UI on %s://%s:%d", config.scheme, config.host, config.port)
    return WebServers(runners)
