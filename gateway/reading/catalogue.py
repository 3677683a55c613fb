"""Every alarm and exception kind F7.5 reports: category, code, severity, texts and remedy.

A table, not code: the recorder, the enforcement, the UI and the Excel export all read it.
Codes E170..E179 are exceptions (the meter or its communication), E180..E184 alarms (the
customer's balance and supply).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.store.alarms import Category, Severity


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    category: Category
    code: str
    severity: Severity
    label_zh: str
    label_en: str
    remedy_zh: str
    remedy_en: str


_E, _A = Category.EXCEPTION, Category.ALARM
_I, _W, _C = Severity.INFO, Severity.WARNING, Severity.CRITICAL

KINDS: tuple[Kind, ...] = (
    Kind("comm_failure", _E, "E170", _C, "通讯中断", "Meter not answering",
         "检查电表供电、RS485 接线、表地址和 DTU 信号；恢复后自动结束。",
         "Check the meter's power, the RS485 wiring, its address and the DTU's signal; "
         "it ends by itself when the meter answers again."),
    Kind("checksum_error", _E, "E171", _W, "通讯校验错误", "Corrupted replies",
         "检查 RS485 接线、终端电阻和干扰，以及波特率/校验位设置。",
         "Check the RS485 wiring, termination and interference, and baud rate / parity."),
    Kind("clock_drift", _E, "E172", _W, "电表时钟偏差", "Meter clock drift",
         "网关每日广播校时；偏差超过 5 分钟时用密码逐表校时。若反复出现，检查电表时钟电池。",
         "The gateway broadcasts the time daily and sets meters more than 5 minutes off with "
         "the password. If it keeps coming back, check the meter's clock battery."),
    Kind("reverse_energy", _E, "E173", _W, "反向电量", "Reverse energy",
         "检查电表进出线是否接反，或是否有自发电设备。",
         "Check whether the meter's incoming and outgoing wires are swapped, or for a "
         "generator on the customer's side."),
    Kind("counter_backwards", _E, "E174", _C, "电量示值倒走", "Energy register went backwards",
         "电表可能被清零或更换。请核对电表和档案（换表请走换表流程）。",
         "The meter may have been cleared or replaced. Check the meter against the record "
         "(use the replacement flow for a new meter)."),
    Kind("relay_mismatch", _E, "E175", _C, "继电器状态与命令不符", "Relay differs from command",
         "到现场检查继电器和电表；必要时重新下发拉/合闸命令。",
         "Check the relay and the meter on site; send the relay command again if needed."),
    Kind("relay_refused", _E, "E176", _C, "电表拒绝继电器命令", "Meter refused a relay command",
         "检查表型的密码和操作者代码、电表时钟和保电状态。",
         "Check the meter type's password and operator code, the meter clock and keep-power."),
    Kind("tamper", _E, "E177", _C, "开盖/窃电告警", "Cover opened (tamper)",
         "到现场检查表盖、端钮盖和封印。",
         "Check the meter cover, terminal cover and seals on site."),
    Kind("energy_spike", _E, "E178", _W, "电量突变", "Implausible energy jump",
         "读数超出电表可能的用电量，暂不计费；下次读数确认后继续。请核对电表示值。",
         "The reading is more than the meter could have passed; it is not billed until the "
         "next reading confirms it. Check the meter's register."),
    Kind("clock_set_failed", _E, "E179", _W, "校时失败", "Clock correction failed",
         "检查表型的密码和操作者代码；电表可能不允许写时间。",
         "Check the meter type's password and operator code; the meter may refuse time writes."),
    Kind("alarm1", _A, "E180", _I, "余额报警1", "Low balance (alarm 1)",
         "提醒用户尽快购电。", "Remind the customer to buy credit soon."),
    Kind("alarm2", _A, "E181", _W, "余额报警2", "Very low balance (alarm 2)",
         "提醒用户立即购电；电表已提示性断电一次，用户可按键合闸。",
         "Ask the customer to buy credit now; the supply was cut once as a warning and the "
         "customer can restore it with the meter's button."),
    Kind("overdraft", _A, "E182", _W, "透支", "Overdrawn",
         "余额已用完，正在透支；到达透支限额将断电。",
         "The balance is used up and the account is overdrawn; the supply is cut at the "
         "overdraft limit."),
    Kind("relay_tripped", _A, "E183", _C, "已拉闸断电", "Supply cut (relay open)",
         "用户购电后自动合闸；如需保电请设置保电。",
         "The supply comes back after a purchase; set keep-power if it must stay on."),
    Kind("keep_power", _A, "E184", _I, "保电中", "Keep-power active",
         "保电期间不会断电；解除保电后恢复正常控制。",
         "No trips while keep-power is on; normal control resumes when it is switched off."),
)  # fmt: skip

BY_NAME: dict[str, Kind] = {k.name: k for k in KINDS}
BY_CODE: dict[str, Kind] = {k.code: k for k in KINDS}

# Kinds whose value is money (fen): sent as balance_fen in the "alarms" outbox stream.
MONEY_KINDS = frozenset({"alarm1", "alarm2", "overdraft"})


def kind(name: str) -> Kind:
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown alarm kind {name!r}") from None
