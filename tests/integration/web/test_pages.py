"""The master-data and system pages through their forms, as staff use them."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestClient

from gateway.store import customers, metertypes, network, operators, oplog, siteinfo, tariffs
from gateway.store.customers import CustomerSpec
from gateway.store.database import Database
from gateway.store.oplog import OpLogFilter
from gateway.store.paging import PageRequest
from gateway.store.permissions import ALL_CODES
from web.frames import FrameEvent
from web.keys import FRAMES
from web.receipts import default_template, parse_template, yuan_in_words

from .conftest import PASSWORD, csrf_of, make_operator, sign_in

Client = TestClient  # type: ignore[type-arg]


async def admin(client: Client, db: Database) -> str:
    user = await make_operator(db, "admin", ALL_CODES)
    return sign_in(client, user.id)


async def log_actions(db: Database) -> list[str]:
    page = await db.read(oplog.query, OpLogFilter(), PageRequest(limit=500))
    return [e.action for e in page.items if e.result == "ok"]


async def test_lines_and_boxes_add_edit_delete(client: Client, db: Database) -> None:
    csrf = await admin(client, db)
    added = await client.post(
        "/lines", data={"_csrf": csrf, "name": "东区一线", "description": "主干"}
    )
    assert added.status == 200
    assert "已保存" in await added.text()
    (line,) = await db.read(network.list_lines)
    await client.post(
        f"/lines/{line.id}", data={"_csrf": csrf, "name": "东区1线", "description": ""}
    )
    assert (await db.read(network.list_lines))[0].name == "东区1线"
    box = await client.post(
        "/boxes",
        data={
            "_csrf": csrf,
            "line_id": line.id,
            "name": "1号箱",
            "meter_count": "12",
            "comm_mode": "rs485",
            "bus": "rs485-1",
            "baud": "2400",
            "parity": "E",
        },
    )
    assert "已保存" in await box.text()
    # A line with a box cannot go (E306), and nothing changes.
    refused = await client.post(f"/lines/{line.id}/delete", data={"_csrf": csrf})
    assert refused.status == 400
    assert "E306" in await refused.text()
    assert len(await db.read(network.list_lines)) == 1
    # An RS485 box needs its bus: the form comes back with the typed values.
    bad = await client.post(
        "/boxes",
        data={"_csrf": csrf, "line_id": line.id, "name": "2号箱", "comm_mode": "rs485", "bus": ""},
    )
    assert bad.status == 400
    assert "2号箱" in await bad.text()
    (b,) = await db.read(network.list_boxes)
    await client.post(f"/boxes/{b.id}/delete", data={"_csrf": csrf})
    await client.post(f"/lines/{line.id}/delete", data={"_csrf": csrf})
    assert await db.read(network.list_lines) == []
    actions = await log_actions(db)
    for action in ("line.create", "line.update", "box.create", "box.delete", "line.delete"):
        assert action in actions


async def test_meter_types_and_price_types(client: Client, db: Database) -> None:
    csrf = await admin(client, db)
    made = await client.post("/meter-types", data={
        "_csrf": csrf, "name": "DDSY666", "protocol": "dlt645-2007", "wallet_model": "meter",
        "value_kind": "money", "phases": "1", "password_level": "2", "password": "000000",
        "operator_code": "00000000", "relay_form": "plaintext", "recharge_layout": "standard",
        "mac_provider": "none", "alarm1": "20.00", "alarm2": "5"})  # fmt: skip
    assert "已保存" in await made.text()
    (mtype,) = await db.read(metertypes.list_all)
    assert mtype.profile.alarm1_fen == 2000
    assert mtype.profile.alarm2_fen == 500
    # More decimals than money has: refused with the billing code, nothing stored.
    bad = await client.post("/meter-types", data={
        "_csrf": csrf, "name": "X", "protocol": "dlt645-2007", "wallet_model": "meter",
        "value_kind": "money", "phases": "1", "alarm1": "1.234"})  # fmt: skip
    assert "E202" in await bad.text()

    flat = await client.post("/price-types", data={
        "_csrf": csrf, "name": "居民电价", "kind": "flat", "price": "0.5283",
        "effective_from": "2025-01-01T00:00"})  # fmt: skip
    assert "已保存" in await flat.text()
    (ptype,) = await db.read(tariffs.list_types)
    await client.post(f"/price-types/{ptype.id}", data={
        "_csrf": csrf, "id": ptype.id, "name": "居民电价", "kind": "tiered",
        "thresholds": "200, 400", "prices": "0.5283, 0.5783, 0.8283", "settlement": "monthly",
        "effective_from": "2025-07-01T00:00"})  # fmt: skip
    versions = await db.read(tariffs.versions, ptype.id)
    assert [v.tariff["kind"] for v in versions] == ["flat", "tiered"]
    assert versions[1].tariff["prices"] == [5283, 5783, 8283]
    assert versions[1].tariff["ladder"]["thresholds"] == [20000, 40000]
    wrong = await client.post("/price-types", data={
        "_csrf": csrf, "name": "错", "kind": "tiered", "thresholds": "200",
        "prices": "0.5"})  # fmt: skip
    assert wrong.status == 400
    assert "E210" in await wrong.text()
    tou = await client.post("/price-types", data={
        "_csrf": csrf, "name": "分时", "kind": "tou", "price_peak": "0.8", "price_valley": "0.3",
        "price_flat": "0.5", "weekday": "00:00 谷; 08:00 峰; 22:00 谷"})  # fmt: skip
    assert "已保存" in await tou.text()


async def test_operators_permissions_and_self_protection(client: Client, db: Database) -> None:
    csrf = await admin(client, db)
    created = await client.post("/operators", data={
        "_csrf": csrf, "name": "cashier1", "display_name": "收银员", "password": "first-pass-1",
        "permissions": ["queries.view", "sales.daily"]})  # fmt: skip
    assert "首次登录需修改密码" in await created.text()
    cashier = await db.read(operators.by_name, "cashier1")
    assert cashier is not None
    assert cashier.must_change_password
    assert cashier.permissions == {"queries.view", "sales.daily"}
    me = await db.read(operators.by_name, "admin")
    assert me is not None
    refused = await client.post(f"/operators/{me.id}/delete", data={"_csrf": csrf})
    assert "E615" in await refused.text()
    await client.post(f"/operators/{cashier.id}/delete", data={"_csrf": csrf})
    gone = await db.read(operators.get, cashier.id)
    assert not gone.active


async def test_receipt_designer_save_preview_backup_restore(client: Client, db: Database) -> None:
    csrf = await admin(client, db)
    page = await client.get("/receipt-template")
    assert "售电收据" in await page.text()
    form = aiohttp.FormData()
    for key, value in (
        ("_csrf", csrf),
        ("paper", "roll80"),
        ("height_mm", "150"),
        ("margin_mm", "3"),
    ):
        form.add_field(key, value)
    rows = [
        ("text", "欢迎光临", "5", "4", "14"),
        ("field", "amount", "5", "12", "11"),
        ("line", "", "2", "20", "10"),
    ]
    for index, (kind, value, x, y, size) in enumerate(rows):
        for key, v in (
            ("el_kind", kind),
            ("el_value", value),
            ("el_x_mm", x),
            ("el_y_mm", y),
            ("el_font_pt", size),
            ("el_width_mm", "70" if kind == "line" else "0"),
        ):
            form.add_field(key, v)
        if kind == "field":
            form.add_field("el_label", str(index))
    form.add_field("el_bold", "0")
    saved = await client.post("/receipt-template", data=form)
    assert "已保存" in await saved.text()
    stored = parse_template(await db.read(siteinfo.get_receipt_template))
    assert stored.paper == "roll80"
    assert [e.value for e in stored.elements] == ["欢迎光临", "amount", ""]
    assert stored.elements[0].bold
    preview = await (await client.get("/receipt-template/preview")).text()
    assert "欢迎光临" in preview and "width:80mm" in preview and "金额（元）：100.00" in preview

    backup = await client.get("/receipt-template/backup")
    kept = json.loads(await backup.text())
    assert parse_template(kept) == stored
    # A broken file is refused and the template stays as it was.
    broken = aiohttp.FormData()
    broken.add_field("file", b'{"paper": "B5"}', filename="t.json")
    refused = await client.post(f"/receipt-template/restore?_csrf={csrf}", data=broken)
    assert refused.status == 400
    assert "E610" in await refused.text()
    assert parse_template(await db.read(siteinfo.get_receipt_template)) == stored
    good = aiohttp.FormData()
    good.add_field("file", json.dumps(default_template().to_json()).encode(), filename="t.json")
    restored = await client.post(f"/receipt-template/restore?_csrf={csrf}", data=good)
    assert "发票格式已恢复" in await restored.text()
    assert parse_template(await db.read(siteinfo.get_receipt_template)) == default_template()


async def test_organisation_and_master_station_settings(client: Client, db: Database) -> None:
    csrf = await admin(client, db)
    await client.post("/organisation", data={"_csrf": csrf, "name": "示例供电所", "phone": "123"})
    assert (await db.read(siteinfo.get_organisation)).name == "示例供电所"
    bad = await client.post("/settings/master-station", data={
        "_csrf": csrf, "dtu_listen_host": "not-an-ip", "dtu_listen_port": "9000",
        "mqtt_port": "8883", "mqtt_prefix": "p", "mqtt_site_id": "s", "mqtt_gateway_id": "g",
        "mqtt_keepalive": "60"})  # fmt: skip
    assert bad.status == 400
    assert "E606" in await bad.text()
    good = await client.post("/settings/master-station", data={
        "_csrf": csrf, "dtu_listen_host": "0.0.0.0", "dtu_listen_port": "9100",
        "mqtt_enabled": "1", "mqtt_host": "cloud.example", "mqtt_port": "8883", "mqtt_tls": "1",
        "mqtt_prefix": "prepaid", "mqtt_site_id": "s1", "mqtt_gateway_id": "g1",
        "mqtt_keepalive": "60"})  # fmt: skip
    assert good.status == 200
    stored = await db.read(siteinfo.get_setting, "comm.master_station")
    assert stored["dtu_listen_port"] == 9100
    assert stored["mqtt_enabled"] is True


async def test_backup_download_and_refused_restore(
    client: Client, db: Database, tmp_path: Path
) -> None:
    csrf = await admin(client, db)
    await db.write(customers.create_customer, CustomerSpec("C1", "张三"))
    response = await client.post("/system/backup", data={"_csrf": csrf})
    assert response.status == 200
    copy = tmp_path / "downloaded.sqlite"
    copy.write_bytes(await response.read())
    with sqlite3.connect(copy) as conn:
        assert conn.execute("SELECT name FROM customers").fetchall() == [("张三",)]
    # A file that is not a backup is refused and the live data stays.
    junk = aiohttp.FormData()
    junk.add_field("file", b"not a database at all", filename="x.sqlite")
    refused = await client.post(f"/system/restore?_csrf={csrf}", data=junk)
    assert refused.status == 400
    assert "E302" in await refused.text()
    assert await db.read(customers.customer_by_number, "C1") is not None
    assert "system.backup" in await log_actions(db)


async def test_oplog_maintenance_and_clear_all(client: Client, db: Database, clock: object) -> None:
    csrf = await admin(client, db)
    await db.write(customers.create_customer, CustomerSpec("C1", "张三"))
    # No condition at all: refused, nothing deleted.
    none = await client.post("/oplog/maintain", data={"_csrf": csrf})
    assert "E606" in await none.text()
    tomorrow = (dt.date(2025, 3, 1) + dt.timedelta(days=1)).isoformat()
    deleted = await client.post(
        "/oplog/maintain", data={"_csrf": csrf, "until": tomorrow, "action": "line."}
    )
    assert deleted.status == 200
    assert "oplog.delete" in await log_actions(db)
    wrong = await client.post(
        "/system/clear",
        data={"_csrf": csrf, "password": "nope", "confirmation": "清除所有用户信息"},
    )
    assert "E608" in await wrong.text()
    phrase = await client.post(
        "/system/clear", data={"_csrf": csrf, "password": PASSWORD, "confirmation": "清除"}
    )
    assert "E609" in await phrase.text()
    assert await db.read(customers.customer_by_number, "C1") is not None
    done = await client.post(
        "/system/clear",
        data={"_csrf": csrf, "password": PASSWORD, "confirmation": "清除所有用户信息"},
    )
    assert "全部用户信息已清除" in await done.text()
    assert await db.read(customers.customer_by_number, "C1") is None
    assert await db.read(operators.by_name, "admin") is not None


async def test_command_frames_reach_the_browser_stream(client: Client, db: Database) -> None:
    await admin(client, db)
    response = await client.get("/events/frames")
    assert response.headers["Content-Type"].startswith("text/event-stream")
    await response.content.readuntil(b"\n\n")  # retry: line
    client.app[FRAMES].publish(
        FrameEvent(dt.datetime(2025, 3, 1, tzinfo=dt.UTC), "tx", "rs485-1",
                   "68 01 00 00 00 00 00 68 11 04 33 33 34 33 B3 16", meter="000000000001")
    )  # fmt: skip
    chunk = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 10)
    assert b"event: frame" in chunk and b"68 01 00" in chunk
    response.close()


def test_amounts_in_chinese_capitals() -> None:
    assert yuan_in_words(10000) == "壹佰元整"
    assert yuan_in_words(12345) == "壹佰贰拾叁元肆角伍分"
    assert yuan_in_words(100500) == "壹仟零伍元整"
    assert yuan_in_words(1005) == "壹拾元零伍分"
    assert yuan_in_words(10000000) == "壹拾万元整"
    assert yuan_in_words(7) == "柒分"
    assert yuan_in_words(0) == "零元整"


async def test_pages_render_in_english_after_switching(client: Client, db: Database) -> None:
    csrf = await admin(client, db)
    await client.post("/lang", data={"_csrf": csrf, "lang": "en", "next": "/lines"})
    text = await (await client.get("/lines")).text()
    assert "Lines" in text and "线路管理" not in text
    _ = csrf_of(text)
