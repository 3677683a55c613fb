"""The OLED through luma.oled over I2C, or luma's in-memory dummy when there is none.

Everything here blocks (I2C transfers take 25-100 ms per frame): call it through
asyncio.to_thread. Opening never raises for missing hardware; it falls back and says so once.
"""

from __future__ import annotations

import logging
from typing import Protocol

from PIL import Image

from gateway.panel.canvas import HEIGHT, WIDTH
from gateway.panel.config import PanelConfig

log = logging.getLogger(__name__)


class DisplaySink(Protocol):
    """The part of a luma device the panel uses."""

    def display(self, image: Image.Image) -> None: ...

    def contrast(self, level: int) -> None: ...

    def show(self) -> None: ...

    def hide(self) -> None: ...

    def cleanup(self) -> None: ...


def dummy_display(rotation: int = 0) -> DisplaySink:
    from luma.core.device import dummy

    device: DisplaySink = dummy(width=WIDTH, height=HEIGHT, rotate=rotation, mode="1")
    return device


def open_display(config: PanelConfig) -> tuple[DisplaySink, bool]:
    """(device, True) for a real OLED, (dummy, False) when the driver is dummy or none answers."""
    if config.driver == "dummy":
        return dummy_display(config.rotation), False
    try:
        from luma.core.interface.serial import i2c
        from luma.oled.device import sh1106, ssd1306

        serial = i2c(port=config.i2c_port, address=config.i2c_address)
        cls = ssd1306 if config.driver == "ssd1306" else sh1106
        device: DisplaySink = cls(serial, width=WIDTH, height=HEIGHT, rotate=config.rotation)
    except Exception as exc:
        # luma raises DeviceNotFoundError / DevicePermissionError, smbus raises OSError when
        # nothing acknowledges the address; all mean "run headless".
        log.warning(
            "panel: no %s display on i2c-%d at 0x%02X (%s); using an in-memory display",
            config.driver,
            config.i2c_port,
            config.i2c_address,
            exc,
        )
        return dummy_display(config.rotation), False
    device.contrast(config.contrast)
    return device, True
