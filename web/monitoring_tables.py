"""F7.5's three lists as data: the columns of the monitoring, exception and alarm information,
shared by the page, its 【监控信息导入】/【异常信息导入】/【报警信息导入】 exports and the API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from gateway.reading import catalogue
from gateway.store.alarms import AlarmRow
from gateway.store.readings import MonitorRow
from web.exports import Kind
from web.i18n import N_, Lang

Tab = Literal["monitoring", "exceptions", "alarms"]
TABS: tuple[Tab, ...] = ("monitoring", "exceptions", "alarms")


@dataclass(frozen=True)
class Col:
    name: str  # JSON key
    label: str  # translation key
    get: Callable[[Any], Any]
    kind: Kind = "text"


def kind_label(name: str, lang: Lang) -> str:
    found = catalogue.BY_NAME.get(name)
    if found is None:
        return name
    return found.label_zh if lang == "zh" else found.label_en


def kind_remedy(name: str, lang: Lang) -> str:
    found = catalogue.BY_NAME.get(name)
    if found is None:
        return ""
    return found.remedy_zh if lang == "zh" else found.remedy_en


def _online(row: MonitorRow) -> str:
    return "" if row.online is None else ("online" if row.online else "offline")


MONITOR_COLUMNS: tuple[Col, ...] = (
    Col("address", N_("field.meter_address"), lambda r: r.address),
    Col("customer_number", N_("field.customer_number"), lambda r: r.customer_number),
    Col("customer_name", N_("field.customer_name"), lambda r: r.customer_name),
    Col("line", N_("field.line"), lambda r: r.line_name),
    Col("box", N_("field.box"), lambda r: r.box_name),
    Col("type", N_("field.meter_type"), lambda r: r.type_name),
    Col("online", N_("monitor.online"), _online),
    Col("last_seen_at", N_("monitor.last_seen"), lambda r: r.last_seen_at, "time"),
    Col("polls", N_("monitor.polls"), lambda r: r.polls, "int"),
    Col("success_pct", N_("monitor.success_pct"), lambda r: r.success_pct, "int"),
    Col("recent_success_pct", N_("monitor.recent_pct"), lambda r: r.recent_success_pct, "int"),
    Col("retries", N_("monitor.retries"), lambda r: r.retries, "int"),
    Col("bad_frames", N_("monitor.bad_frames"), lambda r: r.bad_frames, "int"),
    Col("energy", N_("monitor.energy"), lambda r: r.energy_cwh, "energy"),
    Col("drift_s", N_("monitor.drift"), lambda r: r.drift_s, "int"),
    Col("last_error", N_("monitor.last_error"), lambda r: r.last_error),
)


def alarm_columns(lang: Lang) -> tuple[Col, ...]:
    return (
        Col("id", "#", lambda r: r.alarm.id, "int"),
        Col("code", N_("field.error_code"), lambda r: r.alarm.code),
        Col("kind", N_("monitor.kind"), lambda r: kind_label(r.alarm.kind, lang)),
        Col("severity", N_("monitor.severity"), lambda r: str(r.alarm.severity)),
        Col("address", N_("field.meter_address"), lambda r: r.alarm.meter_address),
        Col("customer_number", N_("field.customer_number"), lambda r: r.customer_number),
        Col("customer_name", N_("field.customer_name"), lambda r: r.customer_name),
        Col("started_at", N_("monitor.started"), lambda r: r.alarm.started_at, "time"),
        Col("last_seen_at", N_("monitor.last_seen"), lambda r: r.alarm.last_seen_at, "time"),
        Col("ended_at", N_("monitor.ended"), lambda r: r.alarm.ended_at, "time"),
        Col("occurrences", N_("monitor.occurrences"), lambda r: r.alarm.occurrences, "int"),
        Col("detail", N_("field.detail"), lambda r: r.alarm.detail),
        Col("acked_by", N_("monitor.acked_by"), lambda r: r.acked_by_name),
        Col("acked_at", N_("monitor.acked_at"), lambda r: r.alarm.acked_at, "time"),
    )


def row_json(columns: tuple[Col, ...], row: MonitorRow | AlarmRow) -> dict[str, Any]:
    from web.exports import _cell

    result: dict[str, Any] = {}
    for col in columns:
        value = col.get(row)
        if value is None:
            result[col.name] = None
        elif col.kind == "int":
            result[col.name] = int(value)
        elif col.kind in ("money", "energy", "price"):
            result[col.name] = format(_cell(col.kind, value), "f")
        else:
            result[col.name] = str(_cell(col.kind, value))
    return result
