"""Operator-facing messages and the panel's own error codes (E8xx).

A backend reports an operator error by raising `PanelError` with its own stable code (the
services' E0xx/E1xx codes pass straight through); the panel only adds codes for what it checks
itself. Each text is a remedy, short enough for a few lines of a 128x64 screen.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.panel.config import Language


@dataclass(frozen=True)
class Message:
    """A bilingual text, with the error code when it reports an error."""

    zh: str
    en: str
    code: str | None = None

    def text(self, lang: Language) -> str:
        return self.zh if lang == "zh" else self.en


class PanelError(Exception):
    """An error to show to the person at the panel; nothing was changed."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(f"{code}: {en}")
        self.message = Message(zh=zh, en=en, code=code)

    @property
    def code(self) -> str:
        assert self.message.code is not None
        return self.message.code


def _err(code: str, zh: str, en: str) -> PanelError:
    return PanelError(code, zh, en)


# The panel's codes. Functions, not instances: an exception object must not be raised twice.
def wrong_pin(left: int) -> PanelError:
    return _err("E801", f"PIN错误 剩{left}次", f"Wrong PIN, {left} tries left")


def pin_locked(seconds: int) -> PanelError:
    return _err(
        "E802", f"PIN错误次数过多,{seconds}秒后再试", f"Too many wrong PINs, wait {seconds} s"
    )


def relay_disabled() -> PanelError:
    return _err("E803", "面板未设继电器PIN,请在网页操作", "No relay PIN set: use the web UI")


def bad_amount() -> PanelError:
    return _err("E804", "金额格式错误,例:50或50*5", "Bad amount, e.g. 50 or 50*5")


def amount_too_large(limit: str) -> PanelError:
    return _err(
        "E805",
        f"金额超过面板上限{limit},请在网页操作",
        f"Above panel limit {limit}: use the web UI",
    )


def bad_number() -> PanelError:
    return _err("E806", "请输入1-20位表号或户号", "Enter a 1-20 digit meter/customer no.")


def bad_pin_format() -> PanelError:
    return _err("E807", "PIN为4-8位数字", "PIN is 4-8 digits")


def backend_failed() -> PanelError:
    return _err("E808", "内部错误,请重试或用网页", "Internal error: retry or use the web UI")


def outcome_unknown() -> PanelError:
    # Two rows on screen, the retry hint is the third: the warning must fit in those two.
    return _err("E809", "结果未知 勿重复售电", "Result unknown: do not resell")


def display_font_missing(package: str, paths: str) -> PanelError:
    return _err(
        "E810", f"缺少字体,请安装{package}: {paths}", f"Font missing, install {package}: {paths}"
    )
