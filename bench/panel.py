"""Render time per panel screen; prints one JSON object.

render_ms_max is the slowest screen's median render time (target < 10 ms, issue 8). The per-screen
p95 and max are printed too: on a shared machine a single run can be delayed by the scheduler.
PNG encoding (the web mirror) is measured separately as png_ms.
"""

from __future__ import annotations

import io
import json
import statistics
import time
from collections.abc import Callable
from datetime import datetime

from PIL import Image

from gateway.panel import (
    AlarmItem,
    CloudLink,
    LastSale,
    MeterInfo,
    MqttState,
    MqttStatus,
    NetInterface,
    PanelState,
    RelayState,
)
from gateway.panel.errors import outcome_unknown
from gateway.panel.fonts import load_font
from gateway.panel.screens import render_view
from gateway.panel.views import (
    AlarmsView,
    BusyView,
    ConfirmTopUpView,
    EntryPurpose,
    EntryView,
    MenuItem,
    MenuView,
    MessageView,
    MeterView,
    NetworkView,
    StatusView,
    View,
)

RUNS = 200


def state() -> PanelState:
    now = datetime(2024, 5, 6, 14, 5)
    alarms = tuple(
        AlarmItem(f"a{i}", f"0000000000{i:02d}", "余额不足", "Low credit", now, i % 2 == 0)
        for i in range(8)
    )
    return PanelState(
        now=now,
        site_name="东区配电房",
        meters_online=118,
        meters_total=120,
        alarms=alarms,
        cloud=CloudLink.OFFLINE,
        outbox_depth=4321,
        last_sale=LastSale(now, "000000000012", 123456, "R00042"),
        ip_addresses=(NetInterface("eth0", "192.168.1.20"), NetInterface("wlan0", "10.0.0.7")),
        mqtt=MqttStatus(MqttState.CONNECTING, "mqtt.example.cn:8883", "connection refused"),
    )


def screens() -> dict[str, View]:
    meter = MeterInfo("000000000012", "1001", "张三", 12345, None, RelayState.CLOSED, 123456)
    main = (MenuItem.STATUS, MenuItem.ALARMS, MenuItem.LOOKUP, MenuItem.NETWORK, MenuItem.SILENCE)
    return {
        "status": StatusView(),
        "alarms": AlarmsView(selected=5),
        "network": NetworkView(first=1),
        "menu": MenuView(None, main, 3),
        "lookup_entry": EntryView(EntryPurpose.LOOKUP, "00000000001", None),
        "lookup_result": MeterView(meter),
        "topup_confirm": ConfirmTopUpView("000000000012", 5050),
        "busy": BusyView(),
        "message": MessageView(outcome_unknown().message, ok=False, can_retry=True),
    }


def timed(fn: Callable[[], object]) -> list[float]:
    fn()  # warm-up: glyph cache
    out = []
    for _ in range(RUNS):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return sorted(out)


def main() -> None:
    font = load_font("unifont")
    snapshot = state()
    per_screen: dict[str, dict[str, float]] = {}
    last: Image.Image | None = None
    for name, view in screens().items():
        runs = timed(lambda view=view: render_view(snapshot, view, font))
        per_screen[name] = {
            "median_ms": round(statistics.median(runs), 3),
            "p95_ms": round(runs[int(len(runs) * 0.95) - 1], 3),
            "max_ms": round(runs[-1], 3),
        }
        last = render_view(snapshot, view, font)
    assert last is not None
    image = last

    def encode() -> bytes:
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        return buf.getvalue()

    png = timed(encode)
    result = {
        "render_ms_max": max(s["median_ms"] for s in per_screen.values()),
        "render_p95_ms_max": max(s["p95_ms"] for s in per_screen.values()),
        "target_ms": 10,
        "runs_per_screen": RUNS,
        "png_ms": round(statistics.median(png), 3),
        "screens": per_screen,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
