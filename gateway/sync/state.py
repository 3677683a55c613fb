"""What the sync client knows about itself, for the web UI, the OLED panel and the status topic."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from gateway.sync.contract import utc_iso
from gateway.sync.errors import ErrorInfo


@dataclass
class StreamState:
    last_seq: int = 0
    acked_seq: int = 0
    sent_seq: int = 0

    @property
    def depth(self) -> int:
        return max(0, self.last_seq - self.acked_seq)


@dataclass(frozen=True)
class OutboxAlarm:
    """Passed to the alarm hook when the backlog crosses the threshold (raised) and back."""

    raised: bool
    depth: int
    threshold: int
    info: ErrorInfo


@dataclass
class SyncState:
    broker: str
    connected: bool = False
    connected_since: datetime | None = None
    last_sync_at: datetime | None = None  # last time the cloud acknowledged something
    last_error: str | None = None
    last_error_code: str | None = None
    last_error_at: datetime | None = None
    connections: int = 0
    published: int = 0
    acked: int = 0
    commands: int = 0
    commands_refused: int = 0
    backlog_alarm: bool = False
    oldest_unacked_s: float | None = None
    streams: dict[str, StreamState] = field(default_factory=dict)

    @property
    def outbox_depth(self) -> int:
        return sum(s.depth for s in self.streams.values())

    def snapshot(self) -> dict[str, object]:
        """JSON-friendly copy for the UI and the panel."""

        def ts(moment: datetime | None) -> str | None:
            return None if moment is None else utc_iso(moment)

        return {
            "broker": self.broker,
            "connected": self.connected,
            "connected_since": ts(self.connected_since),
            "last_sync_at": ts(self.last_sync_at),
            "last_error": self.last_error,
            "last_error_code": self.last_error_code,
            "last_error_at": ts(self.last_error_at),
            "connections": self.connections,
            "published": self.published,
            "acked": self.acked,
            "commands": self.commands,
            "commands_refused": self.commands_refused,
            "outbox_depth": self.outbox_depth,
            "oldest_unacked_s": self.oldest_unacked_s,
            "backlog_alarm": self.backlog_alarm,
            "streams": {
                name: {"seq": s.last_seq, "acked": s.acked_seq, "sent": s.sent_seq}
                for name, s in self.streams.items()
            },
        }
