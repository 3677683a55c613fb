"""One status snapshot for the dashboard, the panel and systemd's STATUS line.

Read from the database and the running parts every few seconds; the web and the panel only read
the last snapshot, so neither ever waits on a meter or the ledger to draw.
"""

from __future__ import annotations

import datetime as dt
import socket
from dataclasses import dataclass, field

from gateway.panel.state import AlarmItem as PanelAlarm
from gateway.panel.state import CloudLink, LastSale, MqttState, MqttStatus, NetInterface, PanelState
from gateway.reading import catalogue
from gateway.store.alarms import AlarmRecord
from gateway.store.clock import from_text
from gateway.store.conn import Conn
from gateway.sync.state import SyncState as CloudState
from web.status import AlarmItem, MeterCounts, SyncState


@dataclass(frozen=True)
class Snapshot:
    at: dt.datetime
    meters_total: int = 0
    meters_online: int | None = None  # None until the poller has an opinion
    outbox_depth: int = 0
    last_sale: LastSale | None = None
    alarms: tuple[AlarmRecord, ...] = ()
    cloud: CloudState | None = None
    mqtt_enabled: bool = False
    extra: dict[str, object] = field(default_factory=dict)


def read_counts(c: Conn) -> tuple[int, int, LastSale | None]:
    meters = int(c.scalar("SELECT count(*) FROM meters") or 0)
    outbox = int(
        c.scalar(
            "SELECT count(*) FROM outbox AS o LEFT JOIN outbox_ack AS a ON a.stream = o.stream "
            "WHERE o.seq > coalesce(a.acked_seq, 0)"
        )
        or 0
    )
    row = c.one(
        "SELECT l.created_at, l.amount_fen, m.address, r.number FROM ledger AS l "
        "LEFT JOIN meters AS m ON m.id = l.meter_id "
        "LEFT JOIN receipts AS r ON r.ledger_id = l.id "
        "WHERE l.kind = 'sale' ORDER BY l.id DESC LIMIT 1"
    )
    last = None
    if row is not None:
        last = LastSale(
            dt.datetime.strptime(row["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC),
            row["address"] or "",
            int(row["amount_fen"]),
            str(row["number"] or ""),
        )
    return meters, outbox, last


def local_addresses() -> tuple[NetInterface, ...]:
    """The addresses staff type into a browser (best effort, no extra dependency)."""
    found: list[NetInterface] = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET: no packet is sent by a UDP connect
            found.append(NetInterface("lan", s.getsockname()[0]))
    except OSError:
        pass
    return tuple(found)


def _panel_alarm(record: AlarmRecord) -> PanelAlarm:
    kind = catalogue.BY_NAME.get(record.kind)
    return PanelAlarm(
        id=str(record.id),
        meter_no=record.meter_address,
        summary_zh=kind.label_zh if kind else record.kind,
        summary_en=kind.label_en if kind else record.kind,
        raised_at=from_text(record.started_at),
        acknowledged=False,
    )


class StatusBoard:
    """Holds the latest snapshot; implements the web dashboard's StatusProvider."""

    def __init__(self) -> None:
        self.snapshot = Snapshot(at=dt.datetime.now(dt.UTC))

    def meter_counts(self) -> MeterCounts | None:
        s = self.snapshot
        if s.meters_online is None:
            return None
        return MeterCounts(s.meters_online, s.meters_total - s.meters_online, 0)

    def active_alarms(self, limit: int) -> list[AlarmItem]:
        return [
            AlarmItem(
                at=from_text(a.started_at),
                meter_address=a.meter_address,
                customer_name="",
                kind=a.kind,
                detail=a.detail,
            )
            for a in self.snapshot.alarms[:limit]
        ]

    def sync_state(self) -> SyncState | None:
        cloud = self.snapshot.cloud
        if cloud is None:
            return None
        return SyncState(cloud.connected, cloud.last_sync_at, self.snapshot.outbox_depth)

    def panel_state(self, site_name: str, language: str) -> PanelState:
        s = self.snapshot
        cloud = s.cloud
        if not s.mqtt_enabled or cloud is None:
            link, mqtt = CloudLink.DISABLED, MqttStatus()
        elif cloud.connected:
            link, mqtt = CloudLink.ONLINE, MqttStatus(MqttState.CONNECTED, cloud.broker)
        else:
            link = CloudLink.OFFLINE
            mqtt = MqttStatus(MqttState.DISCONNECTED, cloud.broker, (cloud.last_error or "")[:40])
        return PanelState(
            now=s.at,
            site_name=site_name,
            meters_online=s.meters_online if s.meters_online is not None else 0,
            meters_total=s.meters_total,
            cloud=link,
            outbox_depth=s.outbox_depth,
            last_sale=s.last_sale,
            alarms=tuple(_panel_alarm(a) for a in s.alarms),
            ip_addresses=local_addresses(),
            mqtt=mqtt,
            language="en" if language == "en" else "zh",
        )
