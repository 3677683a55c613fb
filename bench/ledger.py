"""Ledger benchmark: a daily purchase's commit against the fsync floor, and the UI's queries,
on a database holding 10,000 customers and 1,000,000 past sales.

Prints one JSON object:
  vend_commit_ms_median  one daily purchase, ledger side: vend row + two transitions + ledger row
                         + receipt number + operation-log entry + outbox event, one transaction
  fsync_floor_ms_median  one bare one-row INSERT + COMMIT, same pragmas, same file, same path
                         through Database.write (so the thread hop is in both)
  ratio                  vend_commit / fsync_floor (target <= 2)
  query_ms_p99           p99 over the customer and sales queries the UI runs (target < 50)
Targets: vend commit median < 5 ms and <= 2x the floor; queries p99 < 50 ms.
Diagnostics: WAL pages one purchase appends, and both transactions timed in-thread with
synchronous=OFF on a second connection (how much of the commit is CPU, how much is the disk).
History is bulk-loaded in one transaction, then sales/200 (max 5,000) purchases are made the
normal way, unmeasured, so the indexes rebuilt in bulk are no longer packed full.

Usage: python bench/ledger.py [--dir DIR] [--customers N] [--sales N] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.store import (
    Conn,
    Database,
    canonical,
    customers,
    ledger,
    oplog,
    receipts,
    sales,
    vends,
)
from gateway.store.clock import to_text
from gateway.store.customers import ClosedFilter, CustomerFilter
from gateway.store.database import DEFAULT_BUSY_TIMEOUT_MS, connect
from gateway.store.ledger import LedgerKind, NewEntry
from gateway.store.oplog import OpLogFilter
from gateway.store.paging import PageRequest
from gateway.store.receipts import NewReceipt, ReceiptFilter, ReceiptKind
from gateway.store.sales import SalesFilter
from gateway.store.vends import NewVend, VendChannel, VendKind, VendState

NOW = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
HISTORY = timedelta(days=730)
TARIFF = {"kind": "flat", "price": 5880}
OPERATORS = 6
LINES = 20
BOXES_PER_LINE = 25

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚"


class BenchClock:
    """Wall-clock-like but deterministic: each reading advances 1 ms from NOW."""

    def __init__(self) -> None:
        self.t = NOW

    def __call__(self) -> datetime:
        self.t += timedelta(milliseconds=1)
        return self.t


def build(c: Conn, n_customers: int, n_sales: int, seed: int) -> dict[str, int]:
    """Everything in one transaction with executemany; returns a few ids for the queries."""
    rng = random.Random(seed)
    now = to_text(NOW)
    # A big page cache for the load only; the measurements below run with the store's default.
    c.raw.execute("PRAGMA cache_size = -524288")
    genesis = "0" * 64
    c.executemany(
        "INSERT INTO operators (id, name, password_hash, must_change_password, created_at, "
        "updated_at) VALUES (?, ?, 'x', 0, ?, ?)",
        [(i, f"op{i}", now, now) for i in range(1, OPERATORS + 1)],
    )
    c.executemany(
        "INSERT INTO lines (id, name, created_at) VALUES (?, ?, ?)",
        [(i, f"线路{i:02d}", now) for i in range(1, LINES + 1)],
    )
    boxes = LINES * BOXES_PER_LINE
    c.executemany(
        "INSERT INTO boxes (id, line_id, name, meter_count, comm_mode, bus, created_at) "
        "VALUES (?, ?, ?, 24, 'rs485', ?, ?)",
        [
            (b, (b - 1) // BOXES_PER_LINE + 1, f"箱{b:03d}", f"bus{b % 4}", now)
            for b in range(1, boxes + 1)
        ],
    )
    c.execute(
        "INSERT INTO meter_types (id, name, protocol, wallet_model, value_kind, phases, "
        "created_at, updated_at) VALUES (1, 'DDSY666', 'dlt645-2007', 'meter', 'money', 1, ?, ?)",
        (now, now),
    )
    c.execute("INSERT INTO price_types (id, name, created_at) VALUES (1, '居民', ?)", (now,))
    c.execute(
        "INSERT INTO price_versions (id, price_type_id, version_no, effective_from, tariff, "
        "created_at) VALUES (1, 1, 1, '2020-01-01T00:00:00.000000Z', ?, ?)",
        (canonical.dumps(TARIFF), now),
    )
    c.executemany(
        "INSERT INTO meters (id, address, meter_number, box_id, type_id, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, 1, ?, ?)",
        [
            (i, f"{i:012d}", f"M{i:08d}", (i - 1) % boxes + 1, now, now)
            for i in range(1, n_customers + 1)
        ],
    )

    def name() -> str:
        return rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))

    c.executemany(
        "INSERT INTO customers (id, number, name, phone, address, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (i, f"C{i:06d}", name(), f"13{rng.randrange(10**9):09d}", f"{i % 300}号", now, now)
            for i in range(1, n_customers + 1)
        ],
    )
    closed = set(rng.sample(range(1, n_customers + 1), n_customers // 50))
    c.executemany(
        "INSERT INTO accounts (id, customer_id, meter_id, price_type_id, wallet_model, value_kind, "
        "status, opened_at, closed_at, close_reason, updated_at) "
        "VALUES (?, ?, ?, 1, 'meter', 'money', ?, ?, ?, ?, ?)",
        [
            (
                i,
                i,
                i,
                "closed" if i in closed else "open",
                to_text(NOW - HISTORY),
                to_text(NOW - timedelta(days=rng.randrange(1, 700))) if i in closed else None,
                "refund" if i in closed else None,
                now,
            )
            for i in range(1, n_customers + 1)
        ],
    )
    c.execute("UPDATE customers SET current_account_id = id")

    step = HISTORY / n_sales
    times = [to_text(NOW - HISTORY + step * k) for k in range(n_sales)]
    accounts_of_sale = [rng.randrange(1, n_customers + 1) for _ in range(n_sales)]
    amounts = [rng.choice((2000, 5000, 10000, 20000, 30000, 50000)) for _ in range(n_sales)]
    operators_of_sale = [rng.randrange(1, OPERATORS + 1) for _ in range(n_sales)]

    # History is loaded like an import: the per-row triggers (chain check, derived balances,
    # vend events, append-only guards) are set aside inside this transaction and their effects
    # are produced set-wise, then the triggers are put back. `db check` accepts the result.
    # Indexes are dropped too and rebuilt at the end (sorting once beats a million inserts).
    set_aside = c.all(
        "SELECT type, name, sql FROM sqlite_schema WHERE type IN ('trigger', 'index') "
        "AND sql IS NOT NULL AND tbl_name IN ('vends', 'vend_events', 'ledger', 'oplog', "
        "'receipts')"
    )
    for item in set_aside:
        c.execute(f'DROP {item["type"].upper()} "{item["name"]}"')
    c.executemany(
        "INSERT INTO vends (id, idempotency_key, kind, channel, account_id, meter_id, operator_id, "
        "amount_fen, count_before, count_target, count_after, state, created_at, updated_at) "
        "VALUES (?, ?, 'daily', 'comm', ?, ?, ?, ?, 0, 1, 1, 'confirmed', ?, ?)",
        (
            (k + 1, f"hist-{k:09d}", a, a, o, amt, t, t)
            for k, (a, o, amt, t) in enumerate(
                zip(accounts_of_sale, operators_of_sale, amounts, times, strict=True)
            )
        ),
    )
    for seq, (before, after) in enumerate(
        ((None, "pending"), ("pending", "sent"), ("sent", "confirmed"))
    ):
        c.execute(
            "INSERT INTO vend_events (vend_id, seq, from_state, to_state, at) "
            "SELECT id, ?, ?, ?, created_at FROM vends",
            (seq, before, after),
        )

    snapshot = canonical.dumps(TARIFF)
    payload_keys = (
        "id",
        "created_at",
        "account_id",
        "meter_id",
        "kind",
        "amount_fen",
        "energy_cwh",
        "remainder_fen",
        "tariff_version_id",
        "tariff_snapshot",
        "vend_id",
        "refers_to",
        "operator_id",
        "detail",
    )
    last = {"ledger": genesis, "oplog": genesis}

    def ledger_rows() -> Iterator[tuple[Any, ...]]:
        prev = genesis
        for k in range(n_sales):
            values = (
                k + 1,
                times[k],
                accounts_of_sale[k],
                accounts_of_sale[k],
                "sale",
                amounts[k],
                0,
                None,
                1,
                snapshot,
                k + 1,
                None,
                operators_of_sale[k],
                "{}",
            )
            digest = canonical.link(prev, dict(zip(payload_keys, values, strict=True)))
            yield (*values, prev, digest)
            prev = digest
        last["ledger"] = prev

    c.executemany(
        "INSERT INTO ledger (id, created_at, account_id, meter_id, kind, amount_fen, energy_cwh, "
        "remainder_fen, tariff_version_id, tariff_snapshot, vend_id, refers_to, operator_id, "
        "detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ledger_rows(),
    )
    c.execute(
        "INSERT INTO account_balances (account_id, balance_fen, energy_cwh, purchased_fen, "
        "purchased_cwh, purchases, remainder_fen, entries, last_entry_id, updated_at) "
        "SELECT account_id, sum(amount_fen), sum(energy_cwh), sum(amount_fen), sum(energy_cwh), "
        "count(*), 0, count(*), max(id), max(created_at) FROM ledger GROUP BY account_id"
    )
    c.executemany(
        "INSERT INTO receipts (number, kind, account_id, vend_id, ledger_id, operator_id, "
        "content, created_at) VALUES (?, 'sale', ?, ?, ?, ?, '{}', ?)",
        (
            (k + 1, accounts_of_sale[k], k + 1, k + 1, operators_of_sale[k], times[k])
            for k in range(n_sales)
        ),
    )
    c.execute("UPDATE sequences SET value = ? WHERE name = 'receipt'", (n_sales,))

    def oplog_rows() -> Iterator[tuple[Any, ...]]:
        prev = genesis
        for k in range(n_sales):
            row = {
                "id": k + 1,
                "created_at": times[k],
                "operator_id": operators_of_sale[k],
                "operator_name": f"op{operators_of_sale[k]}",
                "action": "sale.daily",
                "target": f"account:{accounts_of_sale[k]}",
                "detail": "{}",
                "result": "ok",
                "error_code": None,
            }
            digest = canonical.link(prev, row)
            yield (*row.values(), prev, digest)
            prev = digest
        last["oplog"] = prev

    c.executemany(
        "INSERT INTO oplog (id, created_at, operator_id, operator_name, action, target, detail, "
        "result, error_code, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        oplog_rows(),
    )
    for chain in ("ledger", "oplog"):
        c.execute(
            "UPDATE chain_heads SET last_id = ?, last_hash = ? WHERE name = ?",
            (n_sales, last[chain], chain),
        )
    for item in sorted(set_aside, key=lambda i: i["type"]):  # indexes, then triggers
        c.execute(item["sql"])
    c.execute("CREATE TABLE bench_floor (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    return {"closed": len(closed)}


def daily_purchase(c: Conn, key: str, account_id: int, operator_id: int) -> int:
    """What the services write for one confirmed daily purchase (minus wire time)."""
    vend, _ = vends.create(
        c,
        NewVend(
            key,
            VendKind.DAILY,
            VendChannel.COMM,
            account_id,
            5000,
            meter_id=account_id,
            operator_id=operator_id,
            count_before=7,
            count_target=8,
        ),
    )
    vends.transition(c, vend.id, VendState.SENT)
    vends.transition(c, vend.id, VendState.CONFIRMED, count_after=8)
    entry = ledger.append(
        c,
        NewEntry(
            account_id,
            LedgerKind.SALE,
            5000,
            meter_id=account_id,
            tariff_version_id=1,
            vend_id=vend.id,
            operator_id=operator_id,
        ),
    )
    receipt = receipts.issue(
        c,
        NewReceipt(
            ReceiptKind.SALE, account_id, vend.id, entry.id, operator_id, {"amount_fen": 5000}
        ),
    )
    oplog.append(
        c,
        "sale.daily",
        operator_id=operator_id,
        target=f"account:{account_id}",
        detail={"vend": vend.id, "receipt": receipt.number},
    )
    # The outbox row, with the statement gateway.sync uses (its schema validation not included).
    c.all(
        "INSERT INTO outbox (id, stream, seq, created_at, payload) VALUES (?, 'sales', 1 + max("
        "coalesce((SELECT max(seq) FROM outbox WHERE stream = 'sales'), 0), "
        "coalesce((SELECT acked_seq FROM outbox_ack WHERE stream = 'sales'), 0)), ?, ?) "
        "RETURNING seq",
        (
            uuid.uuid4().hex,
            c.now_text(),
            canonical.dumps({"ledger_id": entry.id, "amount_fen": 5000, "receipt": receipt.number}),
        ),
    )
    return entry.id


def diagnose(path: Path, customers_n: int, n: int) -> dict[str, float]:
    """In-thread timings with synchronous=OFF, and WAL pages per purchase (second connection)."""
    raw = connect(path, DEFAULT_BUSY_TIMEOUT_MS)
    try:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn = BenchClock()
        c = Conn(raw, conn, writable=True)
        raw.execute("BEGIN IMMEDIATE")
        daily_purchase(c, "diag-frames", 1, 1)
        raw.execute("COMMIT")
        frames = int(raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])
        raw.execute("PRAGMA synchronous = OFF")
        rng = random.Random(11)
        vend_s: list[float] = []
        floor_s: list[float] = []
        for i in range(n):
            account = rng.randrange(1, customers_n + 1)
            start = time.perf_counter()
            raw.execute("BEGIN IMMEDIATE")
            daily_purchase(Conn(raw, conn, writable=True), f"diag-{i}", account, 1)
            raw.execute("COMMIT")
            vend_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            raw.execute("BEGIN IMMEDIATE")
            floor_insert(Conn(raw, conn, writable=True), f"diag-{i}")
            raw.execute("COMMIT")
            floor_s.append(time.perf_counter() - start)
    finally:
        raw.close()
    return {
        "wal_pages_per_vend_commit": frames,
        "vend_in_thread_ms_median_no_fsync": round(statistics.median(vend_s) * 1000, 3),
        "floor_in_thread_ms_median_no_fsync": round(statistics.median(floor_s) * 1000, 3),
    }


def warm_up(c: Conn, customers_n: int, purchases: int) -> None:
    rng = random.Random(5)
    for i in range(purchases):
        daily_purchase(c, f"warm-{i}", rng.randrange(1, customers_n + 1), 1 + i % OPERATORS)


def floor_insert(c: Conn, value: str) -> None:
    c.execute("INSERT INTO bench_floor (v) VALUES (?)", (value,))


async def timed(fn: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await fn()
    return (time.perf_counter() - start) * 1000


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="where to build the database")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--sales", type=int, default=1_000_000)
    parser.add_argument("--commits", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="ledger-bench-", dir=args.dir))
    path = workdir / "bench.sqlite"
    result: dict[str, Any] = {"customers": args.customers, "sales": args.sales}
    try:
        db = await Database.open(path, clock=BenchClock())
        t0 = time.perf_counter()
        await db.write(build, args.customers, args.sales, 645)
        # Indexes rebuilt in bulk are packed full, so the first inserts into them split pages; a
        # database that grew sale by sale is not like that. Some purchases (not measured, one
        # transaction) bring the account-ordered indexes to their usual fill first.
        await db.write(warm_up, args.customers, min(args.sales // 200, 5000))
        result["build_s"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        await db.checkpoint()
        await db.optimize(analyze_all=True)
        result["checkpoint_analyze_s"] = round(time.perf_counter() - t0, 1)
        result["db_mb"] = round(path.stat().st_size / 1e6, 1)

        rng = random.Random(7)
        vend_ms: list[float] = []
        floor_ms: list[float] = []
        for i in range(args.commits):
            account = rng.randrange(1, args.customers + 1)
            key = f"bench-{i}"
            operator = 1 + i % OPERATORS
            vend_ms.append(
                await timed(lambda k=key, a=account, o=operator: db.write(daily_purchase, k, a, o))
            )
            floor_ms.append(await timed(lambda k=key: db.write(floor_insert, k)))
        vend_median = statistics.median(vend_ms)
        floor_median = statistics.median(floor_ms)

        # Where the time goes (diagnostic): the same two transactions on a second connection,
        # in this thread, without waiting for the disk (synchronous=OFF), and the number of WAL
        # pages one purchase appends.
        diag = await asyncio.to_thread(diagnose, path, args.customers, min(args.commits, 200))

        day = NOW - timedelta(days=1)
        month = NOW - timedelta(days=30)
        some_customer = args.customers // 3
        queries: dict[str, Callable[[], Awaitable[object]]] = {
            "customers_first_page": lambda: db.read(
                customers.search, CustomerFilter(), PageRequest(with_total=True)
            ),
            "customers_page_100": lambda: db.read(
                customers.search, CustomerFilter(), PageRequest(offset=5000, limit=50)
            ),
            "customers_by_name": lambda: db.read(
                customers.search, CustomerFilter(name="王芳"), PageRequest(with_total=True)
            ),
            "customers_by_number": lambda: db.read(
                customers.search,
                CustomerFilter(number_prefix="C0042"),
                PageRequest(with_total=True),
            ),
            "customers_by_meter": lambda: db.read(
                customers.search, CustomerFilter(meter="000000004711"), PageRequest()
            ),
            "customers_by_line_open": lambda: db.read(
                customers.search,
                CustomerFilter(line_id=7, status=customers.AccountStatus.OPEN),
                PageRequest(with_total=True),
            ),
            "customers_low_balance": lambda: db.read(
                customers.search, CustomerFilter(balance_below_fen=30000), PageRequest()
            ),
            "closed_accounts": lambda: db.read(
                customers.closed_accounts, ClosedFilter(), PageRequest(with_total=True)
            ),
            "sales_today": lambda: db.read(
                sales.query, SalesFilter(since=day, until=NOW), PageRequest(with_total=True)
            ),
            "sales_month": lambda: db.read(
                sales.query, SalesFilter(since=month, until=NOW), PageRequest(with_total=True)
            ),
            "sales_month_page_20": lambda: db.read(
                sales.query, SalesFilter(since=month, until=NOW), PageRequest(offset=1000, limit=50)
            ),
            "sales_all_first_page": lambda: db.read(sales.query, SalesFilter(), PageRequest()),
            "sales_operator_month": lambda: db.read(
                sales.query,
                SalesFilter(since=month, until=NOW, operator_id=3),
                PageRequest(with_total=True),
            ),
            "sales_customer": lambda: db.read(
                sales.query, SalesFilter(customer_id=some_customer), PageRequest(with_total=True)
            ),
            "sales_totals_month": lambda: db.read(
                sales.totals, SalesFilter(since=month, until=NOW)
            ),
            "sales_by_operator_today": lambda: db.read(sales.totals_by_operator, day, NOW),
            "receipt_by_number": lambda: db.read(
                receipts.query, ReceiptFilter(number=123456), PageRequest()
            ),
            "receipts_customer": lambda: db.read(
                receipts.query, ReceiptFilter(account_id=some_customer), PageRequest()
            ),
            "oplog_today": lambda: db.read(oplog.query, OpLogFilter(since=day), PageRequest()),
        }
        per_query: dict[str, float] = {}
        samples: list[float] = []
        for name, run in queries.items():
            times = [await timed(run) for _ in range(20)]
            per_query[name] = round(p99(times), 2)
            samples += times
        result.update(
            {
                "vend_commit_ms_median": round(vend_median, 3),
                "fsync_floor_ms_median": round(floor_median, 3),
                "ratio": round(vend_median / floor_median, 2),
                "query_ms_p99": round(p99(samples), 2),
                "vend_commit_ms_p99": round(p99(vend_ms), 3),
                **diag,
                "query_ms_p99_by_query": per_query,
                "targets_met": vend_median < 5
                and vend_median <= 2 * floor_median
                and p99(samples) < 50,
            }
        )
        await db.close()
    finally:
        if args.keep:
            result["kept"] = str(path)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
