"""Operator-facing errors of the simulator, each with a stable code and a remedy (zh + en)."""

from __future__ import annotations

from typing import ClassVar


class SimulatorError(Exception):
    """Base: a simulator option, state file or endpoint that cannot be used."""

    code: ClassVar[str] = "E149"
    remedy_en: ClassVar[str] = "Check the simulator's options: prepaid-gateway simulate --help."
    remedy_zh: ClassVar[str] = "请检查模拟器参数：prepaid-gateway simulate --help。"

    def describe(self) -> str:
        """One operator-facing block: code, message, remedy in both languages."""
        return f"{self.code} {self}\n  处理: {self.remedy_zh}\n  Remedy: {self.remedy_en}"


class BadOptionError(SimulatorError):
    """A command-line value out of range or malformed. Nothing was started."""

    code = "E140"
    remedy_en = "Correct the option named above; `prepaid-gateway simulate --help` shows examples."
    remedy_zh = "请更正上面提到的参数；`prepaid-gateway simulate --help` 中有示例。"


class BadStateFileError(SimulatorError):
    """The --state file exists but is not a usable simulator state. It was left untouched."""

    code = "E141"
    remedy_en = (
        "The state file is damaged or from another program. Move it away to start with fresh "
        "meters, or point --state at another file."
    )
    remedy_zh = (
        "状态文件已损坏或不是模拟器的文件。将其移走以使用全新的模拟电表，"
        "或用 --state 指定其他文件。"
    )


class EndpointUnavailableError(SimulatorError):
    """The serial port cannot be opened or the TCP port cannot be bound."""

    code = "E142"
    remedy_en = (
        "Check the device path (or that socat is running for a pty), that no other program uses "
        "the port, permissions (dialout group), or pick another TCP port."
    )
    remedy_zh = (
        "请检查设备路径（pty 需 socat 正在运行）、端口是否被其他程序占用、"
        "权限（dialout 组），或换一个 TCP 端口。"
    )
