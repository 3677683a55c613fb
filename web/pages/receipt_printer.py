"""【小票打印】: a receipt straight to the ESC/POS receipt printer of ``[printer]``.

The button sits next to the browser's print buttons: 【发票打印】 on the result of a sale,
refund or replacement, and 【发票补打】 in the F3.4 reprint query. A direct print is recorded
exactly like the browser's: the first print of a receipt is the original, every later one a
copy (副本, marked on the paper) that needs the reprint permission; from F3.4 it is always a
copy. The print is recorded (``receipt_prints`` and the operation log) only after the printer
took the whole job; a printer that is off, refuses or stops answering gives E618/E619 and
records nothing (the refusal is in the operation log).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.store import receipts
from gateway.store.conn import Conn
from gateway.store.receipts import Receipt
from web import escpos, printer
from web.audit import audited, log_failure
from web.errors import FORBIDDEN, PRINTER_NOT_CONFIGURED, WebError
from web.keys import DATABASE, PRINTER, PRINTER_LOCK, context, operator
from web.pages.common import described
from web.pages.queries import placed_receipt
from web.render import flash_key, json_response
from web.routes import SIGNED_IN, RouteTable
from web.schemas import answers, obj
from web.workflow import flash_error, safe_back

routes = RouteTable()

NUMBER = r"{number:\d+}"

PRINTED = obj(
    {
        "number": {"type": "integer"},
        "copy": {"type": "boolean", "description": "printed as a copy (副本): not the first print"},
        "printer": {"type": "string", "enum": ["network", "device"]},
        "bytes": {"type": "integer", "description": "size of the ESC/POS job sent"},
    }
)


@dataclass(frozen=True)
class DirectPrint:
    receipt: Receipt
    copy: bool
    size: int  # bytes of the ESC/POS job


async def print_direct(request: web.Request, number: int, *, reprint: bool) -> DirectPrint:
    """Print receipt ``number`` on the receipt printer and record the print. ``reprint``
    (F3.4) always prints a copy."""
    config = request.app[PRINTER]
    if not config.enabled:
        raise WebError(PRINTER_NOT_CONFIGURED, 409)
    db = request.app[DATABASE]
    receipt = await db.read(receipts.get, number)
    _, placed = await placed_receipt(request, receipt)
    lines = escpos.lines_from_placed(placed)
    me = operator(request)
    async with request.app[PRINTER_LOCK]:
        printed = await db.read(receipts.prints, number)
        copy = reprint or any(not p.copy for p in printed)
        if copy and not context(request).can("receipts.reprint"):
            raise WebError(FORBIDDEN, 403)
        job = escpos.receipt_bytes(lines, paper=config.paper, copy=copy, cut=config.cut)
        action = "receipt.reprint" if copy else "receipt.print"
        target = f"receipt:{number}"
        detail: dict[str, Any] = {"printer": config.kind, "at": config.target, "bytes": len(job)}
        try:
            await printer.send(config, job)
        except WebError as exc:
            await log_failure(request, action, target, exc, detail)
            raise

        def record(c: Conn) -> None:
            receipts.record_print(c, number, operator_id=me.id, copy=copy)

        await audited(request, action, target, record, detail=detail)
    return DirectPrint(receipt, copy, len(job))


async def _page(request: web.Request, *, reprint: bool) -> web.StreamResponse:
    """Print, then back to the page the button was on, with the outcome shown there."""
    number = int(request.match_info["number"])
    form = await request.post()
    back = form.get("back")
    default = str(request.app.router["receipt_reprint"].url_for())
    to = safe_back(back if isinstance(back, str) else None, default)
    try:
        done = await print_direct(request, number, reprint=reprint)
    except WebError as exc:
        if exc.code in (FORBIDDEN, PRINTER_NOT_CONFIGURED):
            raise
        flash_error(request, described(request, exc))
        raise web.HTTPSeeOther(location=to) from None
    key = "receipt.sent_to_printer_copy" if done.copy else "receipt.sent_to_printer"
    flash_key(request, key, number=f"{number:08d}")
    raise web.HTTPSeeOther(location=to)


@routes.page("POST", f"/receipts/{NUMBER}/printer", name="receipt_printer", permission=SIGNED_IN)
async def receipt_printer(request: web.Request) -> web.StreamResponse:
    """【小票打印】 on a result page: the original the first time, a copy after that (which
    needs the reprint permission), as 【发票打印】."""
    return await _page(request, reprint=False)


@routes.page(
    "POST",
    f"/receipts/{NUMBER}/reprint/printer",
    name="receipt_reprint_printer",
    permission="receipts.reprint",
    feature="F3.4",
)
async def receipt_reprint_printer(request: web.Request) -> web.StreamResponse:
    """【小票打印】 in the F3.4 reprint query: a copy, as 【发票补打】."""
    return await _page(request, reprint=True)


@routes.api(
    "POST",
    f"/api/v1/receipts/{NUMBER}/printer",
    name="api_receipt_printer",
    permission=SIGNED_IN,
    feature="F3.4",
    summary="Print a receipt on the gateway's receipt printer and record the print (the first "
    "print is the original; later ones are copies and need receipts.reprint). 409 E617: no "
    "printer configured; 502 E618/E619: the printer cannot be reached or stopped answering "
    "(nothing recorded)",
    responses=answers(PRINTED, 404, 409, 502),
)
async def api_receipt_printer(request: web.Request) -> web.StreamResponse:
    number = int(request.match_info["number"])
    done = await print_direct(request, number, reprint=False)
    return json_response(
        {
            "number": done.receipt.number,
            "copy": done.copy,
            "printer": request.app[PRINTER].kind,
            "bytes": done.size,
        }
    )
