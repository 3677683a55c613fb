"""The route table: every URL with its method, permission, feature ID and API schemas.

Handlers register themselves with a :class:`RouteTable` (one per page module). The app adds the
routes to aiohttp's router by name; the security middleware looks the matched route up here to
know which permission to check; the menu links to routes by name; the OpenAPI document is
generated from the API routes' schemas. One declaration, so none of them can drift.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from gateway.store.permissions import ALL_CODES

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Pseudo-permissions: no session at all (login page), or any signed-in operator.
PUBLIC = "@public"
SIGNED_IN = "@signed-in"

Kind = Literal["page", "api"]


@dataclass(frozen=True)
class QueryParam:
    """A query-string parameter of an API route (documented in OpenAPI)."""

    name: str
    schema: Mapping[str, Any]
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    name: str
    handler: Handler
    permission: str
    kind: Kind
    feature: str | None = None
    summary: str = ""
    # API only: JSON schema of the request body, query parameters, and the documented answers
    # (status -> JSON schema of the body, or None when the body is not JSON: a file download).
    body: Mapping[str, Any] | None = None
    query: tuple[QueryParam, ...] = ()
    responses: Mapping[int, Mapping[str, Any] | None] = field(default_factory=dict)
    # Content type of a 200 answer that is not JSON (exports, backups, SSE).
    produces: str = "application/json"
    # Reachable while the operator still has to change the factory password.
    before_password_change: bool = False

    @property
    def writes(self) -> bool:
        return self.method not in ("GET", "HEAD", "OPTIONS")


class RouteTable:
    """Routes of one module, declared with the ``page`` and ``api`` decorators."""

    def __init__(self) -> None:
        self._routes: list[Route] = []

    def __iter__(self) -> Iterator[Route]:
        return iter(self._routes)

    def _add(self, route: Route) -> None:
        if route.permission not in (PUBLIC, SIGNED_IN) and route.permission not in ALL_CODES:
            raise ValueError(f"route {route.name}: unknown permission {route.permission!r}")
        self._routes.append(route)

    def page(
        self,
        method: str,
        path: str,
        *,
        name: str,
        permission: str,
        feature: str | None = None,
        before_password_change: bool = False,
        produces: str = "text/html",
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self._add(
                Route(
                    method,
                    path,
                    name,
                    handler,
                    permission,
                    "page",
                    feature=feature,
                    produces=produces,
                    before_password_change=before_password_change,
                )
            )
            return handler

        return register

    def api(
        self,
        method: str,
        path: str,
        *,
        name: str,
        permission: str,
        summary: str,
        feature: str | None = None,
        body: Mapping[str, Any] | None = None,
        query: Iterable[QueryParam] = (),
        responses: Mapping[int, Mapping[str, Any] | None],
        produces: str = "application/json",
        before_password_change: bool = False,
    ) -> Callable[[Handler], Handler]:
        if not path.startswith("/api/v1/"):
            raise ValueError(f"API route {name} must live under /api/v1/")

        def register(handler: Handler) -> Handler:
            self._add(
                Route(
                    method,
                    path,
                    name,
                    handler,
                    permission,
                    "api",
                    feature=feature,
                    summary=summary,
                    body=body,
                    query=tuple(query),
                    responses=dict(responses),
                    produces=produces,
                    before_password_change=before_password_change,
                )
            )
            return handler

        return register


class Routes:
    """All routes of the application, by name."""

    def __init__(self, tables: Iterable[RouteTable]) -> None:
        self.all: tuple[Route, ...] = tuple(route for table in tables for route in table)
        self.by_name: dict[str, Route] = {}
        for route in self.all:
            if route.name in self.by_name:
                raise ValueError(f"route name {route.name!r} is declared twice")
            self.by_name[route.name] = route

    def __iter__(self) -> Iterator[Route]:
        return iter(self.all)

    def add_to(self, router: web.UrlDispatcher) -> None:
        for route in self.all:
            router.add_route(route.method, route.path, route.handler, name=route.name)

    def api(self) -> tuple[Route, ...]:
        return tuple(r for r in self.all if r.kind == "api")

    def pages(self) -> tuple[Route, ...]:
        return tuple(r for r in self.all if r.kind == "page")
