"""Fixed states, pixel checks and key helpers shared by the panel tests."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from gpiozero.pins.mock import MockFactory, MockPin
from PIL import Image, ImageDraw

from gateway.panel import (
    AlarmItem,
    CloudLink,
    LastSale,
    MeterInfo,
    MqttState,
    MqttStatus,
    NavPins,
    NetInterface,
    Panel,
    PanelState,
    RelayState,
)
from gateway.panel.fonts import PanelFont
from gateway.panel.keys import MATRIX_LAYOUT, key_for_legend

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "panel"
NOW = datetime(2024, 5, 6, 14, 5, 30)

METER_A = MeterInfo(
    meter_no="000000000012",
    customer_no="1001",
    customer_name="张三",
    balance_fen=12345,
    relay=RelayState.CLOSED,
    last_reading_centi_kwh=123456,
    last_read_at=datetime(2024, 5, 6, 14, 0),
)
METER_B = MeterInfo(
    meter_no="000000000034",
    customer_no="1002",
    balance_fen=-320,
    relay=RelayState.OPEN,
    last_reading_centi_kwh=5000,
)


def alarm(n: int, acknowledged: bool = False) -> AlarmItem:
    return AlarmItem(
        id=f"a{n}",
        meter_no=f"0000000000{n:02d}",
        summary_zh="余额不足",
        summary_en="Low credit",
        raised_at=datetime(2024, 5, 6, 13, 50 + n),
        acknowledged=acknowledged,
    )


def busy_state(language: str = "zh", **changes: object) -> PanelState:
    state = PanelState(
        now=NOW,
        site_name="东区配电房",
        meters_online=11,
        meters_total=12,
        alarms=(alarm(1), alarm(2, acknowledged=True)),
        cloud=CloudLink.ONLINE,
        outbox_depth=5,
        last_sale=LastSale(datetime(2024, 5, 6, 14, 1), "000000000012", 5000, "R00001"),
        ip_addresses=(NetInterface("eth0", "192.168.1.20"), NetInterface("wlan0", "10.0.0.7")),
        mqtt=MqttStatus(MqttState.CONNECTED, "mqtt.example.cn:8883"),
        language=language,  # type: ignore[arg-type]
    )
    return dataclasses.replace(state, **changes)  # type: ignore[arg-type]


def save(image: Image.Image, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    image.save(path)
    return path


def band(row: int, font: PanelFont) -> tuple[int, int, int, int]:
    top = row * font.row_height
    return (0, top, 128, top + font.row_height)


def lit(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    return sum(1 for p in image.crop(box).tobytes() for b in range(8) if p & (0x80 >> b))


def lit_fraction(image: Image.Image, box: tuple[int, int, int, int]) -> float:
    w, h = box[2] - box[0], box[3] - box[1]
    return lit(image, box) / (w * h)


def text_matches(
    screen: Image.Image,
    text: str,
    font: PanelFont,
    row: int,
    *,
    align: str = "left",
    inverse: bool = False,
) -> bool:
    """Is `text`, drawn alone with PIL, pixel-identical to the screen where it should be?"""
    width = int(font.face.getlength(text))
    x = 0 if align == "left" else 128 - width
    top = row * font.row_height
    alone = Image.new("1", (128, 64), 1 if inverse else 0)
    draw = ImageDraw.Draw(alone)
    draw.fontmode = "1"
    draw.text((x, top + font.y_offset), text, font=font.face, fill=0 if inverse else 1)
    box = (x, top, x + width, top + font.row_height)
    expected = alone.crop(box)
    assert lit(expected, (0, 0, width, font.row_height)) != (0 if not inverse else width * 16), (
        f"{text!r} draws nothing"
    )
    return screen.crop(box).tobytes() == expected.tobytes()


async def until(predicate: Callable[[], bool], what: str, within: float = 10.0) -> None:
    """Poll `predicate` (generous limit: the machine is shared and loaded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


class FakeClock:
    """Monotonic seconds that only move when a test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


# -- driving keys ---------------------------------------------------------------------------


async def press_keys(panel: Panel, legends: str) -> None:
    """Press 4x4 keypad keys by their legends ('0'-'9', '*', '#', 'A'-'D') on the panel."""
    for legend in legends:
        panel.press(key_for_legend(legend))
        await panel.settle()


class NavButtons:
    """Presses the four navigation buttons on gpiozero mock pins (pull-up: pressed = low)."""

    def __init__(self, factory: MockFactory, pins: NavPins, panel: Panel) -> None:
        self._factory = factory
        self._pins = {"up": pins.up, "down": pins.down, "ok": pins.ok, "back": pins.back}
        self._panel = panel

    async def tap(self, *names: str) -> None:
        for name in names:
            pin = self._factory.pin(self._pins[name])
            target = self._panel.key_count + 1
            pin.drive_low()
            pin.drive_high()
            await until(lambda: self._panel.key_count >= target, f"{name} key to arrive")  # noqa: B023
            await self._panel.settle()


class _RowPin(MockPin):
    """A matrix row pin: driving it low connects it to the columns of the keys held down."""

    def __init__(
        self, factory: MockFactory, info: object, wiring: MatrixWiring, index: int
    ) -> None:
        super().__init__(factory, info)
        self.wiring = wiring
        self.index = index

    def _change_state(self, value: bool) -> bool:
        changed: bool = super()._change_state(value)
        self.wiring.settle_columns()
        if value and self.index == len(self.wiring.rows) - 1:
            self.wiring.scans += 1  # the last row released: one full scan done
        return changed


class MatrixWiring:
    """A 4x4 membrane keypad on mock pins: hold a key and the scan sees its row meet its column."""

    def __init__(self, factory: MockFactory, rows: tuple[int, ...], cols: tuple[int, ...]) -> None:
        self.factory = factory
        self.rows: list[_RowPin] = []
        for i, pin in enumerate(rows):
            self.rows.append(factory.pin(pin, pin_class=_RowPin, wiring=self, index=i))
        self.cols: list[MockPin] = []
        self.col_numbers = cols
        self.held: frozenset[tuple[int, int]] = frozenset()
        self.scans = 0

    def settle_columns(self) -> None:
        if not self.cols:
            self.cols = [self.factory.pin(p) for p in self.col_numbers]
        for c, col in enumerate(self.cols):
            if col.function != "input":
                continue
            # A row is active when driven low; a held key then pulls its column low.
            low = any(
                (r, c) in self.held and row.function == "output" and not row.state
                for r, row in enumerate(self.rows)
            )
            if low:
                col.drive_low()
            else:
                col.drive_high()

    async def tap(self, panel: Panel, legend: str) -> None:
        position = next(
            (r, c)
            for r, line in enumerate(MATRIX_LAYOUT)
            for c, text in enumerate(line)
            if text == legend
        )
        before = panel.key_count
        self.held = frozenset({position})
        await until(lambda: panel.key_count > before, f"matrix key {legend!r}")
        self.held = frozenset()
        scans = self.scans
        # Let the scanner see the release, or the next tap of the same key would not count.
        await until(lambda: self.scans >= scans + 3, "the keypad scan to see the release")
        await panel.settle()

    async def type(self, panel: Panel, legends: str) -> None:
        for legend in legends:
            await self.tap(panel, legend)
