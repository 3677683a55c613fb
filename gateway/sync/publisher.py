"""Publishing the outbox: per-stream cursors, windows of QoS 1 publishes, backfill marking.

Per stream there are three positions: ``acked`` (the cloud holds everything up to here,
persisted), ``sent`` (published on this connection, in memory) and ``last`` (written). Each
connection starts again from ``acked``: anything already written when it starts, or published
again after a rewind, goes out flagged ``backfill``. At most ``window`` events per stream are
published ahead of the cloud's ack; if the ack does not move for ``resend_after`` seconds the
cursor rewinds to ``acked`` (the cloud lost something, e.g. its broker queue overflowed).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aiosqlite

from gateway.sync import errors
from gateway.sync.contract import STREAMS, Topics, event_envelope_text
from gateway.sync.outbox import OutboxEvent, ack, pending, position
from gateway.sync.state import StreamState, SyncState

log = logging.getLogger(__name__)

# One call publishes a batch of (topic, payload) pairs with QoS 1 and returns after every PUBACK.
PublishMany = Callable[[Sequence[tuple[str, bytes]]], Awaitable[None]]


@dataclass
class _Cursor:
    sent: int = 0
    acked: int = 0
    replay_upto: int = 0
    waiting_since: float | None = None  # monotonic time the oldest un-acked publish went out


class OutboxPublisher:
    def __init__(
        self,
        conn: aiosqlite.Connection,
        *,
        topics: Topics,
        state: SyncState,
        window: int,
        resend_after_s: float,
        monotonic: Callable[[], float],
        batch: int = 100,
    ) -> None:
        self._conn = conn
        self._topics = topics
        self._state = state
        self._window = window
        self._resend_after = resend_after_s
        self._monotonic = monotonic
        self._batch = batch
        self._cursors = {s: _Cursor() for s in STREAMS}
        self._beyond_end_logged = False
        for s in STREAMS:
            state.streams.setdefault(s, StreamState())

    async def refresh(self) -> None:
        """Reload written/acked positions into the shared state (also used while offline)."""
        for s in STREAMS:
            pos = await position(self._conn, s)
            st = self._state.streams[s]
            st.last_seq, st.acked_seq = pos.last_seq, pos.acked_seq

    async def start_session(self) -> None:
        """A new connection: replay from the last ack; what exists now is backfill."""
        await self.refresh()
        now = self._monotonic()
        for s, cur in self._cursors.items():
            st = self._state.streams[s]
            cur.acked = cur.sent = st.acked_seq
            cur.replay_upto = st.last_seq
            cur.waiting_since = now if st.depth else None
            st.sent_seq = cur.sent

    def _envelope(self, e: OutboxEvent, backfill: bool) -> bytes:
        return event_envelope_text(
            event_id=e.id,
            stream=e.stream,
            seq=e.seq,
            created_at=e.created_at,
            backfill=backfill,
            site_id=self._topics.site_id,
            gateway_id=self._topics.gateway_id,
            payload_json=e.payload_json,
        ).encode()

    async def pump(self, publish_many: PublishMany) -> int:
        """One pass over all streams; returns how many events were published."""
        total = 0
        now = self._monotonic()
        for s, cur in self._cursors.items():
            st = self._state.streams[s]
            pos = await position(self._conn, s)
            st.last_seq = pos.last_seq
            if (
                cur.sent > cur.acked
                and cur.waiting_since is not None
                and now - cur.waiting_since > self._resend_after
            ):
                log.warning(
                    "%s: no ack beyond %d for %.0f s; republishing from there",
                    s,
                    cur.acked,
                    now - cur.waiting_since,
                )
                cur.replay_upto = max(cur.replay_upto, cur.sent)
                cur.sent = cur.acked
                cur.waiting_since = now
            room = self._window - (cur.sent - cur.acked)
            if room <= 0 or cur.sent >= pos.last_seq:
                continue
            events = await pending(self._conn, s, cur.sent, min(room, self._batch))
            if not events:
                continue
            topic = self._topics.event(s)
            await publish_many(
                [(topic, self._envelope(e, e.seq <= cur.replay_upto)) for e in events]
            )
            if cur.sent == cur.acked:
                cur.waiting_since = self._monotonic()
            cur.sent = events[-1].seq
            st.sent_seq = cur.sent
            total += len(events)
            self._state.published += len(events)
        return total

    async def on_ack(self, stream: str, seq: int) -> bool:
        """Apply an ack from the cloud; True when it moved the stream forward."""
        cur = self._cursors.get(stream)
        if cur is None:
            return False
        try:
            acked = await ack(self._conn, stream, seq)
        except errors.SyncError as exc:
            if not self._beyond_end_logged:
                log.warning("ignoring ack from the cloud: %s", exc)
                self._beyond_end_logged = True
            return False
        if acked <= cur.acked:
            return False
        self._state.acked += acked - cur.acked
        cur.acked = acked
        cur.sent = max(cur.sent, acked)
        cur.waiting_since = self._monotonic() if cur.sent > acked else None
        st = self._state.streams[stream]
        st.acked_seq = acked
        st.sent_seq = cur.sent
        return True
