"""Errors of the billing rules: a stable code, the field at fault, and a remedy in two languages.

Codes E200..E299 belong to billing. A billing function that raises has changed nothing (the
rules are pure), so the caller can show the message and let the operator try again.
"""

from __future__ import annotations

from typing import ClassVar


class BillingError(ValueError):
    """Base of every billing error; ``field`` names the input at fault."""

    code: ClassVar[str] = "E200"
    remedy_zh: ClassVar[str] = "请检查输入后重试。"
    remedy_en: ClassVar[str] = "Check the input and try again."

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{self.code} {field}: {problem}")
        self.field = field
        self.problem = problem


class AmountFormatError(BillingError):
    """Text that is not a plain decimal number (letters, several dots, a float object)."""

    code = "E201"
    remedy_zh = "请输入数字，例如 12.34（不要带单位或空格以外的字符）。"
    remedy_en = "Enter a plain number such as 12.34 (no units or other characters)."


class TooManyDecimalsError(BillingError):
    code = "E202"
    remedy_zh = "金额最多两位小数，电量最多两位小数，单价最多四位小数。"
    remedy_en = "Money and energy take at most 2 decimals; prices take at most 4."


class NegativeAmountError(BillingError):
    code = "E203"
    remedy_zh = "请输入大于或等于零的数值。"
    remedy_en = "Enter a value of zero or more."


class AmountTooLargeError(BillingError):
    code = "E204"
    remedy_zh = "数值超出电表可存储的范围（最大 999999.99），请分次操作或核对输入。"
    remedy_en = "The value is beyond what a meter can hold (999999.99 at most); check the input."


class TariffError(BillingError):
    """A tariff that cannot be used as given; ``field`` is a dotted path into its JSON form."""

    code = "E210"
    remedy_zh = "请在【价格类型管理】中修正该字段后重新保存。"
    remedy_en = "Correct this field of the price type (Price types page) and save again."


class NoTariffInForceError(BillingError):
    code = "E211"
    remedy_zh = "该时间没有生效的价格版本，请添加生效日期更早的价格版本。"
    remedy_en = "No tariff version is in force at that time; add a version effective earlier."


class ReconcileFirstError(BillingError):
    """The meter holds more than the ledger ever sold to it: valuing it would invent money."""

    code = "E240"
    remedy_zh = "电表剩余量大于系统售出量，请先执行对账（补录换表补偿或购电记录）再退费。"
    remedy_en = (
        "The meter holds more than the ledger sold to it; run reconciliation (record the missing "
        "compensation or sale) before the refund."
    )


class HoardingLimitError(BillingError):
    code = "E250"
    remedy_zh = "购电后余额将超过囤积限额，请减少购电金额。"
    remedy_en = "The balance after this purchase would exceed the hoarding limit; buy less."


class EmergencyCreditUnavailableError(BillingError):
    code = "E251"
    remedy_zh = "当前不能使用应急电费：未启用、尚未还清上次应急电费，或余额高于可用门槛。"
    remedy_en = (
        "Emergency credit is not available: it is disabled, the last advance is not repaid yet, "
        "or the balance is above the threshold."
    )


class SettingsError(BillingError):
    code = "E252"
    remedy_zh = "请修正电表参数设置：报警金额1 ≥ 报警金额2 ≥ 0，各限额不能为负。"
    remedy_en = "Fix the meter settings: alarm-1 ≥ alarm-2 ≥ 0 and no limit may be negative."
