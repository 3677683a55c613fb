"""The DTU listener: GPRS/4G modules dial in, register, and become the bus to their meters.

Defences, because the port faces the cellular network: at most ``max_unidentified`` connections
may be registering at once (extra ones are closed at once), registration must complete within
``registration_timeout_s`` and 1 KiB, DTUs not on the configured list are refused, and a
registered connection that stays silent for ``idle_timeout_s`` is closed by its bus.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.link.bus import Bus
from gateway.link.config import BusConfig, DtuConfig
from gateway.link.dtu_registration import (
    HeartbeatFilter,
    Recogniser,
    Registration,
    recognisers_for,
)
from gateway.link.errors import PortUnavailableError

log = logging.getLogger(__name__)

_MAX_REGISTRATION_BYTES = 1024
_LOGGED_FAILURES = 10  # then debug level: a port scan must not fill the SD card with logs
_LOGGED_REFUSALS = 1000


@dataclass(slots=True)
class DtuServerStats:
    accepted: int = 0
    registered: int = 0
    refused_unknown: int = 0
    refused_busy: int = 0
    registration_failed: int = 0


class DtuServer:
    """Listens on the configured port and attaches each registered DTU to its bus."""

    def __init__(
        self,
        config: BusConfig,
        buses: Mapping[str, Bus],
        *,
        recognisers: Sequence[Recogniser] | None = None,
    ) -> None:
        self.config = config
        self.stats = DtuServerStats()
        self._buses = dict(buses)  # DTU id → bus
        self._dtus = {d.id: d for d in config.dtus}
        self._by_meter = {m: d for d in config.dtus for m in d.meters}
        self._recognisers = (
            list(recognisers)
            if recognisers is not None
            else recognisers_for(config.recognisers, self._dtus, self._by_meter)
        )
        self._server: asyncio.Server | None = None
        self._registering: set[asyncio.Task[None]] = set()
        self._refused_logged: set[str] = set()
        self._busy_logged = False

    @property
    def port(self) -> int:
        """The port actually listened on."""
        if self._server is None or not self._server.sockets:
            return self.config.listen_port
        return int(self._server.sockets[0].getsockname()[1])

    def online(self) -> dict[str, str]:
        """DTU id → connection description, for every DTU connected now."""
        return {i: b.description for i, b in self._buses.items() if b.connected}

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(
                self._accept, self.config.listen_host, self.config.listen_port
            )
        except OSError as exc:
            raise PortUnavailableError(
                f"cannot listen for DTUs on {self.config.listen_host}:{self.config.listen_port}: "
                f"{exc}",
                bus=self.config.name,
            ) from exc
        log.info("listening for DTUs on %s:%d", self.config.listen_host, self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in tuple(self._registering):
            task.cancel()
        await asyncio.gather(*self._registering, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.accepted += 1
        peer = _peer(writer)
        if len(self._registering) >= self.config.max_unidentified:
            self.stats.refused_busy += 1
            if not self._busy_logged:  # a flood would otherwise flood the log too
                self._busy_logged = True
                log.warning(
                    "DTU listener %s: %d connections still registering; closing new ones",
                    self.config.name,
                    len(self._registering),
                )
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._registering.add(task)
        try:
            found = await self._register(reader, peer)
        finally:
            self._registering.discard(task)
            if not self._registering:
                self._busy_logged = False
        if found is None:
            writer.close()
            return
        registration, buffered = found
        dtu = self._resolve(registration)
        if dtu is None:
            self._refuse(registration, peer)
            writer.close()
            return
        self.stats.registered += 1
        bus = self._buses[dtu.id]
        stream_filter = HeartbeatFilter(registration.heartbeat) if registration.heartbeat else None
        log.info("DTU %s registered from %s (%s)", dtu.id, peer, registration.via)
        bus.attach(
            reader,
            writer,
            description=f"DTU {dtu.id} from {peer}",
            stream_filter=stream_filter,
            idle_timeout_s=self.config.idle_timeout_s,
            initial=buffered[registration.consumed :],
        )

    async def _register(
        self, reader: asyncio.StreamReader, peer: str
    ) -> tuple[Registration, bytes] | None:
        buffer = b""
        try:
            async with asyncio.timeout(self.config.registration_timeout_s):
                while len(buffer) <= _MAX_REGISTRATION_BYTES:
                    chunk = await reader.read(512)
                    if not chunk:
                        return None
                    buffer += chunk
                    for recogniser in self._recognisers:
                        registration = recogniser.identify(buffer)
                        if registration is not None:
                            return registration, buffer
        except TimeoutError:
            pass
        except OSError:
            return None
        self.stats.registration_failed += 1
        level = (
            logging.INFO if self.stats.registration_failed <= _LOGGED_FAILURES else logging.DEBUG
        )
        log.log(
            level,
            "connection from %s sent no registration the gateway recognises (%d bytes: %s)",
            peer,
            len(buffer),
            buffer[:32].hex(" ").upper(),
        )
        return None

    def _resolve(self, registration: Registration) -> DtuConfig | None:
        if registration.dtu_id is not None:
            # An id not on the list is refused even if it names a known meter's address.
            return self._dtus.get(registration.dtu_id)
        if registration.meter_address is not None:
            return self._by_meter.get(registration.meter_address)
        return None

    def _refuse(self, registration: Registration, peer: str) -> None:
        self.stats.refused_unknown += 1
        who = registration.dtu_id or f"meter {registration.meter_address}"
        if who not in self._refused_logged and len(self._refused_logged) < _LOGGED_REFUSALS:
            self._refused_logged.add(who)
            log.warning(
                "refused DTU %s from %s: not on the configured list of bus %s "
                "(further attempts are counted, not logged)",
                who,
                peer,
                self.config.name,
            )


def _peer(writer: asyncio.StreamWriter) -> str:
    info = writer.get_extra_info("peername")
    if isinstance(info, tuple) and len(info) >= 2:
        return f"{info[0]}:{info[1]}"
    return str(info)
