"""Card errors, each with a stable code and what site staff should do, in Chinese and English.

E002 and E004 are the vendor manual's own (appendix 1.3) and keep its wording; E4xx are this
package's. A caller shows ``describe()`` or the four texts; none of these errors leaves anything
half-changed in the gateway (a card write that fails is reported, never assumed done).
"""

from __future__ import annotations

from typing import ClassVar


class CardError(Exception):
    """Base of every card, reader and card-format error."""

    code: ClassVar[str] = "E419"
    message_zh: ClassVar[str] = "IC卡操作失败"
    remedy_zh: ClassVar[str] = "请重新插卡后重试。"
    remedy_en: ClassVar[str] = "Re-insert the card and try again."

    def __init__(self, message: str = "", *, reader: str = "") -> None:
        super().__init__(message or self.__doc__ or self.code)
        self.reader = reader

    @property
    def message_en(self) -> str:
        return str(self)

    def describe(self) -> str:
        """One operator-facing block: code, message, remedy in both languages."""
        return (
            f"{self.code} {self.message_zh} / {self}\n"
            f"  处理: {self.remedy_zh}\n  Remedy: {self.remedy_en}"
        )


# ---- the manual's errors ---------------------------------------------------------------------
class NotANewCardError(CardError):
    """Open-account purchase (card): not a new card."""

    code = "E002"
    message_zh = "【开户购电（IC卡）】不是新卡"
    remedy_zh = "对IC卡进行清卡，详见4.3.2（读卡清卡）。"
    remedy_en = "Clear the card first (F3.2, read / clear cards), then write it again."


class NotAUserCardError(CardError):
    """Read user card: no answer, the card is not a user card."""

    code = "E004"
    message_zh = "【读用户卡（IC卡）】无返回信息"
    remedy_zh = "该卡不是用户卡。请插入本系统发行的用户卡。"
    remedy_en = "The card is not a user card. Insert a user card issued by this system."


# ---- reader service --------------------------------------------------------------------------
class ReaderServiceDownError(CardError):
    """The card reader service (pcscd) is not running."""

    code = "E401"
    message_zh = "读卡器服务未运行"
    remedy_zh = "读卡器服务 pcscd 未运行：请执行 systemctl start pcscd，或重启网关。"
    remedy_en = (
        "The card reader service pcscd is not running: run `systemctl start pcscd` or restart "
        "the gateway."
    )


class NoReaderError(CardError):
    """No card reader is connected."""

    code = "E402"
    message_zh = "未连接读卡器"
    remedy_zh = "请将 USB 读卡器插入网关，等待指示灯亮起后重试。"
    remedy_en = "Plug the USB card reader into the gateway, wait for its light, then try again."


class ReaderNotFoundError(CardError):
    """The configured card reader is not connected, or several readers and none chosen."""

    code = "E403"
    message_zh = "找不到配置的读卡器"
    remedy_zh = "检查读卡器是否插好；在设置中填写读卡器名称（名称的一部分即可）。"
    remedy_en = (
        "Check the reader is plugged in; set the reader name (any part of it) in the settings."
    )


class NoCardError(CardError):
    """No card in the reader."""

    code = "E404"
    message_zh = "读卡器中没有卡"
    remedy_zh = "请将IC卡芯片朝上插入读卡器后重试。"
    remedy_en = "Insert the IC card (chip up) into the reader and try again."


class CardRemovedError(CardError):
    """The card was removed during the operation."""

    code = "E405"
    message_zh = "操作过程中卡被拔出"
    remedy_zh = "操作过程中卡被拔出，写卡可能未完成。请重新插卡并重做本操作，完成前不要拔卡。"
    remedy_en = (
        "The card was pulled out during the operation; a write may be incomplete. Insert it again "
        "and repeat the operation; do not remove the card until it says done."
    )


class UnknownCardError(CardError):
    """The card is not recognised (unknown chip or no known file layout)."""

    code = "E406"
    message_zh = "无法识别的IC卡"
    remedy_zh = "无法识别此卡（芯片类型或文件格式未知）。请使用本系统的CPU卡或SLE4442卡。"
    remedy_en = (
        "This card is not recognised (unknown chip or file layout). Use a CPU or SLE4442 card "
        "of this system."
    )


class CardIoError(CardError):
    """The card refused a command or answered with an unexpected status."""

    code = "E407"
    message_zh = "IC卡读写错误"
    remedy_zh = "卡片读写失败。请擦净芯片后重新插卡；反复失败时换一张卡。"
    remedy_en = (
        "The card could not be read or written. Clean the chip and re-insert; if it keeps "
        "failing use another card."
    )


