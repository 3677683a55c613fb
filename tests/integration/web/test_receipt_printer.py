"""【小票打印】: receipts of real sales sent to a receipt printer (a TCP listener on 127.0.0.1
standing in for a network printer, a FIFO for /dev/usb/lp0), recorded like the browser's
prints, and nothing recorded when the printer cannot be reached."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from gateway.store import customers, oplog, receipts, vends
from gateway.store.paging import PageRequest
from tests.support.site import Site
from web.config import PrinterConfig
from web.escpos import Command

from .conftest import PrinterStandIn, cashier
from .test_workflows import opened

Client = TestClient  # type: ignore[type-arg]
Opener = Callable[[PrinterConfig], AbstractAsyncContextManager[Client]]


async def post(client: Client, path: str, csrf: str, **form: str) -> ClientResponse:
    return await client.post(path, data={"_csrf": csrf, **form}, allow_redirects=False)


async def sale(site: Site) -> tuple[int, int, str]:
    """A real opening purchase on a simulated meter: (vend id, receipt number, customer name)."""
    _, account = await opened(site)
    vend = (await site.db.read(vends.for_account, account))[0]
    acc = await site.db.read(customers.get_account, account)
    customer = await site.db.read(customers.get_customer, acc.customer_id)
    return vend.id, int(vend.result["receipt_number"]), customer.name


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (a printer that is off refuses the connection)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_result_page_prints_the_original_then_a_copy(
    site: Site, printing_client: Opener, printer_stand_in: PrinterStandIn
) -> None:
    vend_id, number, name = await sale(site)
    assert any(ord(c) > 0x7F for c in name), "the seeded customer has a Chinese name"
    printer = PrinterConfig(kind="network", host="127.0.0.1", port=printer_stand_in.port)
    async with printing_client(printer) as client:
        csrf = await cashier(client)
        result = await (await client.get(f"/results/{vend_id}")).text()
        assert "【小票打印】" in result and "【发票打印】" in result

        first = await post(client, f"/receipts/{number}/printer", csrf, back=f"/results/{vend_id}")
        assert first.status == 303
        assert first.headers["Location"] == f"/results/{vend_id}"
        job = await printer_stand_in.next_job()
        assert job.startswith(Command.INIT + Command.CHINESE_ON)
        assert f"{number:08d}".encode() in job
        assert name.encode("gb18030") in job
        assert b"50.00" in job and "伍拾元整".encode("gb18030") in job
        assert job.endswith(Command.CUT_PARTIAL)
        assert "副本".encode("gb18030") not in job
        shown = await (await client.get(first.headers["Location"])).text()
        assert f"小票 {number:08d} 已送到小票打印机" in shown
        assert [p.copy for p in await site.db.read(receipts.prints, number)] == [False]

        second = await post(client, f"/receipts/{number}/printer", csrf, back=f"/results/{vend_id}")
        assert second.status == 303
        again = await printer_stand_in.next_job()
        assert "副本 COPY".encode("gb18030") in again
        assert f"{number:08d}".encode() in again
        assert [p.copy for p in await site.db.read(receipts.prints, number)] == [False, True]
        shown = await (await client.get(second.headers["Location"])).text()
        assert "（副本）已送到小票打印机" in shown


async def test_api_prints_the_original_and_the_reprint_query_a_copy(
    site: Site, printing_client: Opener, printer_stand_in: PrinterStandIn
) -> None:
    _, number, name = await sale(site)
    printer = PrinterConfig(kind="network", host="127.0.0.1", port=printer_stand_in.port, paper=80)
    async with printing_client(printer) as client:
        csrf = await cashier(client)
        answer = await client.post(
            f"/api/v1/receipts/{number}/printer", headers={"X-CSRF-Token": csrf}
        )
        assert answer.status == 200
        body = await answer.json()
        job = await printer_stand_in.next_job()
        assert body == {"number": number, "copy": False, "printer": "network", "bytes": len(job)}
        assert name.encode("gb18030") in job
        assert b"-" * 48 + b"\n" in job  # an 80 mm rule
        assert [p.copy for p in await site.db.read(receipts.prints, number)] == [False]

        query = await (await client.get(f"/receipts?receipt={number}")).text()
        assert "【小票打印】" in query and f"/receipts/{number}/reprint/printer" in query
        back = f"/receipts?receipt={number}"
        reprinted = await post(client, f"/receipts/{number}/reprint/printer", csrf, back=back)
        assert reprinted.status == 303 and reprinted.headers["Location"] == back
        job = await printer_stand_in.next_job()
        assert "副本 COPY".encode("gb18030") in job and name.encode("gb18030") in job
        assert [p.copy for p in await site.db.read(receipts.prints, number)] == [False, True]


async def test_a_refusing_printer_records_no_print(site: Site, printing_client: Opener) -> None:
    vend_id, number, _ = await sale(site)
    printer = PrinterConfig(kind="network", host="127.0.0.1", port=closed_port())
    async with printing_client(printer) as client:
        csrf = await cashier(client)
        page = await post(client, f"/receipts/{number}/printer", csrf, back=f"/results/{vend_id}")
        assert page.status == 303
        shown = await (await client.get(page.headers["Location"])).text()
        assert "E618" in shown and "无法连接" in shown

        answer = await client.post(
            f"/api/v1/receipts/{number}/printer", headers={"X-CSRF-Token": csrf}
        )
        assert answer.status == 502
        error = (await answer.json())["error"]
        assert error["code"] == "E618" and f"127.0.0.1:{printer.port}" in error["message"]
        assert error["remedy"]
    assert await site.db.read(receipts.prints, number) == []
    log = await site.db.read(
        oplog.query, oplog.OpLogFilter(action_prefix="receipt.print"), PageRequest()
    )
    assert [(e.result, e.error_code) for e in log.items] == [("error", "E618")] * 2


async def test_device_file_printer(site: Site, printing_client: Opener, tmp_path: Path) -> None:
    """A FIFO stands in for /dev/usb/lp0: the job arrives through the device-file transport."""
    _, number, name = await sale(site)
    fifo = tmp_path / "lp0"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def read_all() -> None:
        with fifo.open("rb") as device:
            received.append(device.read())

    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    printer = PrinterConfig(kind="device", path=str(fifo))
    async with printing_client(printer) as client:
        csrf = await cashier(client)
        for _ in range(50):  # the reader thread opens the FIFO (a printer being plugged in)
            answer = await client.post(
                f"/api/v1/receipts/{number}/printer", headers={"X-CSRF-Token": csrf}
            )
            if answer.status != 502:
                break
            await asyncio.sleep(0.05)
        assert answer.status == 200, await answer.text()
    await asyncio.to_thread(reader.join, 5)
    assert received and f"{number:08d}".encode() in received[0]
    assert name.encode("gb18030") in received[0] and received[0].endswith(Command.CUT_PARTIAL)
    assert [p.copy for p in await site.db.read(receipts.prints, number)] == [False]


async def test_a_missing_device_is_unreachable(
    site: Site, printing_client: Opener, tmp_path: Path
) -> None:
    _, number, _ = await sale(site)
    printer = PrinterConfig(kind="device", path=str(tmp_path / "no-such-lp0"))
    async with printing_client(printer) as client:
        csrf = await cashier(client)
        answer = await client.post(
            f"/api/v1/receipts/{number}/printer", headers={"X-CSRF-Token": csrf}
        )
        assert answer.status == 502
        assert (await answer.json())["error"]["code"] == "E618"
    assert await site.db.read(receipts.prints, number) == []


async def test_without_a_printer_there_is_no_button(site: Site, site_client: Client) -> None:
    vend_id, number, _ = await sale(site)
    csrf = await cashier(site_client)
    result = await (await site_client.get(f"/results/{vend_id}")).text()
    assert "【发票打印】" in result and "【小票打印】" not in result
    refused = await post(site_client, f"/receipts/{number}/printer", csrf)
    assert refused.status == 409 and "E617" in await refused.text()
    assert await site.db.read(receipts.prints, number) == []
