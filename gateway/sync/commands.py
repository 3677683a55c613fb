"""Commands from the cloud: checked, authorised, verified, de-duplicated, then handed over.

Order of checks (each failure is a result with a stable code; nothing is executed or stored):
parse (E701) → known name (E702) → schema (E701) → addressed to us (E709) → allowed (E703) →
signature when required or present (E710/E704/E705) → seen id: same content returns the first
result marked ``duplicate``, different content is refused (E708) → replay window on issued_at
(E706) → expires_at (E707) → handler. Only authenticated commands are remembered, so a forger
cannot burn an id ahead of the real command.

The handler's result (or its CommandRefused) is stored before it is published; a crash in
between means the command runs again on redelivery, which the services make safe by using the
command id as the idempotency key of the vend.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import aiosqlite

from gateway.sync import errors
from gateway.sync.config import MqttConfig
from gateway.sync.contract import (
    COMMANDS,
    CONTRACT_VERSION,
    ContractError,
    compact_json,
    digest,
    loads_strict,
    parse_iso,
    utc_iso,
    validate,
    verify,
)
from gateway.sync.dbio import Op, committed, query_one

log = logging.getLogger(__name__)

_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

COMMAND_LOG_DDL = """
CREATE TABLE IF NOT EXISTS sync_command_log (
  id TEXT PRIMARY KEY,
  command TEXT NOT NULL,
  digest TEXT NOT NULL,
  received_at TEXT NOT NULL,
  result TEXT NOT NULL
);
"""


class CommandHandler(Protocol):
    """Implemented by the services: executes a validated, authorised command.

    ``command`` is the whole command object (id, command, issued_at, args, ...). Return the
    ``result`` object for the cloud; raise CommandRefused for a business refusal (stored and
    repeated for the same id). Any other exception is reported as E712 and not remembered.
    """

    async def handle(self, name: str, command: Mapping[str, object]) -> Mapping[str, object]: ...


class CommandRefused(Exception):  # noqa: N818 - a refusal, not a bug
    """A decided business refusal (e.g. account closed) with its own stable code and texts."""

    def __init__(self, info: errors.ErrorInfo, detail: str | None = None) -> None:
        super().__init__(f"{info.code} {info.en}")
        self.info = info
        self.detail = detail


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    result: dict[str, object]
    handler_called: bool


def _id_of_unparsable(raw: bytes) -> str | None:
    """The id of a command refused for its numbers, so the cloud can match the result."""
    try:
        loose = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    value = loose.get("id") if isinstance(loose, dict) else None
    return value if isinstance(value, str) and _ID.match(value) else None


async def ensure_command_log(conn: aiosqlite.Connection) -> None:
    await conn.executescript(COMMAND_LOG_DDL)
    await conn.commit()


class CommandGate:
    def __init__(
        self,
        conn: aiosqlite.Connection,
        *,
        config: MqttConfig,
        site_key: bytes | None,
        handler: CommandHandler | None,
        clock: Callable[[], datetime],
    ) -> None:
        self._conn = conn
        self._config = config
        self._key = site_key
        self._handler = handler
        self._clock = clock
        self._inflight: dict[str, asyncio.Future[dict[str, object]]] = {}

    def set_handler(self, handler: CommandHandler | None) -> None:
        self._handler = handler

    def _result(
        self,
        name: str,
        command_id: str | None,
        *,
        ok: bool,
        result: Mapping[str, object] | None = None,
        error: errors.ErrorInfo | None = None,
        detail: str | None = None,
    ) -> dict[str, object]:
        out: dict[str, object] = {
            "contract": CONTRACT_VERSION,
            "id": command_id,
            "command": name,
            "ok": ok,
            "site_id": self._config.site_id,
            "gateway_id": self._config.gateway_id,
            "handled_at": utc_iso(self._clock()),
            "duplicate": False,
        }
        if result is not None:
            out["result"] = dict(result)
        if error is not None:
            out["error"] = error.as_json(detail)
        return out

    def _refuse(
        self, name: str, command_id: str | None, info: errors.ErrorInfo, detail: str | None = None
    ) -> CommandOutcome:
        log.warning("command %s %s refused: %s %s", name, command_id, info.code, detail or "")
        return CommandOutcome(
            self._result(name, command_id, ok=False, error=info, detail=detail), False
        )

    async def process(self, name: str, raw: bytes) -> CommandOutcome:
        """Check and (maybe) execute one command received on ``cmd/{name}``."""
        try:
            command = loads_strict(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            return self._refuse(name, _id_of_unparsable(raw), errors.MALFORMED, str(exc))
        if not isinstance(command, dict):
            return self._refuse(name, None, errors.MALFORMED, "not a JSON object")
        raw_id = command.get("id")
        command_id = raw_id if isinstance(raw_id, str) and _ID.match(raw_id) else None
        if name not in COMMANDS:
            return self._refuse(name, command_id, errors.UNKNOWN_COMMAND, name)
        try:
            validate("command", command)
        except ContractError as exc:
            return self._refuse(name, command_id, errors.MALFORMED, f"{exc.path}: {exc.problem}")
        assert command_id is not None  # the schema requires a well-formed id
        cfg = self._config
        if (
            command["command"] != name
            or command["site_id"] != cfg.site_id
            or command["gateway_id"] != cfg.gateway_id
        ):
            where = f"{command['site_id']}/{command['gateway_id']} cmd/{command['command']}"
            return self._refuse(name, command_id, errors.WRONG_TARGET, where)
        if name not in cfg.allowed_commands:
            return self._refuse(name, command_id, errors.NOT_ALLOWED, name)
        if name in cfg.signed_commands or "signature" in command:
            if self._key is None:
                return self._refuse(name, command_id, errors.NO_SITE_KEY)
            if "signature" not in command:
                return self._refuse(name, command_id, errors.UNSIGNED)
            if not verify(command, self._key):
                return self._refuse(name, command_id, errors.BAD_SIGNATURE)
        content = digest(command)
        waiting = self._inflight.get(command_id)
        if waiting is not None:
            # Same id while the first is still running: wait for it, never run twice.
            await asyncio.shield(waiting)
        stored = await self._lookup(command_id)
        if stored is not None:
            first_digest, first_result = stored
            if first_digest != content:
                return self._refuse(name, command_id, errors.ID_REUSED)
            again = dict(first_result)
            again["duplicate"] = True
            return CommandOutcome(again, False)
        now = self._clock()
        issued = parse_iso(str(command["issued_at"]))
        window = timedelta(seconds=cfg.replay_window_s)
        if abs(now - issued) > window:
            skew = int((now - issued).total_seconds())
            return self._refuse(name, command_id, errors.STALE, f"issued {skew} s from now")
        if "expires_at" in command and parse_iso(str(command["expires_at"])) <= now:
            return self._refuse(name, command_id, errors.EXPIRED)
        return await self._execute(name, command_id, content, command)

    async def _execute(
        self, name: str, command_id: str, content: str, command: dict[str, Any]
    ) -> CommandOutcome:
        if self._handler is None:
            return self._refuse(name, command_id, errors.NO_HANDLER)
        future: asyncio.Future[dict[str, object]] = asyncio.get_running_loop().create_future()
        self._inflight[command_id] = future
        try:
            try:
                answer = await self._handler.handle(name, command)
                result = self._result(name, command_id, ok=True, result=answer)
            except CommandRefused as refused:
                result = self._result(
                    name, command_id, ok=False, error=refused.info, detail=refused.detail
                )
            except Exception as exc:
                log.exception("command %s %s: handler failed", name, command_id)
                return CommandOutcome(
                    self._result(
                        name, command_id, ok=False, error=errors.HANDLER_FAILED, detail=str(exc)
                    ),
                    True,
                )
            await self._store(command_id, name, content, result)
            return CommandOutcome(result, True)
        finally:
            del self._inflight[command_id]
            if not future.done():
                future.set_result({})

    async def _lookup(self, command_id: str) -> tuple[str, dict[str, object]] | None:
        row = await query_one(
            self._conn, "SELECT digest, result FROM sync_command_log WHERE id = ?", (command_id,)
        )
        if row is None:
            return None
        result: dict[str, object] = json.loads(row[1])
        return str(row[0]), result

    async def _store(
        self, command_id: str, name: str, content: str, result: Mapping[str, object]
    ) -> None:
        await committed(
            self._conn,
            Op(
                "INSERT INTO sync_command_log (id, command, digest, received_at, result)"
                " VALUES (?, ?, ?, ?, ?)",
                (command_id, name, content, utc_iso(self._clock()), compact_json(result)),
            ),
        )

    async def prune(self, older_than: datetime) -> int:
        """Forget results older than ``older_than`` (far beyond the replay window)."""
        (count,) = await committed(
            self._conn,
            Op("DELETE FROM sync_command_log WHERE received_at < ?", (utc_iso(older_than),)),
        )
        return count