class WrongCardError(CardError):
    """The card in the reader is not the one this operation is for."""

    code = "E408"
    message_zh = "读卡器中的卡不是本次操作的卡"
    remedy_zh = "读卡器中的卡与刚才读取的卡不是同一张。请插入该用户的卡后重试。"
    remedy_en = (
        "The card in the reader is not the card read earlier in this operation. Insert the "
        "customer's card and try again."
    )


class ReturnNotWrittenError(CardError):
    """The card has not been inserted in a meter since it was written."""

    code = "E409"
    message_zh = "卡片尚未插入电表"
    remedy_zh = "此卡还没有在电表上使用过（没有返写信息）。请先将卡插入电表，再回到读卡器读卡。"
    remedy_en = (
        "The card has not been in the meter yet (no return-write data). Insert it in the meter "
        "first, then read it here again."
    )


# ---- card content ----------------------------------------------------------------------------
class CardMacError(CardError):
    """The card's integrity code is wrong: forged, edited, or issued by another site."""

    code = "E410"
    message_zh = "IC卡校验失败（伪造、篡改或非本站发行）"
    remedy_zh = "此卡数据校验失败，可能被伪造、篡改或由其他站点发行。不要使用此卡，请联系管理员。"
    remedy_en = (
        "The card's integrity check failed: forged, edited, or issued by another site. Do not "
        "use it; report it to the administrator."
    )


class IncompleteWriteError(CardError):
    """The last write to this card did not finish."""

    code = "E411"
    message_zh = "上次写卡未完成"
    remedy_zh = "此卡上次写入未完成（写卡时拔卡）。请重做原操作以重新写卡。"
    remedy_en = (
        "The last write to this card did not finish (the card was pulled out). Repeat the "
        "original operation to write it again."
    )

    def __init__(self, message: str = "", *, reader: str = "", serial: int | None = None) -> None:
        super().__init__(message, reader=reader)
        self.serial = serial


class WriteVerifyError(CardError):
    """Reading the card back after a write did not give what was written."""

    code = "E412"
    message_zh = "写卡校验失败"
    remedy_zh = "写卡后回读不一致。请重新插卡重试；反复失败时换一张卡。"
    remedy_en = (
        "The card did not read back what was written. Re-insert and retry; if it keeps failing "
        "use another card."
    )


class CardReadOnlyError(CardError):
    """This card must not be written (a State Grid card)."""

    code = "E414"
    message_zh = "国网卡只读，不能写入"
    remedy_zh = "这是国网用户卡，本系统只能读取、不能写入或清除。请使用本系统的卡。"
    remedy_en = (
        "This is a State Grid user card: this system reads it but never writes or clears it. "
        "Use a card of this system."
    )


class CardFormatError(CardError):
    """A card field does not fit the format (value out of range, bad digits)."""

    code = "E415"
    message_zh = "卡数据格式错误"
    remedy_zh = "输入的卡数据超出范围或格式不对，请检查表号、户号和金额。"
    remedy_en = (
        "A card value is out of range or badly formed; check meter number, customer number "
        "and amounts."
    )


# ---- SLE4442 PSC -----------------------------------------------------------------------------
class WrongPscError(CardError):
    """The memory card refused the PSC; it will not be presented again."""

    code = "E416"
    message_zh = "卡密码（PSC）错误"
    remedy_zh = (
        "卡密码错误，本系统不会再次尝试（连续三次错误卡将永久锁死）。请确认卡的来源和站点密码设置，"
        "并联系管理员。"
    )
    remedy_en = (
        "The card rejected the PSC. The gateway will not try again (three wrong tries lock the "
        "card for ever). Check where the card comes from and the site's PSC setting; call the "
        "administrator."
    )

    def __init__(self, message: str = "", *, reader: str = "", tries_left: int = 0) -> None:
        super().__init__(message, reader=reader)
        self.tries_left = tries_left


class CardLockedError(CardError):
    """The memory card is locked after three wrong PSCs."""

    code = "E417"
    message_zh = "卡已锁死"
    remedy_zh = "此卡因三次密码错误已永久锁死，无法再写入。请换一张卡。"
    remedy_en = (
        "This card is locked for ever after three wrong PSCs and cannot be written. Use "
        "another card."
    )


class SiteKeyError(CardError):
    """The site secret for card MACs is missing or unreadable."""

    code = "E418"
    message_zh = "站点卡密钥未配置"
    remedy_zh = (
        "站点密钥未配置或无法读取。请在配置文件 [cards] site_key 中设置，并与电表使用相同密钥。"
    )
    remedy_en = (
        "The site card key is missing or unreadable. Set [cards] site_key in the configuration; "
        "meters must hold the same key."
    )
