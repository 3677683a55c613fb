"""Server-side sessions: an opaque cookie names a record kept here, with an idle timeout.

Nothing about the operator is trusted from the browser; the cookie is 256 random bits. The clock
is injected so tests move time instead of sleeping.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from web.i18n import Lang

COOKIE = "pg_session"


@dataclass
class Session:
    token: str
    operator_id: int
    csrf: str
    lang: Lang
    created: datetime
    last_seen: datetime
    # Nonces of forms already submitted (a double click on 【确定】 must not act twice).
    used_nonces: set[str] = field(default_factory=set)
    # Messages for the next page shown (after a redirect): (kind, text), kind ok|error.
    flashes: list[tuple[str, str]] = field(default_factory=list)


class SessionStore:
    """In-memory sessions of this gateway process; a restart signs everyone out."""

    def __init__(self, clock: Callable[[], datetime], idle: timedelta) -> None:
        self._clock = clock
        self._idle = idle
        self._sessions: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, operator_id: int, lang: Lang) -> Session:
        now = self._clock()
        session = Session(
            token=secrets.token_urlsafe(32),
            operator_id=operator_id,
            csrf=secrets.token_urlsafe(32),
            lang=lang,
            created=now,
            last_seen=now,
        )
        self._sessions[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        """The live session for ``token`` (its idle clock restarts), or None if gone or idle."""
        if not token:
            return None
        session = self._sessions.get(token)
        if session is None:
            return None
        now = self._clock()
        if now - session.last_seen > self._idle:
            del self._sessions[token]
            return None
        session.last_seen = now
        return session

    def drop(self, token: str) -> None:
        self._sessions.pop(token, None)

    def drop_operator(self, operator_id: int, *, keep: str | None = None) -> int:
        """Sign an operator out everywhere (deactivated, password reset), except ``keep``."""
        doomed = [
            t for t, s in self._sessions.items() if s.operator_id == operator_id and t != keep
        ]
        for token in doomed:
            del self._sessions[token]
        return len(doomed)

    def rotate(self, session: Session) -> Session:
        """A new token for the same session (after login or a password change)."""
        self._sessions.pop(session.token, None)
        session.token = secrets.token_urlsafe(32)
        session.csrf = secrets.token_urlsafe(32)
        self._sessions[session.token] = session
        return session

    def sweep(self) -> int:
        """Forget idle sessions; returns how many."""
        now = self._clock()
        idle = [t for t, s in self._sessions.items() if now - s.last_seen > self._idle]
        for token in idle:
            del self._sessions[token]
        return len(idle)


def csrf_ok(session: Session, presented: str | None) -> bool:
    return bool(presented) and secrets.compare_digest(session.csrf, presented or "")
