"""Queries with filters and paging, and their Excel / CSV exports checked cell by cell."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import openpyxl
from aiohttp.test_utils import TestClient

from gateway.store import customers, ledger, meters, metertypes, network, tariffs
from gateway.store.conn import Conn
from gateway.store.customers import CustomerSpec, NewAccount
from gateway.store.database import Database
from gateway.store.ledger import LedgerKind, NewEntry
from gateway.store.meters import MeterSpec
from gateway.store.metertypes import MeterTypeSpec

from .conftest import make_operator, sign_in

Client = TestClient  # type: ignore[type-arg]


def populate(c: Conn) -> None:
    """Two customers with accounts and sales, one without an account."""
    line = network.create_line(c, "North")
    box = network.create_box(c, network.BoxSpec(line.id, "B1", "rs485", bus="rs485-1"))
    mtype = metertypes.create(c, MeterTypeSpec("DDSY", "dlt645-2007", "meter", "money", 1))
    price = tariffs.create_type(c, "Residential")
    version = tariffs.add_version(
        c, price.id, {"kind": "flat", "id": str(price.id), "version": 1,
                      "effective_from": "2025-01-01T00:00:00", "price": 5283},
        dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    )  # fmt: skip
    for index, (number, name, fen) in enumerate(
        [("C0001", "张三", 1234), ("C0002", "李四", 10000)], start=1
    ):
        meter = meters.create(c, MeterSpec(f"{index:012d}", mtype.id, box_id=box.id))
        customer = customers.create_customer(c, CustomerSpec(number, name, phone="1390000000"))
        account = customers.open_account(c, NewAccount(customer.id, meter.id, price.id))
        ledger.append(c, NewEntry(account.id, LedgerKind.SALE, fen, energy_cwh=fen * 2,
                                  meter_id=meter.id, tariff_version_id=version.id))  # fmt: skip
    customers.create_customer(c, CustomerSpec("C0003", "王五"))


async def test_customer_query_filters_pages_and_exports(client: Client, db: Database) -> None:
    await db.write(populate)
    viewer = await make_operator(db, "viewer", {"queries.view"})
    sign_in(client, viewer.id)
    page = await client.get("/query/customers?name=张")
    text = await page.text()
    assert "张三" in text and "李四" not in text
    assert "12.34" in text

    xlsx = await client.get("/query/customers/export.xlsx")
    assert xlsx.status == 200
    assert "attachment" in xlsx.headers["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(await xlsx.read()), read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    header = rows[0]
    assert header[:2] == ("用户编号", "用户名称")
    by_number = {row[0]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert set(by_number) == {"C0001", "C0002", "C0003"}
    assert Decimal(str(by_number["C0001"]["余额（元）"])) == Decimal("12.34")
    assert Decimal(str(by_number["C0002"]["累计购电（元）"])) == Decimal("100.00")
    assert by_number["C0001"]["通讯地址"] == "000000000001"
    assert by_number["C0003"]["账户状态"] == "未开户"

    filtered = await client.get("/query/customers/export.csv?number=C0002")
    reader = list(csv.reader(io.StringIO((await filtered.read()).decode("utf-8-sig"))))
    assert len(reader) == 2
    assert reader[1][0] == "C0002"
    assert "100.00" in reader[1]


async def test_sales_query_and_export(client: Client, db: Database) -> None:
    await db.write(populate)
    viewer = await make_operator(db, "viewer", {"queries.view"})
    sign_in(client, viewer.id)
    api = await client.get("/api/v1/query/sales")
    body = await api.json()
    assert sorted(item["amount"] for item in body["items"]) == ["100.00", "12.34"]
    assert body["has_more"] is False
    assert body["total"] is None  # an unfiltered page is not counted (a 1M-row count is slow)
    counted = await (await client.get("/api/v1/query/sales?since=2000-01-01")).json()
    assert counted["total"] == 2
    xlsx = await client.get("/query/sales/export.xlsx")
    book = openpyxl.load_workbook(io.BytesIO(await xlsx.read()), read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    amounts = sorted(Decimal(str(r[rows[0].index("金额（元）")])) for r in rows[1:])
    assert amounts == [Decimal("12.34"), Decimal("100.00")]


async def test_bad_filter_is_a_coded_error_not_a_crash(client: Client, db: Database) -> None:
    viewer = await make_operator(db, "viewer", {"queries.view"})
    sign_in(client, viewer.id)
    page = await client.get("/query/sales?since=not-a-date")
    assert page.status == 400
    assert "E606" in await page.text()
