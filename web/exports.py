"""Excel (.xlsx) and CSV exports of the queries (【导入Excel】), streamed without blocking.

The rows are read and the file is written on one of the store's reader threads (inside one
snapshot, so the file is consistent), into a temporary file that is unlinked at once; the
response then streams it in chunks, each read in a thread. XlsxWriter's ``constant_memory``
mode keeps memory flat however many rows there are. Money and energy cells are numbers with two
decimals (Excel stores them as doubles: an export is for people; the ledger stays exact).
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, BinaryIO, Literal
from urllib.parse import quote

import xlsxwriter
from aiohttp import web

from gateway.store.conn import Conn
from web import downloads
from web.formatting import local_time
from web.keys import CONFIG

Kind = Literal["text", "money", "energy", "price", "time", "int"]
Format = Literal["xlsx", "csv"]
CHUNK = 256 * 1024
MAX_ROWS = 1_048_575  # Excel's limit below the header row
CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


@dataclass(frozen=True)
class Column:
    header: str  # translated header text
    get: Callable[[Any], Any]
    kind: Kind = "text"
    width: int = 14


def _cell(kind: Kind, value: Any) -> Any:
    """A row value as it goes into a cell: Decimal for money/energy/price, text for times."""
    if value is None:
        return None
    if kind in ("money", "energy"):
        return Decimal(int(value)).scaleb(-2)
    if kind == "price":
        return Decimal(int(value)).scaleb(-4)
    if kind == "time":
        return local_time(value)
    if kind == "int":
        return int(value)
    return str(value)


def write_xlsx(handle: BinaryIO, sheet: str, columns: Sequence[Column], rows: Iterable[Any]) -> int:
    workbook = xlsxwriter.Workbook(
        handle, {"constant_memory": True, "in_memory": False, "tmpdir": tempfile.gettempdir()}
    )
    worksheet = workbook.add_worksheet(sheet[:31])
    head = workbook.add_format({"bold": True, "bg_color": "#E8F0FA", "border": 1})
    formats = {
        "money": workbook.add_format({"num_format": "0.00"}),
        "energy": workbook.add_format({"num_format": "0.00"}),
        "price": workbook.add_format({"num_format": "0.0000"}),
    }
    for index, column in enumerate(columns):
        worksheet.set_column(index, index, column.width)
        worksheet.write_string(0, index, column.header, head)
    count = 0
    for count, row in enumerate(rows, start=1):
        if count > MAX_ROWS:
            break
        for index, column in enumerate(columns):
            value = _cell(column.kind, column.get(row))
            if value is None:
                continue
            if isinstance(value, Decimal):
                worksheet.write_number(count, index, value, formats[column.kind])
            elif isinstance(value, int):
                worksheet.write_number(count, index, value)
            else:
                worksheet.write_string(count, index, value)
    worksheet.freeze_panes(1, 0)
    workbook.close()
    return count


def write_csv(handle: BinaryIO, columns: Sequence[Column], rows: Iterable[Any]) -> int:
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
    writer = csv.writer(text)
    writer.writerow([c.header for c in columns])
    count = 0
    for count, row in enumerate(rows, start=1):  # noqa: B007
        values = []
        for column in columns:
            value = _cell(column.kind, column.get(row))
            if isinstance(value, Decimal):
                value = format(value, "f")
            values.append("" if value is None else value)
        writer.writerow(values)
    text.flush()
    text.detach()
    return count


async def export_response(
    request: web.Request,
    *,
    database_read: Callable[[Callable[[Conn], int]], Any],
    rows: Callable[[Conn], Iterable[Any]],
    columns: Sequence[Column],
    fmt: Format,
    filename: str,
    sheet: str,
    now: dt.datetime,
) -> web.StreamResponse:
    """Build the file off the event loop, then stream it."""
    handle = tempfile.TemporaryFile()  # noqa: SIM115 (closed after streaming)

    def build(c: Conn) -> int:
        handle.seek(0)
        handle.truncate()
        if fmt == "xlsx":
            return write_xlsx(handle, sheet, columns, rows(c))
        return write_csv(handle, columns, rows(c))

    try:
        await database_read(build)
        size = await asyncio.to_thread(_size_and_rewind, handle)
        stamp = now.astimezone().strftime("%Y%m%d-%H%M")
        name = f"{filename}-{stamp}.{fmt}"
        response = web.StreamResponse(
            headers={
                "Content-Type": CONTENT_TYPES[fmt],
                "Content-Disposition": f'attachment; filename="{filename}.{fmt}"; '
                f"filename*=UTF-8''{quote(name)}",
                "Content-Length": str(size),
            }
        )
        downloads.mark_started(
            response, downloads.token_of(request), secure=request.app[CONFIG].tls
        )
        await response.prepare(request)
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        handle.close()


def _size_and_rewind(handle: BinaryIO) -> int:
    size = handle.seek(0, os.SEEK_END)
    handle.seek(0)
    return size
