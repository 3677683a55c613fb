"""The master-station simulator: the cloud side of the contract, small enough to read.

It subscribes to one gateway or many (``+`` wildcards), stores their events once each and in
order (MasterStore), acknowledges the highest contiguous seq per stream, tracks birth/will
status, records telemetry and command results, and sends signed commands. Tests run it
in-process as the cloud; ``prepaid-gateway master-sim`` runs it for integrators.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import aiomqtt

from gateway.sync.connection import BrokerSettings, classify, make_client
from gateway.sync.contract import (
    ContractError,
    Topics,
    ack_payload,
    compact_json,
    parse_topic,
    signed_command,
    validate,
)
from gateway.sync.master_store import IngestResult, MasterStore
from gateway.sync.timing import Backoff, wait_event

log = logging.getLogger(__name__)

BATCH = 2000
LINGER_S = 0.01


def _utc_now() -> datetime:
    return datetime.now(UTC)


class MasterStation:
    def __init__(
        self,
        settings: BrokerSettings,
        store: MasterStore,
        *,
        prefix: str = "prepaid",
        site: str = "+",
        gateway: str = "+",
        check_schemas: bool = True,
        shared_group: str | None = None,
        consume_events: bool = True,
        clock: Callable[[], datetime] = _utc_now,
        printer: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.prefix = prefix
        self.scope = Topics(prefix, site, gateway)
        self._check = check_schemas
        self._share = f"$share/{shared_group}/" if shared_group else ""
        # False for a one-shot sender: it must never ack events it does not keep.
        self._consume_events = consume_events
        self._clock = clock
        self._print = printer
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._waiters: dict[str | None, list[asyncio.Future[dict[str, Any]]]] = {}
        self._progress = asyncio.Event()
        self.status: dict[tuple[str, str], dict[str, Any]] = {}
        self.received = 0
        self.duplicates = 0
        self.conflicts = 0
        self.problems: list[str] = []
        self.last_error: str | None = None

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> MasterStation:
        self._task = asyncio.create_task(self.run(), name="master-sim")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_connected(self, within_s: float = 10.0) -> None:
        if not await wait_event(self._connected, within_s):
            raise TimeoutError(f"master-sim not connected: {self.last_error}")

    async def run(self) -> None:
        """Connect, subscribe, consume; reconnect after failures until stopped."""
        backoff = Backoff(0.2, 5.0, rng=random.random)
        while not self._stopping.is_set():
            try:
                async with make_client(self.settings) as client:
                    self._client = client
                    await self._subscribe(client)
                    self._connected.set()
                    backoff.reset()
                    self._say(f"connected to {self.settings.url} as {self.settings.client_id}")
                    await self._consume(client)
            except (aiomqtt.MqttError, OSError) as exc:
                info = classify(exc)
                self.last_error = f"{info.code} {info.en} ({exc})"
                log.info("master-sim: %s", self.last_error)
            except Exception as exc:
                log.exception("master-sim: session failed")
                self.last_error = f"{type(exc).__name__}: {exc}"
            finally:
                self._connected.clear()
                self._client = None
            await asyncio.sleep(backoff.next_delay())

    async def _subscribe(self, client: aiomqtt.Client) -> None:
        s = self.scope
        topics = [s.status, s.result("+")]
        if self._consume_events:
            topics += [s.event("+"), s.telemetry]
        await client.subscribe([(self._share + t, 1) for t in topics])

    def _say(self, line: str) -> None:
        if self._print is not None:
            self._print(line)

    # ------------------------------------------------------------ receiving

    async def _consume(self, client: aiomqtt.Client) -> None:
        queue = client._queue  # aiomqtt 2.5 internals: drain in batches (see paho_of)

        def drain(batch: list[aiomqtt.Message]) -> None:
            while len(batch) < BATCH:
                try:
                    batch.append(queue.get_nowait())
                except asyncio.QueueEmpty:
                    return

        async for first in client.messages:
            batch = [first]
            drain(batch)
            if len(batch) < BATCH:
                # Linger a little: one transaction and one ack per stream for many events,
                # instead of one per event while a gateway drains its backlog.
                await asyncio.sleep(LINGER_S)
                drain(batch)
            await self._handle(client, batch)

    async def _handle(self, client: aiomqtt.Client, messages: list[aiomqtt.Message]) -> None:
        """One batch: events in one transaction and one ack per stream; the rest one by one."""
        events: list[dict[str, Any]] = []
        for message in messages:
            parsed = parse_topic(self.prefix, str(message.topic))
            raw = message.payload if isinstance(message.payload, bytes) else b""
            if parsed is None:
                continue
            if parsed.kind == "events":
                env = self._decode_event(parsed.name, raw)
                if env is not None:
                    events.append(env)
            elif parsed.kind == "status":
                await self._on_status(parsed.site_id, parsed.gateway_id, raw)
            elif parsed.kind == "result":
                await self._on_result(parsed.site_id, parsed.gateway_id, raw)
            elif parsed.kind == "telemetry":
                await self._on_telemetry(parsed.site_id, parsed.gateway_id, raw)
        if events:
            await self._flush(client, events)

    def _decode_event(self, stream: str, raw: bytes) -> dict[str, Any] | None:
        try:
            env = json.loads(raw)
        except ValueError as exc:
            self._problem(f"events/{stream}: not JSON: {exc}")
            return None
        if self._check:
            try:
                validate("event", env)
            except ContractError as exc:
                self._problem(f"events/{stream}: {exc}")
        needed = ("id", "site_id", "gateway_id", "stream", "seq", "created_at", "payload")
        if not isinstance(env, dict) or any(k not in env for k in needed):
            self._problem(f"events/{stream}: envelope incomplete, dropped")
            return None
        if env["stream"] != stream or not isinstance(env["seq"], int):
            self._problem(f"events/{stream}: stream/seq do not match the topic, dropped")
            return None
        return env

    def _problem(self, text: str) -> None:
        if len(self.problems) < 1000:
            self.problems.append(text)
        log.warning("master-sim: %s", text)

    async def _flush(self, client: aiomqtt.Client, events: list[dict[str, Any]]) -> None:
        result: IngestResult = await self.store.ingest(events, via="mqtt", now=self._clock())
        self.received += len(events)
        self.duplicates += result.duplicates
        self.conflicts += result.conflicts
        for key in {*result.advanced, *result.repeated}:
            seq = self.store.contiguous(key)
            if seq == 0:
                continue
            topic = Topics(self.prefix, key[0], key[1]).ack(key[2])
            await client.publish(topic, compact_json(ack_payload(key[2], seq)).encode(), qos=1)
        if result.conflicts:
            self._say(f"{result.conflicts} conflicting event(s): same seq, different id")
        self._progress.set()

    async def _on_status(self, site: str, gateway: str, raw: bytes) -> None:
        if not raw:
            return  # retained status cleared
        try:
            status = json.loads(raw)
            if self._check:
                validate("status", status)
        except (ValueError, ContractError) as exc:
            self._problem(f"{site}/{gateway}/status: {exc}")
            return
        self.status[(site, gateway)] = status
        await self.store.record_status(site, gateway, status, self._clock())
        state = status.get("state")
        extra = status.get("reason") or f"version {status.get('version')}"
        depth = (status.get("counts") or {}).get("outbox_depth")
        self._say(
            f"{site}/{gateway} {state} ({extra}"
            + (f", outbox {depth}" if depth is not None else "")
            + ")"
        )
        self._progress.set()

    async def _on_result(self, site: str, gateway: str, raw: bytes) -> None:
        try:
            result = json.loads(raw)
            if self._check:
                validate("result", result)
        except (ValueError, ContractError) as exc:
            self._problem(f"{site}/{gateway} result: {exc}")
            return
        await self.store.record_result(site, gateway, result, self._clock())
        waiters = self._waiters.get(result.get("id"))
        if waiters:
            future = waiters.pop(0)
            if not future.done():
                future.set_result(result)

    async def _on_telemetry(self, site: str, gateway: str, raw: bytes) -> None:
        try:
            batch = json.loads(raw)
            if self._check:
                validate("telemetry-readings", batch)
        except (ValueError, ContractError) as exc:
            self._problem(f"{site}/{gateway} telemetry: {exc}")
            return
        await self.store.record_telemetry(site, gateway, batch, self._clock())

    # ------------------------------------------------------------ waiting (tests, CLI)

    async def wait_until(self, predicate: Callable[[], bool], within_s: float) -> None:
        """Wait until ``predicate()`` holds, re-checking after each batch or status."""
        async with asyncio.timeout(within_s):
            while not predicate():
                self._progress.clear()
                await wait_event(self._progress, 0.2)

    async def wait_for_stored(self, count: int, within_s: float = 30.0) -> None:
        deadline = asyncio.get_running_loop().time() + within_s
        while await self.store.count() < count:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"master holds {await self.store.count()} of {count} events")
            self._progress.clear()
            await wait_event(self._progress, 0.2)

    # ------------------------------------------------------------ commands

    def expect_result(self, command_id: str | None) -> asyncio.Future[dict[str, Any]]:
        """Register interest before publishing; resolved by the next result with this id."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(command_id, []).append(future)
        return future

    async def publish_raw(self, site: str, gateway: str, name: str, payload: bytes) -> None:
        client = self._client
        if client is None:
            raise aiomqtt.MqttError("master-sim is not connected")
        await client.publish(Topics(self.prefix, site, gateway).command(name), payload, qos=1)

    async def send(
        self,
        site: str,
        gateway: str,
        command: Mapping[str, object],
        *,
        within_s: float = 30.0,
    ) -> dict[str, Any]:
        """Publish a prepared command object and wait for its result."""
        future = self.expect_result(str(command["id"]))
        await self.publish_raw(
            site, gateway, str(command["command"]), compact_json(command).encode()
        )
        async with asyncio.timeout(within_s):
            return await future

    def build_command(
        self,
        site: str,
        gateway: str,
        name: str,
        args: Mapping[str, object],
        *,
        key: bytes | None,
        command_id: str | None = None,
        issued_at: datetime | None = None,
        expires_in: timedelta | None = None,
    ) -> dict[str, object]:
        issued = issued_at or self._clock()
        return signed_command(
            name,
            command_id=command_id or uuid.uuid4().hex,
            site_id=site,
            gateway_id=gateway,
            issued_at=issued,
            args=args,
            key=key,
            expires_at=None if expires_in is None else issued + expires_in,
        )

    async def send_command(
        self,
        site: str,
        gateway: str,
        name: str,
        args: Mapping[str, object],
        *,
        key: bytes | None,
        command_id: str | None = None,
        issued_at: datetime | None = None,
        expires_in: timedelta | None = None,
        within_s: float = 30.0,
    ) -> dict[str, Any]:
        """Build, sign (when ``key`` is given), publish, and wait for the result."""
        command = self.build_command(
            site,
            gateway,
            name,
            args,
            key=key,
            command_id=command_id,
            issued_at=issued_at,
            expires_in=expires_in,
        )
        return await self.send(site, gateway, command, within_s=within_s)
