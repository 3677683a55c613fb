"""The panel's bilingual labels, as data. Widths matter: 16 half-width columns per row."""

from __future__ import annotations

from gateway.panel.config import Language

# key: (Chinese, English)
STRINGS: dict[str, tuple[str, str]] = {
    # status screen
    "meters": ("表", "Mtr"),
    "alarms_short": ("告警", "Alm"),
    "cloud.online": ("云 在线", "Cloud ok"),
    "cloud.connecting": ("云 连接", "Linking"),
    "cloud.offline": ("云 离线", "Offline"),
    "cloud.disabled": ("云 停用", "No cloud"),
    "outbox": ("待发", "Out"),
    "sale": ("售", "Sale"),
    "none": ("无", "-"),
    # screens
    "alarms": ("告警", "Alarms"),
    "no_alarms": ("无告警", "No alarms"),
    "alarms_hint": ("确定=确认全部", "OK=ack all"),
    "network": ("网络", "Network"),
    "no_ip": ("无IP地址", "No IP address"),
    "mqtt.connected": ("已连接", "up"),
    "mqtt.connecting": ("连接中", "connecting"),
    "mqtt.disconnected": ("断开", "down"),
    "mqtt.disabled": ("未启用", "off"),
    "balance": ("余额", "Bal"),
    "remaining": ("剩余", "Left"),
    "relay": ("继电器", "Relay"),
    "relay.closed": ("合闸", "on"),
    "relay.open": ("拉闸", "off"),
    "relay.unknown": ("未知", "?"),
    "reading": ("读数", "Read"),
    "unknown": ("--", "--"),
    "busy": ("处理中...", "Working..."),
    "done": ("完成", "Done"),
    "error": ("错误", "Error"),
    "confirm_topup": ("确认充值", "Confirm top-up"),
    "meter_no": ("表号", "Meter"),
    "amount": ("金额", "Amount"),
    # menus
    "menu": ("菜单", "Menu"),
    "menu.status": ("状态", "Status"),
    "menu.alarms": ("告警列表", "Alarms"),
    "menu.lookup": ("查询电表", "Meter lookup"),
    "menu.network": ("网络", "Network"),
    "menu.silence": ("消音", "Silence buzzer"),
    "menu.topup": ("快速充值", "Quick top-up"),
    "menu.read_now": ("立即抄表", "Read now"),
    "menu.relay_on": ("合闸送电", "Relay on"),
    "menu.relay_off": ("拉闸断电", "Relay off"),
    "menu.meter_topup": ("充值", "Top up"),
    # entry prompts
    "entry.lookup": ("表号/户号", "Meter/cust no."),
    "entry.relay_pin": ("继电器PIN", "Relay PIN"),
    "entry.topup_meter": ("充值表号", "Top-up meter"),
    "entry.topup_amount": ("金额(*=.)", "Amount (*=.)"),
    "entry.topup_pin": ("操作员PIN", "Operator PIN"),
    "hint.matrix": ("#确定 C删 D返回", "#OK C=del D=back"),
    "hint.nav": ("上下选 确定输入", "up/dn OK=enter"),
    "hint.confirm": ("#确定 D取消", "#=OK D=cancel"),
    "hint.retry": ("确定=同单重试", "OK retries sale"),
}


def tr(key: str, lang: Language) -> str:
    zh, en = STRINGS[key]
    return zh if lang == "zh" else en
