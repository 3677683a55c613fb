"""Alarm and exception records (F7.5): start, end, occurrences, acknowledgement, queries.

An active record (``ended_at IS NULL``) exists at most once per meter and kind (a unique
partial index). ``raise_or_touch`` starts one or counts another occurrence of the active one;
``end`` closes it when the condition clears. Acknowledging does not end a record: the condition
decides that; it records who saw it (and is written to the operation log by the caller's
transaction, see ``acknowledge``).
"""

from __future__ import annotations

import datetime as dt
import enum
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from gateway.store import oplog
from gateway.store.clock import to_text
from gateway.store.conn import Conn
from gateway.store.errors import InvalidValueError, NotFoundError
from gateway.store.paging import Page, PageRequest, Where, fetch_page


class Category(enum.StrEnum):
    ALARM = "alarm"  # about the customer's balance and supply (报警)
    EXCEPTION = "exception"  # about the meter or its communication (异常)


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class AlarmRecord:
    id: int
    meter_id: int | None
    meter_address: str
    account_id: int | None
    category: Category
    kind: str
    code: str
    severity: Severity
    started_at: str
    ended_at: str | None
    last_seen_at: str
    occurrences: int
    value: int | None
    detail: str
    acked_at: str | None
    acked_by: int | None
    ack_note: str

    @property
    def active(self) -> bool:
        return self.ended_at is None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> AlarmRecord:
        return cls(
            id=row["id"],
            meter_id=row["meter_id"],
            meter_address=row["meter_address"],
            account_id=row["account_id"],
            category=Category(row["category"]),
            kind=row["kind"],
            code=row["code"],
            severity=Severity(row["severity"]),
            started_at=row["started_at"],
            ended_at=row["ended_at"],
            last_seen_at=row["last_seen_at"],
            occurrences=row["occurrences"],
            value=row["value"],
            detail=row["detail"],
            acked_at=row["acked_at"],
            acked_by=row["acked_by"],
            ack_note=row["ack_note"],
        )


@dataclass(frozen=True, slots=True)
class NewAlarm:
    meter_address: str
    kind: str
    category: Category
    code: str
    severity: Severity
    meter_id: int | None = None
    account_id: int | None = None
    value: int | None = None
    detail: str = ""


_COLUMNS = (
    "id, meter_id, meter_address, account_id, category, kind, code, severity, started_at, "
    "ended_at, last_seen_at, occurrences, value, detail, acked_at, acked_by, ack_note"
)


def active_for(c: Conn, meter_address: str) -> dict[str, AlarmRecord]:
    """The meter's active records by kind."""
    return {
        str(r["kind"]): AlarmRecord.from_row(r)
        for r in c.all(
            f"SELECT {_COLUMNS} FROM alarms WHERE meter_address = ? AND ended_at IS NULL",
            (meter_address,),
        )
    }


def all_active(c: Conn) -> list[AlarmRecord]:
    return [
        AlarmRecord.from_row(r)
        for r in c.all(
            f"SELECT {_COLUMNS} FROM alarms WHERE ended_at IS NULL "
            "ORDER BY started_at DESC, id DESC"
        )
    ]


def raise_or_touch(c: Conn, new: NewAlarm, at: dt.datetime) -> tuple[AlarmRecord, bool]:
    """Start a record, or count one more occurrence of the active one.

    Returns ``(record, started)``; ``started`` is False when it was already active.
    """
    when = to_text(at)
    current = c.one(
        f"SELECT {_COLUMNS} FROM alarms WHERE meter_address = ? AND kind = ? AND ended_at IS NULL",
        (new.meter_address, new.kind),
    )
    if current is not None:
        c.execute(
            "UPDATE alarms SET occurrences = occurrences + 1, last_seen_at = ?, "
            "value = coalesce(?, value), detail = CASE WHEN ? = '' THEN detail ELSE ? END, "
            "account_id = coalesce(?, account_id) WHERE id = ?",
            (when, new.value, new.detail, new.detail, new.account_id, current["id"]),
        )
        return get(c, int(current["id"])), False
    alarm_id = c.insert(
        "INSERT INTO alarms (meter_id, meter_address, account_id, category, kind, code, "
        "severity, started_at, last_seen_at, value, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            new.meter_id,
            new.meter_address,
            new.account_id,
            str(Category(new.category)),
            new.kind,
            new.code,
            str(Severity(new.severity)),
            when,
            when,
            new.value,
            new.detail,
        ),
    )
    return get(c, alarm_id), True


def end(c: Conn, alarm_id: int, at: dt.datetime) -> AlarmRecord:
    """The condition cleared. Ending an ended record changes nothing."""
    record = get(c, alarm_id)
    if record.ended_at is None:
        when = max(to_text(at), record.started_at)
        c.execute(
            "UPDATE alarms SET ended_at = ?, last_seen_at = ? WHERE id = ?", (when, when, alarm_id)
        )
        record = get(c, alarm_id)
    return record


def get(c: Conn, alarm_id: int) -> AlarmRecord:
    row = c.one(f"SELECT {_COLUMNS} FROM alarms WHERE id = ?", (alarm_id,))
    if row is None:
        raise NotFoundError(f"alarm {alarm_id}")
    return AlarmRecord.from_row(row)


