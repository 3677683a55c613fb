"""Acknowledging alarms and exceptions (F7.5): permission ``alarms.ack``, operation log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from gateway.reading.errors import AlarmAckError
from gateway.store import alarms
from gateway.store.alarms import AlarmRecord
from gateway.store.database import Database

PERMISSION = "alarms.ack"


class Acknowledger(Protocol):
    """Who acknowledges: ``gateway.services.actor.Actor`` fits."""

    @property
    def operator_id(self) -> int | None: ...

    def require(self, permission: str) -> None: ...


async def acknowledge(
    db: Database, actor: Acknowledger, alarm_ids: Sequence[int], note: str = ""
) -> list[AlarmRecord]:
    """Mark the records as seen by the actor (refused without ``alarms.ack``), one log entry.

    Acknowledging does not end a record: it ends when its condition clears.
    """
    actor.require(PERMISSION)
    operator_id = actor.operator_id
    if operator_id is None:
        raise AlarmAckError("an alarm is acknowledged by a logged-in operator")
    return await db.write(
        alarms.acknowledge, list(alarm_ids), operator_id=operator_id, note=note.strip()
    )
