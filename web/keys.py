"""Typed application and request keys (aiohttp ``AppKey`` / ``RequestKey``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import jinja2
from aiohttp import web

from gateway.reading.runtime import ReadingRuntime
from gateway.store.clock import Clock
from gateway.store.database import Database
from gateway.store.operators import Operator
from web.config import PrinterConfig, WebConfig
from web.frames import FrameFeed
from web.i18n import Lang, Translations
from web.jobs import JobBoard
from web.once import OnceGuard
from web.routes import Route, Routes
from web.security.sessions import Session, SessionStore
from web.security.throttle import LoginThrottle
from web.status import StatusProvider

DATABASE = web.AppKey("database", Database)
CLOCK = web.AppKey[Clock]("clock")
CONFIG = web.AppKey("config", WebConfig)
# The use cases (gateway.services) once the lead wires them; None until then.
SERVICES = web.AppKey("services", object)
STATUS = web.AppKey[StatusProvider]("status")
FRAMES = web.AppKey("frames", FrameFeed)
SESSIONS = web.AppKey("sessions", SessionStore)
THROTTLE = web.AppKey("throttle", LoginThrottle)
ROUTES = web.AppKey("routes", Routes)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
TEXTS = web.AppKey("texts", Translations)
# The meter-reading runtime (F7.5: read all / read one) once the composition root passes it.
READING: web.AppKey[ReadingRuntime | None] = web.AppKey("reading", ReadingRuntime)
# Long operations with progress, and the guard that runs each money request once.
JOBS = web.AppKey("jobs", JobBoard)
ONCE = web.AppKey("once", OnceGuard)
# Folder for temporary files (uploads being checked, exports being built).
WORK_DIR = web.AppKey("work_dir", str)
# The receipt printer for 【小票打印】 ([printer]; kind "none" hides the button).
PRINTER = web.AppKey("printer", PrinterConfig)
# One job at a time: two receipts must not interleave on the device or race for "original".
PRINTER_LOCK = web.AppKey("printer_lock", asyncio.Lock)


@dataclass(frozen=True)
class RequestContext:
    """Who is asking and how to answer them; set by the security middleware."""

    route: Route | None
    lang: Lang
    session: Session | None
    operator: Operator | None

    def can(self, permission: str) -> bool:
        return self.operator is not None and permission in self.operator.permissions


CONTEXT = web.RequestKey("context", RequestContext)


def context(request: web.Request) -> RequestContext:
    return request[CONTEXT]


def operator(request: web.Request) -> Operator:
    """The signed-in operator (routes other than PUBLIC always have one)."""
    found = request[CONTEXT].operator
    if found is None:
        raise RuntimeError("route declared PUBLIC asks for the operator")
    return found
