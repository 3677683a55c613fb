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
from datetime import datetime
from typing import Literal

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

    async def next_batch(self, wait_seconds: float) -> list[FrameEvent]:
        """Frames waiting now, or after up to ``timeout`` seconds (empty: send a keep-alive)."""
        if not self._queue:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), wait_seconds)
            except TimeoutError:
                return []
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
