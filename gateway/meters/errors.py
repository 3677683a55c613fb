"""Errors of the meter driver, each with a stable code and a remedy (zh + en).

Link problems (no reply, port lost, DTU offline, corrupted reply) stay the link's own errors
(E120..E125); these are about what the meter answered.
"""

from __future__ import annotations

from typing import ClassVar


class MeterDriverError(Exception):
    code: ClassVar[str] = "E139"
    remedy_en: ClassVar[str] = "Check the meter type profile and the meter."
    remedy_zh: ClassVar[str] = "检查电表类型配置和电表本身。"

    def __init__(self, message: str, *, address: str = "") -> None:
        super().__init__(message)
        self.address = address

    def describe(self) -> str:
        return f"{self.code} {self}\n  处理: {self.remedy_zh}\n  Remedy: {self.remedy_en}"


class MeterRefusedError(MeterDriverError):
    """The meter answered with an abnormal reply (ERR byte): unauthorised, no such data, ..."""

    code = "E130"
    remedy_en = (
        "The meter refused the command. For UNAUTHORISED check the password level, password and "
        "operator code of the meter type; for NO_SUCH_DATA the meter does not support that item."
    )
    remedy_zh = (
        "电表拒绝了命令。UNAUTHORISED：请检查该表型的密码等级、密码和操作者代码；"
        "NO_SUCH_DATA：电表不支持该数据项。"
    )

    def __init__(self, message: str, *, address: str = "", err_names: str = "") -> None:
        super().__init__(message, address=address)
        self.err_names = err_names


class ReadbackMismatchError(MeterDriverError):
    """After a write or relay command, the value read back is not what was commanded."""

    code = "E131"
    remedy_en = (
        "The meter accepted the command but its state did not change as commanded. Check "
        "keep-power (it blocks trips), the meter clock (a command past its validity is ignored) "
        "and the meter type profile; then try again."
    )
    remedy_zh = (
        "电表接受了命令但状态未按命令改变。请检查保电状态（保电时不能拉闸）、"
        "电表时钟（过期命令被忽略）和表型配置，然后重试。"
    )


class RechargeRefusedError(MeterDriverError):
    """The meter refused a 03H open-account or recharge: nothing was credited."""

    code = "E132"
    remedy_en = (
        "The meter refused the purchase and credited nothing. PURCHASE_COUNT_ERROR: re-read the "
        "meter's purchase count; OVER_HOARDING_LIMIT: sell a smaller amount; MAC_FAILED or "
        "AUTH_FAILED: check the key/MAC provider of the meter type; CUSTOMER_MISMATCH: check "
        "the customer number."
    )
    remedy_zh = (
        "电表拒绝了购电，未充值。PURCHASE_COUNT_ERROR：重新读取电表购电次数；"
        "OVER_HOARDING_LIMIT：减少购电金额；MAC_FAILED/AUTH_FAILED：检查表型的密钥/MAC 服务；"
        "CUSTOMER_MISMATCH：检查客户编号。"
    )

    def __init__(self, message: str, *, address: str = "", serr_names: str = "") -> None:
        super().__init__(message, address=address)
        self.serr_names = serr_names


class RechargeOutcomeUnknownError(MeterDriverError):
    """The recharge was sent but no clear answer came back: it may or may not be credited."""

    code = "E133"
    remedy_en = (
        "It is not known whether the meter credited this purchase. Do not sell again: read the "
        "meter's purchase count first. If it went up by one, the purchase is done."
    )
    remedy_zh = (
        "无法确定电表是否已充值。请勿重复售电：先读取电表购电次数，若已加一则本次购电已成功。"
    )


class MacUnavailableError(MeterDriverError):
    """The MAC provider of the meter type cannot produce MACs (not configured or unreachable)."""

    code = "E134"
    remedy_en = (
        "The security module for this meter type is not available. Configure its MAC provider "
        "(software key or encryption machine address) or check that the encryption machine "
        "service is reachable."
    )
    remedy_zh = (
        "该表型的安全模块不可用。"
        "请配置 MAC 提供方（软件密钥或加密机地址），或检查加密机服务是否可达。"
    )


class InvalidRequestError(MeterDriverError):
    """A value the gateway was asked to send does not fit the meter's format."""

    code = "E135"
    remedy_en = "Correct the value (range, digits, decimals) and try again; nothing was sent."
    remedy_zh = "请更正数值（范围、位数、小数位）后重试；命令未发送。"