def acknowledge(
    c: Conn, alarm_ids: Sequence[int], *, operator_id: int, note: str = ""
) -> list[AlarmRecord]:
    """Mark records as seen by ``operator_id`` and log it; already acknowledged ones stay as
    they were (the first acknowledgement counts). Unknown ids are E304, nothing changes."""
    if not alarm_ids:
        raise InvalidValueError("choose at least one alarm to acknowledge")
    if len(note) > 500:
        raise InvalidValueError("the note is longer than 500 characters")
    records = [get(c, alarm_id) for alarm_id in dict.fromkeys(alarm_ids)]
    fresh = [r for r in records if r.acked_at is None]
    when = c.now_text()
    for record in fresh:
        c.execute(
            "UPDATE alarms SET acked_at = ?, acked_by = ?, ack_note = ? WHERE id = ?",
            (when, operator_id, note, record.id),
        )
    if fresh:
        oplog.append(
            c,
            "alarms.ack",
            operator_id=operator_id,
            target=",".join(f"alarm:{r.id}" for r in fresh[:20])
            + (f",+{len(fresh) - 20}" if len(fresh) > 20 else ""),
            detail={
                "alarms": [
                    {
                        "id": r.id,
                        "meter": r.meter_address,
                        "kind": r.kind,
                        "started_at": r.started_at,
                    }
                    for r in fresh
                ],
                "note": note,
            },
        )
    return [get(c, r.id) for r in records]


# ---- queries and exports ---------------------------------------------------------------------


@dataclass(frozen=True)
class AlarmFilter:
    """F7.5 query conditions; ``since <= started_at < until``. All optional."""

    category: Category | None = None
    kinds: tuple[str, ...] = ()
    active: bool | None = None
    acknowledged: bool | None = None
    meter_address: str | None = None  # prefix
    account_id: int | None = None
    severity: Severity | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class AlarmRow:
    """A record with the names the list and the Excel export show."""

    alarm: AlarmRecord
    customer_number: str | None
    customer_name: str | None
    line_name: str | None
    box_name: str | None
    acked_by_name: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> AlarmRow:
        return cls(
            AlarmRecord.from_row(row),
            row["customer_number"],
            row["customer_name"],
            row["line_name"],
            row["box_name"],
            row["acked_by_name"],
        )


_FROM = (
    " FROM alarms AS al"
    " LEFT JOIN accounts AS a ON a.id = al.account_id"
    " LEFT JOIN customers AS cu ON cu.id = a.customer_id"
    " LEFT JOIN meters AS m ON m.id = al.meter_id"
    " LEFT JOIN boxes AS b ON b.id = m.box_id LEFT JOIN lines AS l ON l.id = b.line_id"
    " LEFT JOIN operators AS o ON o.id = al.acked_by"
)
_SELECT = (
    "SELECT "
    + ", ".join(f"al.{col.strip()}" for col in _COLUMNS.split(","))
    + ", cu.number AS customer_number, cu.name AS customer_name, l.name AS line_name, "
    "b.name AS box_name, o.name AS acked_by_name" + _FROM
)


def _where(flt: AlarmFilter) -> Where:
    where = Where()
    if flt.category is not None:
        where.add("al.category = ?", str(Category(flt.category)))
    if flt.kinds:
        where.add(f"al.kind IN ({', '.join('?' * len(flt.kinds))})", *flt.kinds)
    if flt.active is not None:
        where.add("al.ended_at IS NULL" if flt.active else "al.ended_at IS NOT NULL")
    if flt.acknowledged is not None:
        where.add("al.acked_at IS NOT NULL" if flt.acknowledged else "al.acked_at IS NULL")
    if flt.meter_address:
        where.prefix("al.meter_address", flt.meter_address)
    if flt.account_id is not None:
        where.add("al.account_id = ?", flt.account_id)
    if flt.severity is not None:
        where.add("al.severity = ?", str(Severity(flt.severity)))
    where.since_until("al.started_at", flt.since, flt.until)
    return where


def search(c: Conn, flt: AlarmFilter, page: PageRequest) -> Page[AlarmRow]:
    """Newest first."""
    where = _where(flt)
    return fetch_page(
        c,
        f"{_SELECT}{where.sql()} ORDER BY al.started_at DESC, al.id DESC",
        f"SELECT count(*){_FROM}{where.sql()}",
        where.params,
        page=page,
        build=AlarmRow.from_row,
    )


def iterate(c: Conn, flt: AlarmFilter) -> Iterator[AlarmRow]:
    """Every matching row, oldest first, streamed (the Excel export)."""
    where = _where(flt)
    for row in c.iterate(f"{_SELECT}{where.sql()} ORDER BY al.started_at, al.id", where.params):
        yield AlarmRow.from_row(row)


def count_active(c: Conn) -> dict[str, int]:
    """Active records per category (the dashboard's counters)."""
    counts = {str(cat): 0 for cat in Category}
    for row in c.all("SELECT category, count(*) FROM alarms WHERE ended_at IS NULL GROUP BY 1"):
        counts[str(row[0])] = int(row[1])
    return counts
