"""Errors of the link layer, each with a stable code and a remedy for site staff (zh + en).

``request_sent`` tells a caller whether bytes of the request may have reached the meter: for a
recharge that is the difference between "not done" and "outcome unknown".
"""

from __future__ import annotations

from typing import ClassVar


class LinkError(Exception):
    """Base of every bus and transport error."""

    code: ClassVar[str] = "E129"
    remedy_en: ClassVar[str] = "Check the bus configuration and wiring."
    remedy_zh: ClassVar[str] = "检查总线配置和接线。"

    def __init__(self, message: str, *, bus: str = "", request_sent: bool = False) -> None:
        super().__init__(message)
        self.bus = bus
        self.request_sent = request_sent

    def describe(self) -> str:
        """One operator-facing line: code, message, remedy in both languages."""
        return f"{self.code} {self}\n  处理: {self.remedy_zh}\n  Remedy: {self.remedy_en}"


class BusTimeoutError(LinkError):
    """No valid reply within the reply window (after the allowed retries)."""

    code = "E120"
    remedy_en = (
        "No reply from the meter. Check the meter address, the RS485 wiring (A/B not swapped), "
        "baud rate and parity, and that the meter is powered."
    )
    remedy_zh = (
        "电表无应答。请检查表地址、RS485 接线（A/B 是否接反）、波特率和校验位，以及电表是否上电。"
    )


class NoRouteError(LinkError):
    """The meter is behind no configured bus, or its DTU is not connected."""

    code = "E121"
    remedy_en = (
        "The meter cannot be reached: its DTU is offline or the meter is not configured behind a "
        "DTU. Check the DTU's power, antenna and signal, and the DTU/meter list in the settings."
    )
    remedy_zh = (
        "无法到达电表：DTU 离线或电表未配置在任何 DTU 下。"
        "请检查 DTU 电源、天线和信号，以及设置中的 DTU/电表清单。"
    )


class TransportClosedError(LinkError):
    """The port or connection closed (cable pulled, adapter unplugged, DTU disconnected)."""

    code = "E122"
    remedy_en = (
        "The connection to the bus was lost. Check the USB-RS485 adapter, the cable or the serial "
        "server; the gateway reconnects by itself when the line is back."
    )
    remedy_zh = (
        "与总线的连接已断开。请检查 USB-RS485 转换器、线缆或串口服务器；线路恢复后网关会自动重连。"
    )


class BadReplyError(LinkError):
    """Frames arrived but none was a valid answer (bad checksum, garbled, undecodable value)."""

    code = "E123"
    remedy_en = (
        "The meter's reply was corrupted. Check the RS485 wiring and termination, interference "
        "from power cables, and that baud rate and parity match the meter."
    )
    remedy_zh = (
        "电表应答数据损坏。"
        "请检查 RS485 接线和终端电阻、强电干扰，以及波特率和校验位是否与电表一致。"
    )


class PortUnavailableError(TransportClosedError):
    """The port cannot be opened (missing device, busy, refused TCP connection)."""

    code = "E124"
    remedy_en = (
        "The serial port or serial server cannot be opened. Check the device path or address, "
        "that no other program uses the port, and the permissions (dialout group)."
    )
    remedy_zh = (
        "无法打开串口或串口服务器。"
        "请检查设备路径或地址、是否被其他程序占用，以及权限（dialout 组）。"
    )


class BusClosedError(TransportClosedError):
    """The bus was shut down by the gateway itself."""

    code = "E125"
    remedy_en = "The gateway is stopping or the bus was removed; try again after it restarts."
    remedy_zh = "网关正在停止或该总线已被移除；请在重启后重试。"
