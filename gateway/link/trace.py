"""Trace events: every frame sent and received and every error on a bus, for live display."""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass

from gateway.dlt645 import Frame

log = logging.getLogger(__name__)


class Direction(enum.Enum):
    TX = "tx"  # gateway → meter
    RX = "rx"  # meter → gateway
    ERROR = "error"  # a bad frame, a timeout, a lost connection
    INFO = "info"  # connection opened, DTU registered, heartbeat


@dataclass(frozen=True, slots=True)
class TraceEvent:
    bus: str
    direction: Direction
    raw: bytes  # the bytes as on the wire (FE preamble left out for received frames)
    at: float  # monotonic seconds
    frame: Frame | None = None
    error: str | None = None  # an error's code and message, e.g. "E102 checksum 12 should be 34"
    note: str = ""  # "stray", "heartbeat", "retry 1", ...

    def line(self) -> str:
        """A one-line rendering: direction, hex bytes, meaning."""
        text = f"[{self.bus}] {self.direction.value.upper():5} {self.raw.hex(' ').upper()}"
        if self.frame is not None:
            text += f"  ({self.frame.describe()})"
        if self.error:
            text += f"  !! {self.error}"
        if self.note:
            text += f"  [{self.note}]"
        return text


TraceHook = Callable[[TraceEvent], None]


class TraceHooks:
    """A list of hooks; a failing hook is logged once and never breaks the bus."""

    __slots__ = ("_broken", "_hooks")

    def __init__(self) -> None:
        self._hooks: list[TraceHook] = []
        self._broken: set[int] = set()

    def add(self, hook: TraceHook) -> Callable[[], None]:
        """Register ``hook``; returns a callable that removes it."""
        self._hooks.append(hook)

        def remove() -> None:
            if hook in self._hooks:
                self._hooks.remove(hook)

        return remove

    def __bool__(self) -> bool:
        return bool(self._hooks)

    def emit(self, event: TraceEvent) -> None:
        for hook in tuple(self._hooks):
            try:
                hook(event)
            except Exception:
                if id(hook) not in self._broken:
                    self._broken.add(id(hook))
                    log.exception("trace hook %r failed; further failures not logged", hook)
