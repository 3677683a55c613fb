"""Errors of meter reading and monitoring, each with a stable code and a remedy (zh + en)."""

from __future__ import annotations

from typing import ClassVar


class ReadingError(Exception):
    code: ClassVar[str] = "E160"
    remedy_en: ClassVar[str] = "Check the reading settings and the meter list, then try again."
    remedy_zh: ClassVar[str] = "检查抄表设置和电表档案后重试。"

    def describe(self) -> str:
        return f"{self.code} {self}\n  处理: {self.remedy_zh}\n  Remedy: {self.remedy_en}"


class UnknownMeterError(ReadingError):
    """A read was asked for a meter the poller does not know (not installed, no bus)."""

    code = "E161"
    remedy_en = (
        "The meter is not in the reading list: check that it is installed (state 'installed'), "
        "sits in a box whose bus is configured, and reload the meter list."
    )
    remedy_zh = (
        "该电表不在抄表清单中：请确认电表状态为“已安装”、所在表箱的总线已配置，然后重新加载。"
    )


class PollerStoppedError(ReadingError):
    """The poller is not running (stopping, or not started yet)."""

    code = "E162"
    remedy_en = "The gateway is starting or stopping; try again in a moment."
    remedy_zh = "网关正在启动或停止，请稍后重试。"


class ReadAllBusyError(ReadingError):
    """A "read all meters" is already running."""

    code = "E163"
    remedy_en = "Wait for the running read of all meters to finish (its progress is shown)."
    remedy_zh = "正在抄读所有电表，请等待完成（可查看进度）。"


class AlarmAckError(ReadingError):
    """An acknowledgement that cannot be done (no permission, unknown alarm)."""

    code = "E165"
    remedy_en = (
        "Ask an administrator for the alarm acknowledgement permission, or refresh the list."
    )
    remedy_zh = "请管理员为您开通“告警确认”权限，或刷新列表。"
