"""Paging for the UI's queries and a small WHERE-clause builder shared by the repositories."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from gateway.store.clock import to_text
from gateway.store.conn import Conn
from gateway.store.errors import InvalidValueError

T = TypeVar("T")

MAX_LIMIT = 5000


@dataclass(frozen=True)
class PageRequest:
    """Which slice of a result to fetch. ``with_total`` adds a COUNT (skip it on huge tables)."""

    offset: int = 0
    limit: int = 50
    with_total: bool = False

    def __post_init__(self) -> None:
        if self.offset < 0:
            raise InvalidValueError(f"offset must be >= 0, got {self.offset}")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise InvalidValueError(f"limit must be 1..{MAX_LIMIT}, got {self.limit}")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    offset: int
    limit: int
    has_more: bool
    total: int | None = None


@dataclass
class Where:
    """Collects ``AND``-ed conditions with their parameters."""

    clauses: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def since_until(self, column: str, since: datetime | None, until: datetime | None) -> None:
        """``since <= column < until`` (half-open, so consecutive days never overlap)."""
        if since is not None:
            self.add(f"{column} >= ?", to_text(since))
        if until is not None:
            self.add(f"{column} < ?", to_text(until))

    def prefix(self, column: str, value: str) -> None:
        """Index-friendly ``column LIKE 'value%'`` for case-sensitive text."""
        self.add(f"{column} >= ? AND {column} < ?", value, value + "\U0010ffff")

    def sql(self) -> str:
        return (" WHERE " + " AND ".join(self.clauses)) if self.clauses else ""


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere (with ``ESCAPE '\\'``)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def fetch_page(
    c: Conn,
    select_sql: str,
    count_sql: str | None,
    params: Sequence[Any],
    *,
    page: PageRequest,
    build: Callable[[sqlite3.Row], T],
) -> Page[T]:
    """Run ``select_sql`` (ending with ORDER BY) with LIMIT/OFFSET; one extra row tells has_more."""
    rows = c.all(f"{select_sql} LIMIT ? OFFSET ?", [*params, page.limit + 1, page.offset])
    total = None
    if page.with_total and count_sql is not None:
        total = int(c.scalar(count_sql, list(params)))
    items = tuple(build(row) for row in rows[: page.limit])
    return Page(items, page.offset, page.limit, len(rows) > page.limit, total)
