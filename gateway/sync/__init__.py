"""MQTT sync with the cloud master station (issue 7): outbox, contract, client, simulator.

What the rest of the gateway calls:
- ``add_event(conn, stream, payload, now)`` (sync, for ``db.write`` on gateway.store) or
  ``await append_event(aiosqlite_conn, ...)``, inside the ledger transaction (gateway.sync.outbox);
- ``SyncClient(config, conn, handler=...)`` with ``run()``, ``stop()``, ``notify()``, ``state``;
- ``CommandHandler`` (Protocol) and ``CommandRefused`` for the services' command execution;
- ``MqttConfig`` for the ``[mqtt]`` section.
"""

from gateway.sync.client import SyncClient
from gateway.sync.commands import CommandHandler, CommandRefused
from gateway.sync.config import MqttConfig
from gateway.sync.outbox import OutboxEvent, add_event, append_event
from gateway.sync.state import OutboxAlarm, SyncState

__all__ = [
    "CommandHandler",
    "CommandRefused",
    "MqttConfig",
    "OutboxAlarm",
    "OutboxEvent",
    "SyncClient",
    "SyncState",
    "add_event",
    "append_event",
]
