"""The permissions an operator can be given (F5.4), one per group of the manual's functions.

Services check them; the web UI ticks them in the operator form; every route names one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Permission:
    key: str
    label_zh: str
    label_en: str
    features: tuple[str, ...]


PERMISSIONS: tuple[Permission, ...] = (
    Permission("network.manage", "线路与表箱管理", "Lines, boxes and communication", ("F1.1", "F1.2", "F1.3")),
    Permission("customers.manage", "用户信息维护", "Customer maintenance", ("F2.1", "F2.3", "F2.4")),
    Permission("sales.open", "开户购电", "Open account and first purchase", ("F2.1",)),
    Permission("cards.issue", "补用户卡", "Reissue user cards", ("F2.2",)),
    Permission("relay.control", "强制用电/停电、拉合闸", "Force power on/off, relay", ("F2.5", "F2.6", "F7.4")),
    Permission("meters.reset", "复位清零、电表复位", "Reset and clear, meter reset", ("F2.7", "F7.1")),
    Permission("queries.view", "查询与导出", "Queries and exports", ("F2.8", "F2.9", "F2.10", "F3.5", "F4.2")),
    Permission("sales.daily", "日常售电", "Daily sale", ("F3.1",)),
    Permission("cards.read", "读卡清卡", "Read and clear cards", ("F3.2",)),
    Permission("sales.refund", "销户退费", "Close account with refund", ("F3.3",)),
    Permission("receipts.reprint", "发票补打", "Receipt reprint", ("F3.4",)),
    Permission("sales.replace", "用户换表", "Meter replacement", ("F4.1",)),
    Permission("tariffs.manage", "价格类型管理", "Price types", ("F5.1",)),
    Permission("org.manage", "单位信息维护", "Organisation info", ("F5.2",)),
    Permission("receipts.design", "发票格式设计", "Receipt template", ("F5.3",)),
    Permission("operators.manage", "操作员维护", "Operators", ("F5.4",)),
    Permission("meter_types.manage", "仪表类型维护", "Meter types", ("F5.6",)),
    Permission("system.backup", "数据备份", "Backup", ("F6.1",)),
    Permission("system.restore", "数据恢复", "Restore", ("F6.2",)),
    Permission("oplog.maintain", "操作日志维护", "Operation-log maintenance", ("F6.3",)),
    Permission("oplog.view", "操作日志查询", "Operation-log query", ("F6.4",)),
    Permission("system.clear", "用户信息全部清理", "Clear all customer data", ("F6.5",)),
    Permission("tools.cards", "设置卡、查询卡", "Settings and query cards", ("F7.2", "F7.3")),
    Permission("monitoring.view", "系统抄表与监控", "Meter reading and monitoring", ("F7.5",)),
    Permission("monitoring.read", "立即抄表", "Read meters now", ("F7.5",)),
    Permission("alarms.ack", "告警确认", "Acknowledge alarms", ("F7.5",)),
)  # fmt: skip

KEYS: frozenset[str] = frozenset(p.key for p in PERMISSIONS)
BY_KEY: dict[str, Permission] = {p.key: p for p in PERMISSIONS}
