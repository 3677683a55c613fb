"""F7.5 系统抄表 through the web: read all meters with progress, read one, the three lists,
acknowledging alarms, and the Excel exports, on the real poller and simulated meters."""

from __future__ import annotations

import asyncio
import io

import openpyxl
from aiohttp.test_utils import TestClient

from gateway.simulator.faults import Faults
from gateway.store import alarms
from gateway.store.alarms import Category, NewAlarm, Severity
from tests.support.site import Site

from .conftest import cashier

Client = TestClient  # type: ignore[type-arg]


async def wait_for_job(client: Client, job_id: str) -> dict[str, object]:
    for _ in range(300):
        answer = await client.get(f"/api/v1/jobs/{job_id}")
        job: dict[str, object] = await answer.json()
        if job["state"] != "running":
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} still running")


async def test_read_all_meters_with_progress(site: Site, reading_client: Client) -> None:
    silent = site.meter("money", 3)[0]
    site.meters[silent].faults = Faults(silent=True)
    csrf = await cashier(reading_client)
    started = await reading_client.post(
        "/monitoring/read-all", data={"_csrf": csrf}, allow_redirects=False
    )
    assert started.status == 303
    job_id = started.headers["Location"].split("job=")[1]
    page = await reading_client.get(started.headers["Location"])
    assert 'id="job"' in await page.text()

    job = await wait_for_job(reading_client, job_id)
    total = len(site.seeded.meters)
    assert job["state"] == "done"
    assert (job["done"], job["total"], job["ok"]) == (total, total, total - 1)
    assert job["failed"] == [silent]

    page = await reading_client.get("/monitoring")
    html = await page.text()
    assert "【抄表开始】" in html and "【单只读表】" in html
    assert html.count('class="dot on"') == total - 1

    export = await reading_client.get("/monitoring/monitoring.xlsx?download=waiting01")
    assert export.status == 200
    # The page that asked shows "preparing…" until this cookie says the file is coming.
    assert export.cookies["pg_download"].value == "waiting01"
    book = openpyxl.load_workbook(io.BytesIO(await export.read()), read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    online = header.index("在线")
    assert len(body) == total
    by_address = {r[0]: r[online] for r in body}
    assert by_address[silent] == "offline"
    assert sum(1 for v in by_address.values() if v == "online") == total - 1


async def test_read_one_meter(site: Site, reading_client: Client) -> None:
    csrf = await cashier(reading_client)
    address = site.meter("money", 0)[0]
    meter_id = site.meter_id(address)
    done = await reading_client.post(
        f"/monitoring/read/{meter_id}", data={"_csrf": csrf}, allow_redirects=False
    )
    assert done.status == 303
    page = await (await reading_client.get("/monitoring")).text()
    assert f"电表 {address} 已读取" in page
    api = await reading_client.post(
        f"/api/v1/meters/{meter_id}/read", headers={"X-CSRF-Token": csrf}
    )
    assert (await api.json())["ok"] is True


async def test_alarms_are_listed_acknowledged_and_exported(
    site: Site, reading_client: Client
) -> None:
    address = site.meter("money", 1)[0]
    record, _ = await site.db.write(
        alarms.raise_or_touch,
        NewAlarm(address, "alarm1", Category.ALARM, "E180", Severity.WARNING,
                 meter_id=site.meter_id(address), detail="remaining 15.00 below 20.00"),
        site.clock.now(),
    )  # fmt: skip
    csrf = await cashier(reading_client)
    page = await (await reading_client.get("/monitoring?tab=alarms")).text()
    assert address in page and "remaining 15.00" in page
    assert f'name="alarm" value="{record.id}"' in page

    acked = await reading_client.post(
        "/monitoring/ack",
        data={"_csrf": csrf, "tab": "alarms", "alarm": str(record.id), "note": "called"},
        allow_redirects=False,
    )
    assert acked.status == 303
    after = await site.db.read(alarms.get, record.id)
    assert after.acked_at is not None and after.ack_note == "called"
    page = await (await reading_client.get("/monitoring?tab=alarms")).text()
    assert f'name="alarm" value="{record.id}"' not in page

    nothing = await reading_client.post(
        "/monitoring/ack", data={"_csrf": csrf, "tab": "alarms"}, allow_redirects=False
    )
    assert nothing.status == 303
    assert "E606" in await (await reading_client.get("/monitoring?tab=alarms")).text()

    export = await reading_client.get("/monitoring/alarms.xlsx?active=")
    book = openpyxl.load_workbook(io.BytesIO(await export.read()), read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    assert len(rows) == 2 and address in rows[1] and "E180" in rows[1]
