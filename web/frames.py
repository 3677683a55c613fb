"""The command-frame pane (命令帧): frames sent to and received from meters, live in the browser.

The link layer's trace hook (or the services) call :meth:`FrameFeed.publish`; every open page
with the pane turned on holds a server-sent-events stream (``/events/frames``) fed from here.
A slow browser never slows a bus: each subscriber has a bounded queue, and when it is full the
oldest frames are dropped for that subscriber only (the pane shows the gap).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from gateway.link.trace import TraceEvent

Direction = Literal["tx", "rx", "info", "error"]
QUEUE_FRAMES = 256
RECENT_FRAMES = 50


@dataclass(frozen=True)
class FrameEvent:
    at: datetime
    direction: Direction  # tx: gateway -> meter or card; rx: back; info/error: a note
    channel: str  # bus name, "card", or "dtu:<id>"
    data: str  # hex with spaces for frames, text for notes
    meter: str = ""  # 12-digit address when known
    note: str = ""  # decoded meaning, e.g. "read 00900200 remaining money"

    def to_json(self) -> str:
        payload = asdict(self)
        payload["at"] = self.at.isoformat()
        return json.dumps(payload, ensure_ascii=False)


class Subscription:
    def __init__(self, feed: FrameFeed) -> None:
        self._feed = feed
        self._queue: deque[FrameEvent] = deque(maxlen=QUEUE_FRAMES)
        self._ready = asyncio.Event()
        self.dropped = 0

    def push(self, event: FrameEvent) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(event)
        self._ready.set()

    async def next_batch(self, wait_seconds: float) -> list[FrameEvent] | None:
        """Frames waiting now, or after up to ``timeout`` seconds (empty: send a keep-alive);
        None once the feed is closed (the server is stopping: end the stream)."""
        if self._feed.closed:
            return None
        if not self._queue:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), wait_seconds)
            except TimeoutError:
                return []
            if self._feed.closed:
                return None
        batch = list(self._queue)
        self._queue.clear()
        return batch

    def close(self) -> None:
        self._feed._subscribers.discard(self)


class FrameFeed:
    """In-process pub/sub of frame events; ``publish`` never blocks and never raises.

    Call it on the event loop's thread (the link layer's trace hook runs there); from another
    thread use ``loop.call_soon_threadsafe(feed.publish, event)``.
    """

    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()
        self.recent: deque[FrameEvent] = deque(maxlen=RECENT_FRAMES)
        self.closed = False

    def close(self) -> None:
        """End every stream (server shutdown: open panes must not hold the server up)."""
        self.closed = True
        for subscriber in tuple(self._subscribers):
            subscriber._ready.set()

    def publish(self, event: FrameEvent) -> None:
        self.recent.append(event)
        for subscriber in tuple(self._subscribers):
            subscriber.push(event)

    def subscribe(self) -> Subscription:
        subscription = Subscription(self)
        self._subscribers.add(subscription)
        return subscription

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)


def from_trace(event: TraceEvent, at: datetime | None = None) -> FrameEvent:
    """A bus trace event (gateway.link.trace) as the pane shows it; hook it up with
    ``buses.add_trace_hook(lambda e: feed.publish(from_trace(e)))``."""
    frame = event.frame
    note = frame.describe() if frame is not None else ""
    if event.error and event.direction.value != "error":
        note += f" !! {event.error}"
    if event.note:
        note += f" [{event.note}]"
    direction: Direction = event.direction.value  # type: ignore[assignment]
    return FrameEvent(
        at=at or datetime.now(UTC),
        direction=direction,
        channel=event.bus,
        data=event.raw.hex(" ").upper() if event.raw else (event.error or event.note),
        meter=frame.address if frame is not None else "",
        note=note.strip(),
    )


def note(feed: FrameFeed, channel: str, text: str, *, meter: str = "", error: bool = False) -> None:
    """A line in the pane that is not a frame: "card written", "reading all meters", ..."""
    feed.publish(
        FrameEvent(datetime.now(UTC), "error" if error else "info", channel, text, meter=meter)
    )
