"""Building an aiomqtt client (MQTT 5, persistent session, TLS, auth) and naming its failures.

Shared by the gateway's sync client and the master-station simulator, so both speak to the
broker the same way.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

import aiomqtt
import paho.mqtt.client as mqtt
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.sync import errors
from gateway.sync.config import MqttConfig, Secrets

# paho's default of 20 in-flight QoS 1 messages caps a drain after an outage at a few hundred
# events per second on a LAN; the broker's Receive Maximum still bounds what it accepts.
MAX_INFLIGHT = 200


@dataclass(frozen=True)
class BrokerSettings:
    host: str
    port: int
    client_id: str
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    username: str | None = None
    password: str | None = None
    keepalive: int = 60
    session_expiry_s: int = 7 * 24 * 3600
    # False = resume the broker's session (subscriptions and queued QoS 1 messages).
    clean_start: bool = False

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    @classmethod
    def from_config(cls, config: MqttConfig, secrets: Secrets) -> BrokerSettings:
        return cls(
            host=config.host,
            port=config.port,
            client_id=config.effective_client_id,
            tls=config.uses_tls,
            ca_file=config.ca_file,
            cert_file=config.cert_file,
            key_file=config.key_file,
            username=config.username,
            password=secrets.password,
            keepalive=config.keepalive,
            session_expiry_s=config.session_expiry_s,
        )


def make_client(
    settings: BrokerSettings, *, will: aiomqtt.Will | None = None, paho_logging: bool = False
) -> aiomqtt.Client:
    """An unconnected client; ``async with`` it to connect (must run inside the event loop)."""
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = settings.session_expiry_s
    tls_params = None
    if settings.tls:
        tls_params = aiomqtt.TLSParameters(
            ca_certs=settings.ca_file,
            certfile=settings.cert_file,
            keyfile=settings.key_file,
            cert_reqs=ssl.CERT_REQUIRED,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    client = aiomqtt.Client(
        settings.host,
        settings.port,
        username=settings.username,
        password=settings.password,
        identifier=settings.client_id,
        protocol=aiomqtt.ProtocolVersion.V5,
        will=will,
        keepalive=settings.keepalive,
        clean_start=settings.clean_start,
        properties=properties,
        tls_params=tls_params,
        max_inflight_messages=MAX_INFLIGHT,
        timeout=30,
        # Without it Nagle holds the last small PUBLISH of a window until the broker's delayed
        # ACK (40 ms on Linux): a drain after an outage crawls at ~1,000 events/s.
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
    )
    # aiomqtt warns per call above this; windows of concurrent publishes are intended here.
    client.pending_calls_threshold = 10 * MAX_INFLIGHT
    if not paho_logging:
        # paho formats a debug record for every packet even when nobody listens.
        paho_of(client).disable_logger()
    return client


def paho_of(client: aiomqtt.Client) -> mqtt.Client:
    """The paho client inside aiomqtt 2.5 (pinned <2.6 in pyproject).

    Used where aiomqtt's per-call futures cost more than the work: a window of outbox
    publishes, and draining received messages in batches. Everything else goes through aiomqtt.
    """
    paho: mqtt.Client = client._client
    return paho


async def publish_window(
    client: aiomqtt.Client, items: Sequence[tuple[str, bytes]], *, within_s: float = 30.0
) -> None:
    """Publish ``items`` with QoS 1, in order, and return once the broker acknowledged all.

    paho sends them back to back (at most MAX_INFLIGHT unacknowledged); we wait for the
    PUBACKs together instead of one future per message. Raises aiomqtt.MqttError like publish.
    """
    paho = paho_of(client)
    infos = []
    for topic, payload in items:
        info = paho.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
        infos.append(info)
    deadline = asyncio.get_running_loop().time() + within_s
    pause = 0.0005
    while not all(info.is_published() for info in infos):
        if asyncio.get_running_loop().time() > deadline:
            raise aiomqtt.MqttError("Operation timed out")
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.02)


def classify(exc: BaseException) -> errors.ErrorInfo:
    """Map a connection failure to the stable code shown in the UI and logs."""
    if isinstance(exc, MqttConnectError):
        # MQTT 5: 0x86 bad user name or password, 0x87 not authorised; 3.1.1: 4 and 5.
        rc = getattr(exc.rc, "value", exc.rc)
        if rc in (4, 5, 134, 135, 140):
            return errors.BAD_LOGIN
        return errors.UNREACHABLE
    text = str(exc).lower()
    if isinstance(exc, ssl.SSLError) or "ssl" in text or "certificate" in text:
        return errors.TLS_FAILED
    if "timed out" in text or "refused" in text or "unreachable" in text or "no route" in text:
        return errors.UNREACHABLE
    if "disconnect" in text:
        return errors.CONNECTION_LOST
    return errors.UNREACHABLE
