"""The gateway's MQTT client: keeps a session with the cloud whatever the network does.

``SyncClient.run()`` connects (MQTT 5, persistent session, TLS/auth from config), announces the
gateway with a retained birth message (the broker publishes the retained last will "offline" if
the link dies), publishes the outbox in order, applies the cloud's acks, answers commands, and
on any failure reconnects with exponential backoff and jitter. It never raises for network
trouble; the UI reads ``state`` instead. Give it its own aiosqlite connection to the gateway
database: it commits acks and command results independently of the services' transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import aiomqtt
import aiosqlite

from gateway import __version__
from gateway.sync import errors
from gateway.sync.commands import CommandGate, CommandHandler, ensure_command_log
from gateway.sync.config import MqttConfig, Secrets, load_password, load_site_key
from gateway.sync.connection import BrokerSettings, classify, make_client, publish_window
from gateway.sync.contract import (
    CONTRACT_VERSION,
    STREAMS,
    ContractError,
    Topics,
    compact_json,
    loads_strict,
    parse_topic,
    status_payload,
    utc_iso,
    validate,
)
from gateway.sync.outbox import oldest_unacked_age, prune_acked
from gateway.sync.publisher import OutboxPublisher
from gateway.sync.state import OutboxAlarm, SyncState
from gateway.sync.timing import Backoff, wait_event
from gateway.typedconfig import ConfigError

log = logging.getLogger(__name__)

AlarmHook = Callable[[OutboxAlarm], None]
CountsHook = Callable[[], Awaitable[Mapping[str, int]]]
TELEMETRY_BATCH = 1000


def utc_now() -> datetime:
    return datetime.now(UTC)


class SyncClient:
    def __init__(
        self,
        config: MqttConfig,
        conn: aiosqlite.Connection,
        *,
        handler: CommandHandler | None = None,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        version: str = __version__,
        on_alarm: AlarmHook | None = None,
        status_counts: CountsHook | None = None,
        poll_interval_s: float = 0.5,
        monitor_interval_s: float = 5.0,
    ) -> None:
        self.config = config
        self._conn = conn
        self._handler = handler
        self._clock = clock
        self._monotonic = monotonic
        self._version = version
        self._on_alarm = on_alarm
        self._status_counts = status_counts
        self._poll = poll_interval_s
        self._monitor_interval = monitor_interval_s
        self.topics = Topics(config.prefix, config.site_id, config.gateway_id)
        self.state = SyncState(broker=f"{config.host}:{config.port}")
        self._backoff = Backoff(config.backoff_initial_s, config.backoff_max_s, rng=rng)
        self._publisher = OutboxPublisher(
            conn,
            topics=self.topics,
            state=self.state,
            window=config.publish_window,
            resend_after_s=config.resend_after_s,
            monotonic=monotonic,
        )
        self._gate: CommandGate | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._command_tasks: set[asyncio.Task[None]] = set()
        self._last_prune: float | None = None
        self._failing_logged = False

    # ------------------------------------------------------------ public API

    def notify(self) -> None:
        """Call after committing a transaction that appended events: publish without delay."""
        self._wake.set()

    def set_handler(self, handler: CommandHandler | None) -> None:
        self._handler = handler
        if self._gate is not None:
            self._gate.set_handler(handler)

    async def stop(self) -> None:
        """Ask ``run()`` to publish "offline" (reason shutdown), disconnect and return."""
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Run until ``stop()``; survives broker outages, bad credentials and restarts."""
        await ensure_command_log(self._conn)
        monitor = asyncio.create_task(self._monitor_loop(), name="sync-monitor")
        try:
            await self._connection_loop()
        finally:
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
            if self._command_tasks:
                await asyncio.wait(self._command_tasks, timeout=30)

    async def publish_readings(self, readings: Sequence[Mapping[str, object]]) -> bool:
        """Send meter readings on telemetry/readings (QoS 0); False when offline (not queued)."""
        client = self._client
        if client is None or not self.state.connected:
            return False
        for start in range(0, len(readings), TELEMETRY_BATCH):
            batch = {
                "contract": CONTRACT_VERSION,
                "site_id": self.config.site_id,
                "gateway_id": self.config.gateway_id,
                "sent_at": utc_iso(self._clock()),
                "readings": [dict(r) for r in readings[start : start + TELEMETRY_BATCH]],
            }
            validate("telemetry-readings", batch)
            try:
                await client.publish(self.topics.telemetry, compact_json(batch).encode(), qos=0)
            except aiomqtt.MqttError:
                return False
        return True

    # ------------------------------------------------------------ connection

    def _status(
        self, state: str, reason: str | None = None, counts: Mapping[str, object] | None = None
    ) -> bytes:
        since = self.state.connected_since if state == "online" else None
        payload = status_payload(
            state=state,
            site_id=self.config.site_id,
            gateway_id=self.config.gateway_id,
            version=self._version,
            since=since,
            reason=reason,
            counts=counts,
        )
        return compact_json(payload).encode()

    def _record_error(self, info: errors.ErrorInfo, exc: BaseException | None) -> None:
        detail = f"{info.code} {info.en}" + (f" ({exc})" if exc else "")
        self.state.last_error = detail
        self.state.last_error_code = info.code
        self.state.last_error_at = self._clock()
        # Log the first failure loudly and the rest quietly: a site offline for days must not
        # fill the SD card with the same line.
        if not self._failing_logged:
            log.warning("MQTT %s: %s", self.state.broker, detail)
            self._failing_logged = True
        else:
            log.debug("MQTT %s still failing: %s", self.state.broker, detail)

    async def _connection_loop(self) -> None:
        secrets: Secrets | None = None
        while not self._stopping.is_set():
            try:
                if secrets is None:
                    secrets = await self._load_secrets()
                settings = BrokerSettings.from_config(self.config, secrets)
                will = aiomqtt.Will(
                    self.topics.status, self._status("offline", "connection lost"), 1, True
                )
                async with make_client(settings, will=will) as client:
                    await self._session(client)
            except ConfigError as exc:
                self._record_error(errors.SECRETS_UNREADABLE, exc)
            except (aiomqtt.MqttError, OSError) as exc:
                self._record_error(classify(exc), exc)
            except Exception as exc:
                # A database hiccup or a bug must not end syncing for good: log it, retry.
                log.exception("MQTT sync session failed")
                self._record_error(errors.SYNC_FAULT, exc)
            finally:
                self.state.connected = False
                self._client = None
            if self._stopping.is_set():
                break
            await wait_event(self._stopping, self._backoff.next_delay())

    async def _load_secrets(self) -> Secrets:
        password = await asyncio.to_thread(load_password, self.config)
        try:
            key = await asyncio.to_thread(load_site_key, self.config)
        except ConfigError as exc:
            # Events still sync without the key; only signed commands are refused (E710).
            log.error("%s: %s", errors.SECRETS_UNREADABLE.code, exc)  # noqa: TRY400
            key = None
        self._gate = CommandGate(
            self._conn,
            config=self.config,
            site_key=key,
            handler=self._handler,
            clock=self._clock,
        )
        return Secrets(password=password, site_key=key)

    async def _session(self, client: aiomqtt.Client) -> None:
        self._client = client
        await client.subscribe([(self.topics.ack("+"), 1), (self.topics.command("+"), 1)])
        await self._publisher.start_session()
        self.state.connected = True
        self.state.connected_since = self._clock()
        self.state.connections += 1
        self._backoff.reset()
        if self._failing_logged:
            log.info("MQTT %s: connected again", self.state.broker)
            self._failing_logged = False
        else:
            log.info("MQTT %s: connected", self.state.broker)
        await self._publish_status(client)
        tasks = [
            asyncio.create_task(self._receive(client), name="sync-receive"),
            asyncio.create_task(self._pump_loop(client), name="sync-pump"),
            asyncio.create_task(self._status_loop(client), name="sync-status"),
            asyncio.create_task(self._stopping.wait(), name="sync-stop"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            exc = task.exception()
            if exc is not None:
                raise exc
        if self._stopping.is_set():
            await client.publish(
                self.topics.status, self._status("offline", "shutdown"), qos=1, retain=True
            )

    async def _publish_status(self, client: aiomqtt.Client) -> None:
        counts: dict[str, object] = {
            "outbox_depth": self.state.outbox_depth,
            "streams": {
                s: {"seq": st.last_seq, "acked": st.acked_seq}
                for s, st in self.state.streams.items()
            },
        }
        if self._status_counts is not None:
            try:
                counts.update(await self._status_counts())
            except Exception:
                log.exception("status counts hook failed")
        await client.publish(
            self.topics.status, self._status("online", counts=counts), qos=1, retain=True
        )

    # ------------------------------------------------------------ session tasks

    async def _pump_loop(self, client: aiomqtt.Client) -> None:
        async def publish_many(items: Sequence[tuple[str, bytes]]) -> None:
            await publish_window(client, items)

        while True:
            self._wake.clear()
            sent = await self._publisher.pump(publish_many)
            if sent:
                continue
            await wait_event(self._wake, self._poll)

    async def _status_loop(self, client: aiomqtt.Client) -> None:
        while True:
            await asyncio.sleep(self.config.status_interval_s)
            await self._publish_status(client)

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            parsed = parse_topic(self.config.prefix, str(message.topic))
            if (
                parsed is None
                or parsed.site_id != self.config.site_id
                or parsed.gateway_id != self.config.gateway_id
            ):
                continue
            raw = (
                message.payload
                if isinstance(message.payload, bytes)
                else str(message.payload).encode()
            )
            if parsed.kind == "ack":
                await self._apply_ack(parsed.name, raw)
            elif parsed.kind == "cmd":
                task = asyncio.create_task(self._run_command(client, parsed.name, raw))
                self._command_tasks.add(task)
                task.add_done_callback(self._command_tasks.discard)

    async def _apply_ack(self, stream: str, raw: bytes) -> None:
        try:
            ack = loads_strict(raw)
            validate("ack", ack)
        except (ValueError, ContractError) as exc:
            log.warning("ignoring malformed ack on %s: %s", stream, exc)
            return
        if ack["stream"] != stream or stream not in STREAMS:
            log.warning("ignoring ack for %s on the topic of %s", ack["stream"], stream)
            return
        if await self._publisher.on_ack(stream, int(ack["seq"])):
            self.state.last_sync_at = self._clock()
            self._wake.set()  # the window has room again

    async def _run_command(self, client: aiomqtt.Client, name: str, raw: bytes) -> None:
        gate = self._gate
        if gate is None:
            return
        outcome = await gate.process(name, raw)
        self.state.commands += 1
        if not outcome.result.get("ok"):
            self.state.commands_refused += 1
        try:
            await client.publish(
                self.topics.result(name), compact_json(outcome.result).encode(), qos=1
            )
        except aiomqtt.MqttError as exc:
            # The cloud repeats the command (same id) and gets the stored result then.
            log.info("result of %s %s not delivered: %s", name, outcome.result.get("id"), exc)

    # ------------------------------------------------------------ offline-proof monitoring

    async def _monitor_loop(self) -> None:
        while True:
            try:
                await self._monitor_once()
            except Exception:
                log.exception("sync monitor failed")
            await asyncio.sleep(self._monitor_interval)

    async def _monitor_once(self) -> None:
        await self._publisher.refresh()
        age = await oldest_unacked_age(self._conn, self._clock())
        self.state.oldest_unacked_s = None if age is None else age.total_seconds()
        self._check_alarm()
        now = self._monotonic()
        if self._last_prune is None or now - self._last_prune > 24 * 3600:
            self._last_prune = now
            keep = timedelta(days=self.config.retain_acked_days)
            removed = await prune_acked(self._conn, self._clock() - keep)
            if self._gate is not None:
                await self._gate.prune(self._clock() - max(keep, timedelta(days=30)))
            if removed:
                log.info("pruned %d acknowledged events older than %s", removed, keep)

    def _check_alarm(self) -> None:
        depth = self.state.outbox_depth
        threshold = self.config.outbox_alarm_threshold
        raised = depth > threshold
        if raised == self.state.backlog_alarm:
            return
        self.state.backlog_alarm = raised
        if raised:
            log.warning("outbox backlog %d events > threshold %d", depth, threshold)
        else:
            log.info("outbox backlog back to %d events", depth)
        if self._on_alarm is not None:
            self._on_alarm(OutboxAlarm(raised, depth, threshold, errors.OUTBOX_BACKLOG))
