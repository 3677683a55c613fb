"""Errors of the use cases, each with a stable code and texts for site staff in Chinese and English.

E001, E003 and E005 are the vendor manual's own (appendix 1.3) with its remedies; E5xx are ours.
A ServiceError always means nothing was changed, except where ``vend_id`` says a vend record
exists (its state tells what happened).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ErrorText:
    summary_zh: str
    summary_en: str
    remedy_zh: str
    remedy_en: str


CATALOGUE: dict[str, ErrorText] = {
    "E001": ErrorText(
        "开户购电（通讯）失败：电表卡号/购电次数不为零",
        "open-account purchase (comm) failed: the meter's card number / purchase count is not zero",
        "请先对电表进行超级复位（电表复位，F7.1），再开户购电。",
        "Super-reset the meter first (Meter reset, F7.1), then open the account again.",
    ),
    "E003": ErrorText(
        "复位清零失败",
        "reset and clear failed",
        "请使用超级复位卡（电表复位，F7.1）。",
        "Use a super-reset card (Meter reset, F7.1).",
    ),
    "E005": ErrorText(
        "换表购电失败：新表卡号/购电次数不为零",
        "replacement purchase failed: the new meter's card number / purchase count is not zero",
        "请先对新电表进行超级复位（电表复位，F7.1）。",
        "Super-reset the new meter first (Meter reset, F7.1).",
    ),
    "E501": ErrorText(
        "无此操作权限",
        "you do not have permission for this operation",
        "请让管理员在【操作员维护】中为您勾选相应权限。",
        "Ask an administrator to tick the permission for you in Operators (F5.4).",
    ),
    "E502": ErrorText(
        "输入有误",
        "invalid input",
        "请按提示修改后重试。",
        "Correct the field as shown and try again.",
    ),
    "E503": ErrorText(
        "账户未开户或已销户",
        "the account is not open",
        "请先开户，或选择一个在用的用户。",
        "Open the account first, or choose an active customer.",
    ),
    "E504": ErrorText(
        "电表客户编号与档案不符",
        "the meter's customer number does not match the record",
        "请核对电表与用户档案；如电表已更换，请走换表流程（F4.1）。",
        "Check the meter against the customer record; if the meter was changed, use replacement (F4.1).",
    ),
    "E505": ErrorText(
        "电表拒绝了购电",
        "the meter refused the purchase",
        "未扣款、未记账。请读参数（通讯）核对购电次数后重试。",
        "Nothing was credited or recorded. Read parameters (comm) to check the purchase count, then retry.",
    ),
    "E506": ErrorText(
        "购电结果未知，系统将自动核实",
        "the purchase outcome is not known yet; the gateway will verify it",
        "不要重复售电。系统会读取电表购电次数自动确认；请稍后在售电信息查询中查看结果。",
        "Do not sell again. The gateway reads the meter's purchase count to settle it; check Sales query shortly.",
    ),
    "E507": ErrorText(
        "电表通讯失败，未售电",
        "could not reach the meter; nothing was sold",
        "检查电表通讯（线路、表箱、DTU）后重试；钱款未记账。",
        "Check the meter's communication (line, box, DTU) and retry; no money was recorded.",
    ),
    "E508": ErrorText(
        "超过囤积限额",
        "the purchase would exceed the hoarding limit",
        "请减少购电金额。",
        "Sell a smaller amount.",
    ),
    "E509": ErrorText(
        "操作员密码错误",
        "the operator password is wrong",
        "请输入当前登录操作员的密码。",
        "Enter the password of the operator who is logged in.",
    ),
    "E510": ErrorText(
        "电表已被其他用户使用",
        "the meter already belongs to an open account",
        "请选择其他电表，或先为原用户销户。",
        "Choose another meter, or close the other customer's account first.",
    ),
    "E511": ErrorText(
        "继电器动作未生效",
        "the relay did not switch",
        "检查电表是否处于保电状态，核对电表时钟后重试。",
        "Check whether the meter is in keep-power mode and its clock is right, then retry.",
    ),
    "E512": ErrorText(
        "电表不支持此操作",
        "the meter type does not support this operation",
        "请检查仪表类型设置（F5.6）。",
        "Check the meter type's settings (F5.6).",
    ),
    "E513": ErrorText(
        "此操作已完成",
        "this operation was already carried out",
        "无需重复操作；可在查询中查看结果或补打发票。",
        "Nothing to do again; see the result in the query pages or reprint the receipt.",
    ),
    # E520..E529: the card workflows (gateway/services/card_workflows.py); E0xx/E4xx card errors
    # of the reader and the format are gateway.cards.errors.
    "E520": ErrorText(
        "写卡未完成",
        "the card write did not finish",
        "未记账。请重新插入同一张卡并重做本操作（相同请求）以完成写卡；若要放弃，插入该卡后选择放弃。",
        "Nothing was booked. Insert the same card again and repeat the operation (the same request) to finish writing it; to give up, insert that card and choose abandon.",
    ),
    "E521": ErrorText(
        "此卡已有数据，不能制作该卡",
        "the card holds data of another kind",
        "请换一张空白卡，或先清卡（读卡清卡，F3.2）。",
        "Use a blank card, or clear this one first (Read / clear cards, F3.2).",
    ),
    "E522": ErrorText(
        "上次购电尚未写入电表",
        "the last purchase on this card has not been loaded into the meter",
        "请先将卡插入电表，待电表写回后再读卡购电。",
        "Insert the card in the meter first, let it write back, then read the card here and sell.",
    ),
    "E523": ErrorText(
        "卡上表号与用户电表不符",
        "the card is for another meter",
        "如该用户已换表，请使用换表购电（F4.1）；否则请核对用户和卡。",
        "If the customer's meter was replaced, use replacement purchase (F4.1); otherwise check the customer and the card.",
    ),
    "E524": ErrorText(
        "此卡不是该用户当前的用户卡",
        "this is not the customer's current user card",
        "该卡已被补卡作废或属于其他用户。请使用该用户最新的卡；卡丢失时请补卡（F2.2）。",
        "The card was replaced by a reissued card or belongs to another customer. Use the customer's latest card; if it is lost, reissue one (F2.2).",
    ),
    "E525": ErrorText(
        "该用户已开户购电",
        "the account has had its first purchase already",
        "请使用日常购电（F3.1）。",
        "Use daily purchase (F3.1).",
    ),
    "E526": ErrorText(
        "卡上数据尚未处理，不能清卡",
        "the card holds data not settled yet; it cannot be cleared",
        "请先完成该卡的业务：购电卡插入电表、退费卡做退费销户清卡、换表卡做换表购电，或完成/放弃未完成的写卡。",
        "Finish what the card is for first: insert a purchase in the meter, settle a refund card (refund-close clear card), use a meter-change card for the replacement purchase, or finish or abandon the unfinished card write.",
    ),
    "E527": ErrorText(
        "电表上有在用用户的购电",
        "the meter belongs to an open account with purchases",
        "复位会清除用户的剩余金额。请先为该用户退费销户（F3.3），再制作复位卡。",
        "A reset would wipe the customer's credit. Close that account with a refund first (F3.3), then make the reset card.",
    ),
    "E528": ErrorText(
        "该用户尚未开户购电",
        "the account has not had its first purchase",
        "请先开户购电（F2.1）。",
        "Make the open-account purchase first (F2.1).",
    ),
}


class ServiceError(Exception):
    """An operator-facing failure of a use case. ``detail`` says exactly what was wrong."""

    def __init__(
        self, code: str, detail: str = "", *, field: str | None = None, vend_id: int | None = None
    ) -> None:
        self.code = code
        self.text = CATALOGUE[code]
        self.detail = detail
        self.field = field
        self.vend_id = vend_id
        super().__init__(f"{code} {self.text.summary_en}" + (f": {detail}" if detail else ""))

    @property
    def summary_zh(self) -> str:
        return self.text.summary_zh

    @property
    def summary_en(self) -> str:
        return self.text.summary_en

    @property
    def remedy_zh(self) -> str:
        return self.text.remedy_zh

    @property
    def remedy_en(self) -> str:
        return self.text.remedy_en
