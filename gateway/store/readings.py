"""What the poller records: raw readings, daily/monthly rollups, per-meter monitoring state,
the gateway-wallet metering baseline, and the daily clock-sync record (migration 0004).

Raw readings are compact on purpose (one WITHOUT ROWID row of integers per meter per read
cycle, ``at`` in Unix seconds) and pruned after the retention period; the rollups keep the
history for years. Everything is written by ``gateway.reading`` in one transaction per poll
batch. Values are integers in the units of the column names: ``_cwh`` 0.01 kWh, ``_dv``
0.1 V, ``_ma`` mA, ``_dw`` 0.1 W; ``remaining``/``overdraft`` are fen on money-type meters
and 0.01 kWh on energy-type meters.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields

from gateway.store.clock import to_text
from gateway.store.conn import Conn
from gateway.store.errors import InvalidValueError
from gateway.store.paging import Page, PageRequest, Where, fetch_page

RECENT_WINDOW = 32  # polls remembered per meter for the success rate


def epoch(moment: dt.datetime) -> int:
    """Aware datetime → Unix seconds (the ``at`` columns)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"timestamp without time zone: {moment!r}")
    return int(moment.timestamp())


def from_epoch(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


# ---- raw readings ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadingRow:
    """One meter's values from one read cycle; None = not read in that cycle."""

    meter_id: int
    at: int  # Unix seconds
    energy_cwh: int | None = None
    t1_cwh: int | None = None
    t2_cwh: int | None = None
    t3_cwh: int | None = None
    t4_cwh: int | None = None
    reverse_cwh: int | None = None
    remaining: int | None = None
    overdraft: int | None = None
    status3: int | None = None
    tamper: int | None = None
    voltage_dv: int | None = None
    current_ma: int | None = None
    power_dw: int | None = None
    drift_s: int | None = None

    @property
    def empty(self) -> bool:
        return all(getattr(self, name) is None for name in _VALUE_COLUMNS)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ReadingRow:
        return cls(**{name: row[name] for name in _COLUMNS})


_COLUMNS = tuple(f.name for f in fields(ReadingRow))
_VALUE_COLUMNS = _COLUMNS[2:]
_INSERT = (
    f"INSERT INTO readings ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
    # The same meter read twice in one second (read-all right after a scheduled poll): keep the
    # values of both, the newer winning where both have one.
    "ON CONFLICT (meter_id, at) DO UPDATE SET "
    + ", ".join(f"{c} = coalesce(excluded.{c}, {c})" for c in _VALUE_COLUMNS)
)


def insert_readings(c: Conn, rows: Sequence[ReadingRow]) -> int:
    """Insert a poll batch (rows without any value are skipped); returns rows written."""
    kept = [tuple(getattr(r, name) for name in _COLUMNS) for r in rows if not r.empty]
    if kept:
        c.executemany(_INSERT, kept)
    return len(kept)


def history(
    c: Conn,
    meter_id: int,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    page: PageRequest | None = None,
) -> Page[ReadingRow]:
    """A meter's raw readings, newest first (``since <= at < until``)."""
    where = Where()
    where.add("meter_id = ?", meter_id)
    if since is not None:
        where.add("at >= ?", epoch(since))
    if until is not None:
        where.add("at < ?", epoch(until))
    return fetch_page(
        c,
        f"SELECT {', '.join(_COLUMNS)} FROM readings{where.sql()} ORDER BY at DESC",
        f"SELECT count(*) FROM readings{where.sql()}",
        where.params,
        page=page or PageRequest(),
        build=ReadingRow.from_row,
    )


def iterate_readings(
    c: Conn, meter_ids: Sequence[int] | None, since: dt.datetime, until: dt.datetime
) -> Iterator[ReadingRow]:
    """Raw readings in a time range, by meter then time (exports, telemetry backfill)."""
    params: list[object] = [epoch(since), epoch(until)]
    sql = f"SELECT {', '.join(_COLUMNS)} FROM readings WHERE at >= ? AND at < ?"
    if meter_ids is not None:
        if not meter_ids:
            return
        sql += f" AND meter_id IN ({', '.join('?' * len(meter_ids))})"
        params.extend(meter_ids)
    for row in c.iterate(sql + " ORDER BY meter_id, at", params):
        yield ReadingRow.from_row(row)


def prune_readings(c: Conn, meter_ids: Sequence[int], before: dt.datetime) -> int:
    """Delete raw readings older than ``before`` for these meters (uses the primary key).

    Called for a few dozen meters per transaction, so the write lock is never held long.
    """
    cutoff = epoch(before)
    return c.executemany(
        "DELETE FROM readings WHERE meter_id = ? AND at < ?", [(m, cutoff) for m in meter_ids]
    )


def meters_with_readings(c: Conn) -> list[int]:
    """Every meter id that has raw readings (the prune walks these)."""
    return [
        int(r[0])
        for r in c.all(
            "WITH RECURSIVE m(id) AS (SELECT min(meter_id) FROM readings UNION ALL "
            "SELECT (SELECT min(meter_id) FROM readings WHERE meter_id > m.id) FROM m "
            "WHERE m.id IS NOT NULL) SELECT id FROM m WHERE id IS NOT NULL"
        )
    ]


# ---- rollups ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RollupDelta:
    """What one poll adds to its meter's day and month."""

    meter_id: int
    day: int  # YYYYMMDD, site-local
    ok: bool
    energy_cwh: int | None = None
    used_cwh: int = 0  # forward energy since the previous reading (0 after a reset)
    reverse_cwh: int | None = None
    voltage_dv: int | None = None
    power_dw: int | None = None
    remaining: int | None = None

    @property
    def month(self) -> int:
        return self.day // 100


def _rollup_sql(table: str, key: str) -> str:
    return (
        f"INSERT INTO {table} (meter_id, {key}, reads, failures, first_cwh, last_cwh, used_cwh, "
        "reverse_last_cwh, voltage_min_dv, voltage_max_dv, power_max_dw, remaining_last) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        f"ON CONFLICT (meter_id, {key}) DO UPDATE SET "
        "reads = reads + excluded.reads, failures = failures + excluded.failures, "
        "first_cwh = coalesce(first_cwh, excluded.first_cwh), "
        "last_cwh = coalesce(excluded.last_cwh, last_cwh), "
        "used_cwh = used_cwh + excluded.used_cwh, "
        "reverse_last_cwh = coalesce(excluded.reverse_last_cwh, reverse_last_cwh), "
        "voltage_min_dv = CASE WHEN voltage_min_dv IS NULL THEN excluded.voltage_min_dv "
        "WHEN excluded.voltage_min_dv IS NULL THEN voltage_min_dv "
        "ELSE min(voltage_min_dv, excluded.voltage_min_dv) END, "
        "voltage_max_dv = CASE WHEN voltage_max_dv IS NULL THEN excluded.voltage_max_dv "
        "WHEN excluded.voltage_max_dv IS NULL THEN voltage_max_dv "
        "ELSE max(voltage_max_dv, excluded.voltage_max_dv) END, "
        "power_max_dw = CASE WHEN power_max_dw IS NULL THEN excluded.power_max_dw "
        "WHEN excluded.power_max_dw IS NULL THEN power_max_dw "
        "ELSE max(power_max_dw, excluded.power_max_dw) END, "
        "remaining_last = coalesce(excluded.remaining_last, remaining_last)"
    )


_DAY_SQL = _rollup_sql("reading_days", "day")
_MONTH_SQL = _rollup_sql("reading_months", "month")


def add_to_rollups(c: Conn, deltas: Sequence[RollupDelta]) -> None:
    for sql, period in ((_DAY_SQL, "day"), (_MONTH_SQL, "month")):
        c.executemany(
            sql,
            [
                (
                    d.meter_id,
                    d.day if period == "day" else d.month,
                    1 if d.ok else 0,
                    0 if d.ok else 1,
                    d.energy_cwh,
                    d.energy_cwh,
                    d.used_cwh,
                    d.reverse_cwh,
                    d.voltage_dv,
                    d.voltage_dv,
                    d.power_dw,
                    d.remaining,
                )
                for d in deltas
            ],
        )


@dataclass(frozen=True, slots=True)
class Rollup:
    meter_id: int
    period: int  # YYYYMMDD or YYYYMM
    reads: int
    failures: int
    first_cwh: int | None
    last_cwh: int | None
    used_cwh: int
    reverse_last_cwh: int | None
    voltage_min_dv: int | None
    voltage_max_dv: int | None
    power_max_dw: int | None
    remaining_last: int | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Rollup:
        return cls(*row)


def days(c: Conn, meter_id: int, first: int, last: int) -> list[Rollup]:
    """Daily rollups ``first <= day <= last`` (YYYYMMDD), oldest first."""
    return [
        Rollup.from_row(r)
        for r in c.all(
            "SELECT * FROM reading_days WHERE meter_id = ? AND day BETWEEN ? AND ? ORDER BY day",
            (meter_id, first, last),
        )
    ]


def months(c: Conn, meter_id: int, first: int, last: int) -> list[Rollup]:
    """Monthly rollups ``first <= month <= last`` (YYYYMM), oldest first."""
    return [
        Rollup.from_row(r)
        for r in c.all(
            "SELECT * FROM reading_months WHERE meter_id = ? AND month BETWEEN ? AND ? "
            "ORDER BY month",
            (meter_id, first, last),
        )
    ]


# ---- monitoring state (F7.5 monitoring information) ------------------------------------------


@dataclass(frozen=True, slots=True)
class MeterStatus:
    meter_id: int
    online: bool
    first_seen_at: str | None
    last_seen_at: str | None
    last_attempt_at: str | None
    last_error: str
    failures_in_row: int
    polls: int
    successes: int
    retries: int
    bad_frames: int
    recent: int
    recent_count: int
    energy_cwh: int | None
    energy_at: int | None
    reverse_cwh: int | None
    remaining: int | None
    overdraft: int | None
    status3: int | None
    drift_s: int | None
    clock_read_at: str | None
    clock_set_at: str | None
    updated_at: str

    @property
    def recent_success_pct(self) -> int | None:
        """Share of the last polls that succeeded, in whole percent (None before any poll)."""
        if not self.recent_count:
            return None
        mask = (1 << self.recent_count) - 1
        return (self.recent & mask).bit_count() * 100 // self.recent_count

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> MeterStatus:
        values = {name: row[name] for name in _STATUS_FIELDS}
        values["online"] = bool(values["online"])
        return cls(**values)


_STATUS_FIELDS = tuple(f.name for f in fields(MeterStatus))


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """One poll of one meter, as the monitoring state counts it."""

    meter_id: int
    at: dt.datetime
    ok: bool
    online: bool  # after this poll (the caller applies the offline threshold)
    error: str = ""
    retries: int = 0
    bad_frames: int = 0
    energy_cwh: int | None = None
    reverse_cwh: int | None = None
    remaining: int | None = None
    overdraft: int | None = None
    status3: int | None = None
    drift_s: int | None = None
    clock_read: bool = False


def get_status(c: Conn, meter_id: int) -> MeterStatus | None:
    row = c.one("SELECT * FROM meter_status WHERE meter_id = ?", (meter_id,))
    return None if row is None else MeterStatus.from_row(row)


def all_status(c: Conn) -> dict[int, MeterStatus]:
    return {
        int(r["meter_id"]): MeterStatus.from_row(r) for r in c.all("SELECT * FROM meter_status")
    }


def record_outcome(c: Conn, o: PollOutcome) -> None:
    """Count one poll in the meter's monitoring state (creates the row at the first poll)."""
    when = to_text(o.at)
    seen = when if o.ok else None
    bit = 1 if o.ok else 0
    c.execute(
        "INSERT INTO meter_status (meter_id, online, first_seen_at, last_seen_at, "
        "last_attempt_at, last_error, failures_in_row, polls, successes, retries, bad_frames, "
        "recent, recent_count, energy_cwh, energy_at, reverse_cwh, remaining, overdraft, status3, "
        "drift_s, clock_read_at, updated_at) "
        "VALUES (:meter, :online, :seen, :seen, :when, :error, :fail, 1, :ok, :retries, :bad, "
        ":bit, 1, :energy, :energy_at, :reverse, :remaining, :overdraft, :status3, :drift, "
        ":clock_at, :when) "
        "ON CONFLICT (meter_id) DO UPDATE SET online = excluded.online, "
        "first_seen_at = coalesce(first_seen_at, excluded.first_seen_at), "
        "last_seen_at = coalesce(excluded.last_seen_at, last_seen_at), "
        "last_attempt_at = excluded.last_attempt_at, "
        "last_error = CASE WHEN :ok THEN last_error ELSE excluded.last_error END, "
        "failures_in_row = CASE WHEN :ok THEN 0 ELSE failures_in_row + 1 END, "
        "polls = polls + 1, successes = successes + :ok, retries = retries + :retries, "
        "bad_frames = bad_frames + :bad, "
        "recent = ((recent << 1) | :bit) & 4294967295, "
        "recent_count = min(recent_count + 1, 32), "
        "energy_cwh = coalesce(excluded.energy_cwh, energy_cwh), "
        "energy_at = coalesce(excluded.energy_at, energy_at), "
        "reverse_cwh = coalesce(excluded.reverse_cwh, reverse_cwh), "
        "remaining = coalesce(excluded.remaining, remaining), "
        "overdraft = coalesce(excluded.overdraft, overdraft), "
        "status3 = coalesce(excluded.status3, status3), "
        "drift_s = coalesce(excluded.drift_s, drift_s), "
        "clock_read_at = coalesce(excluded.clock_read_at, clock_read_at), "
        "updated_at = excluded.updated_at",
        {
            "meter": o.meter_id,
            "online": int(o.online),
            "seen": seen,
            "when": when,
            "error": "" if o.ok else o.error,
            "fail": 0 if o.ok else 1,
            "ok": int(o.ok),
            "retries": o.retries,
            "bad": o.bad_frames,
            "bit": bit,
            "energy": o.energy_cwh,
            "energy_at": epoch(o.at) if o.energy_cwh is not None else None,
            "reverse": o.reverse_cwh,
            "remaining": o.remaining,
            "overdraft": o.overdraft,
            "status3": o.status3,
            "drift": o.drift_s,
            "clock_at": when if o.clock_read else None,
        },
    )


def record_clock_set(c: Conn, meter_id: int, at: dt.datetime) -> None:
    """The meter's clock was corrected (its drift is unknown until the next clock read)."""
    c.execute(
        "UPDATE meter_status SET clock_set_at = ?, drift_s = NULL, updated_at = ? "
        "WHERE meter_id = ?",
        (to_text(at), to_text(at), meter_id),
    )


@dataclass(frozen=True)
class MonitorFilter:
    """F7.5 monitoring list conditions; all optional."""

    online: bool | None = None
    bus: str | None = None
    line_id: int | None = None
    box_id: int | None = None
    address_prefix: str | None = None


@dataclass(frozen=True, slots=True)
class MonitorRow:
    """One line of the monitoring list and its Excel export."""

    meter_id: int
    address: str
    meter_number: str
    type_name: str
    wallet_model: str
    line_name: str | None
    box_name: str | None
    bus: str | None
    customer_number: str | None
    customer_name: str | None
    online: bool | None  # None: never polled
    last_seen_at: str | None
    last_attempt_at: str | None
    last_error: str
    polls: int
    successes: int
    success_pct: int | None  # over all polls
    recent_success_pct: int | None  # over the last 32 polls
    retries: int
    bad_frames: int
    energy_cwh: int | None
    remaining: int | None
    status3: int | None
    drift_s: int | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> MonitorRow:
        polls = int(row["polls"] or 0)
        successes = int(row["successes"] or 0)
        count = int(row["recent_count"] or 0)
        recent = int(row["recent"] or 0)
        return cls(
            meter_id=row["meter_id"],
            address=row["address"],
            meter_number=row["meter_number"],
            type_name=row["type_name"],
            wallet_model=row["wallet_model"],
            line_name=row["line_name"],
            box_name=row["box_name"],
            bus=row["bus"],
            customer_number=row["customer_number"],
            customer_name=row["customer_name"],
            online=None if row["online"] is None else bool(row["online"]),
            last_seen_at=row["last_seen_at"],
            last_attempt_at=row["last_attempt_at"],
            last_error=row["last_error"] or "",
            polls=polls,
            successes=successes,
            success_pct=successes * 100 // polls if polls else None,
            recent_success_pct=(
                (recent & ((1 << count) - 1)).bit_count() * 100 // count if count else None
            ),
            retries=int(row["retries"] or 0),
            bad_frames=int(row["bad_frames"] or 0),
            energy_cwh=row["energy_cwh"],
            remaining=row["remaining"],
            status3=row["status3"],
            drift_s=row["drift_s"],
        )


_MONITOR_FROM = (
    " FROM meters AS m JOIN meter_types AS t ON t.id = m.type_id"
    " LEFT JOIN boxes AS b ON b.id = m.box_id LEFT JOIN lines AS l ON l.id = b.line_id"
    " LEFT JOIN meter_status AS s ON s.meter_id = m.id"
    " LEFT JOIN accounts AS a ON a.meter_id = m.id AND a.status = 'open'"
    " LEFT JOIN customers AS cu ON cu.id = a.customer_id"
)
_MONITOR_SELECT = (
    "SELECT m.id AS meter_id, m.address, m.meter_number, t.name AS type_name, t.wallet_model, "
    "l.name AS line_name, b.name AS box_name, b.bus, cu.number AS customer_number, "
    "cu.name AS customer_name, s.online, s.last_seen_at, s.last_attempt_at, s.last_error, "
    "s.polls, s.successes, s.recent, s.recent_count, s.retries, s.bad_frames, s.energy_cwh, "
    "s.remaining, s.status3, s.drift_s" + _MONITOR_FROM
)


def _monitor_where(flt: MonitorFilter) -> Where:
    where = Where()
    where.add("m.state = 'installed'")
    if flt.online is not None:
        where.add("s.online = ?" if flt.online else "coalesce(s.online, 0) = ?", int(flt.online))
    if flt.bus is not None:
        where.add("b.bus = ?", flt.bus)
    if flt.line_id is not None:
        where.add("b.line_id = ?", flt.line_id)
    if flt.box_id is not None:
        where.add("m.box_id = ?", flt.box_id)
    if flt.address_prefix:
        where.prefix("m.address", flt.address_prefix)
    return where


def monitoring(c: Conn, flt: MonitorFilter, page: PageRequest) -> Page[MonitorRow]:
    """F7.5 monitoring information, by meter address."""
    where = _monitor_where(flt)
    return fetch_page(
        c,
        f"{_MONITOR_SELECT}{where.sql()} ORDER BY m.address",
        f"SELECT count(*){_MONITOR_FROM}{where.sql()}",
        where.params,
        page=page,
        build=MonitorRow.from_row,
    )


def iterate_monitoring(c: Conn, flt: MonitorFilter) -> Iterator[MonitorRow]:
    """Every matching monitoring row, streamed (the Excel export)."""
    where = _monitor_where(flt)
    for row in c.iterate(f"{_MONITOR_SELECT}{where.sql()} ORDER BY m.address", where.params):
        yield MonitorRow.from_row(row)


# ---- gateway-wallet metering state -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WalletState:
    """Per open gateway-wallet account: the consumption baseline and the commanded relay.

    Times are site-local naive datetimes (billing's time). ``pending_*`` is consumption already
    charged against the balance but not yet posted as a ledger row (posting is batched).
    """

    account_id: int
    meter_id: int
    meter_address: str
    baseline_at: dt.datetime
    register_cwh: int
    period_start: dt.datetime
    period_use_cwh: int
    residue: int
    held_at: dt.datetime | None = None
    held_register_cwh: int | None = None
    pending_fen: int = 0
    pending_cwh: int = 0
    pending_debt_fen: int = 0
    pending_version_id: int | None = None
    pending_since: dt.datetime | None = None
    relay_open: bool = False
    alarm2_warned: bool = False
    meter_alarm_on: bool = False
    alarm_level: str = "none"
    reclose_seen_id: int = 0
    debts_seen_id: int = 0
    friendly_debt_fen: int = 0
    emergency_owed_fen: int = 0

    def __post_init__(self) -> None:
        if self.pending_fen < 0 or not 0 <= self.pending_debt_fen <= self.pending_fen:
            raise InvalidValueError(
                f"wallet state of account {self.account_id}: pending {self.pending_fen} fen "
                f"with debt {self.pending_debt_fen} fen is inconsistent"
            )
        if (self.pending_fen or self.pending_cwh) and self.pending_version_id is None:
            raise InvalidValueError("a pending charge must name its tariff version")

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> WalletState:
        def local(text: str | None) -> dt.datetime | None:
            return None if text is None else dt.datetime.fromisoformat(text)

        return cls(
            account_id=row["account_id"],
            meter_id=row["meter_id"],
            meter_address=row["meter_address"],
            baseline_at=dt.datetime.fromisoformat(row["baseline_at"]),
            register_cwh=row["register_cwh"],
            period_start=dt.datetime.fromisoformat(row["period_start"]),
            period_use_cwh=row["period_use_cwh"],
            residue=row["residue"],
            held_at=local(row["held_at"]),
            held_register_cwh=row["held_register_cwh"],
            pending_fen=row["pending_fen"],
            pending_cwh=row["pending_cwh"],
            pending_debt_fen=row["pending_debt_fen"],
            pending_version_id=row["pending_version_id"],
            pending_since=local(row["pending_since"]),
            relay_open=bool(row["relay_open"]),
            alarm2_warned=bool(row["alarm2_warned"]),
            meter_alarm_on=bool(row["meter_alarm_on"]),
            alarm_level=row["alarm_level"],
            reclose_seen_id=row["reclose_seen_id"],
            debts_seen_id=row["debts_seen_id"],
            friendly_debt_fen=row["friendly_debt_fen"],
            emergency_owed_fen=row["emergency_owed_fen"],
        )


def _local_text(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is not None:
        raise ValueError(f"wallet state times are site-local and naive, got {moment!r}")
    return moment.isoformat(timespec="microseconds")


def get_wallet_state(c: Conn, account_id: int) -> WalletState | None:
    row = c.one("SELECT * FROM wallet_state WHERE account_id = ?", (account_id,))
    return None if row is None else WalletState.from_row(row)


def wallet_states(c: Conn, account_ids: Sequence[int]) -> dict[int, WalletState]:
    if not account_ids:
        return {}
    rows = c.all(
        f"SELECT * FROM wallet_state WHERE account_id IN ({', '.join('?' * len(account_ids))})",
        list(account_ids),
    )
    return {int(r["account_id"]): WalletState.from_row(r) for r in rows}


def put_wallet_state(c: Conn, s: WalletState) -> None:
    c.execute(
        "INSERT INTO wallet_state (account_id, meter_id, meter_address, baseline_at, register_cwh, "
        "period_start, period_use_cwh, residue, held_at, held_register_cwh, pending_fen, "
        "pending_cwh, pending_debt_fen, pending_version_id, pending_since, relay_open, "
        "alarm2_warned, meter_alarm_on, alarm_level, reclose_seen_id, debts_seen_id, "
        "friendly_debt_fen, emergency_owed_fen, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (account_id) DO UPDATE SET meter_id = excluded.meter_id, "
        "meter_address = excluded.meter_address, baseline_at = excluded.baseline_at, "
        "register_cwh = excluded.register_cwh, period_start = excluded.period_start, "
        "period_use_cwh = excluded.period_use_cwh, residue = excluded.residue, "
        "held_at = excluded.held_at, held_register_cwh = excluded.held_register_cwh, "
        "pending_fen = excluded.pending_fen, pending_cwh = excluded.pending_cwh, "
        "pending_debt_fen = excluded.pending_debt_fen, "
        "pending_version_id = excluded.pending_version_id, "
        "pending_since = excluded.pending_since, relay_open = excluded.relay_open, "
        "alarm2_warned = excluded.alarm2_warned, meter_alarm_on = excluded.meter_alarm_on, "
        "alarm_level = excluded.alarm_level, reclose_seen_id = excluded.reclose_seen_id, "
        "debts_seen_id = excluded.debts_seen_id, "
        "friendly_debt_fen = excluded.friendly_debt_fen, "
        "emergency_owed_fen = excluded.emergency_owed_fen, updated_at = excluded.updated_at",
        (
            s.account_id,
            s.meter_id,
            s.meter_address,
            _local_text(s.baseline_at),
            s.register_cwh,
            _local_text(s.period_start),
            s.period_use_cwh,
            s.residue,
            _local_text(s.held_at),
            s.held_register_cwh,
            s.pending_fen,
            s.pending_cwh,
            s.pending_debt_fen,
            s.pending_version_id,
            _local_text(s.pending_since),
            int(s.relay_open),
            int(s.alarm2_warned),
            int(s.meter_alarm_on),
            s.alarm_level,
            s.reclose_seen_id,
            s.debts_seen_id,
            s.friendly_debt_fen,
            s.emergency_owed_fen,
            c.now_text(),
        ),
    )


# ---- daily broadcast time sync ---------------------------------------------------------------


def last_broadcast_day(c: Conn, bus: str) -> int | None:
    value = c.scalar("SELECT last_day FROM clock_broadcasts WHERE bus = ?", (bus,))
    return None if value is None else int(value)


def record_broadcast(c: Conn, bus: str, day: int, at: dt.datetime) -> None:
    c.execute(
        "INSERT INTO clock_broadcasts (bus, last_day, last_at) VALUES (?, ?, ?) "
        "ON CONFLICT (bus) DO UPDATE SET last_day = excluded.last_day, last_at = excluded.last_at",
        (bus, day, to_text(at)),
    )
