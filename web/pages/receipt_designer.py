"""F5.3 receipt template (发票格式设计): design (fields, texts and rules placed by dragging or by
coordinates, font sizes, paper), live preview, backup to a file and restore from a file.

The manual's program backs up to an ``.fr3`` file; ours is the template's JSON. A restored file
is validated completely (E610 naming the problem) before it replaces anything.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import BodyPartReader, web

from gateway.store import siteinfo
from web.audit import audited
from web.errors import BAD_TEMPLATE, NO_FILE, Described, WebError
from web.forms import Fields
from web.keys import DATABASE, TEXTS, context
from web.pages.common import described, is_operator_error
from web.receipts import (
    FIELDS,
    PAPERS,
    ReceiptTemplate,
    default_template,
    parse_template,
    place,
    sample_values,
)
from web.render import flash_key, json_response, redirect, render
from web.routes import RouteTable
from web.schemas import answers, obj

routes = RouteTable()

MAX_FILE = 256 * 1024
TEMPLATE_SCHEMA = obj({}, extra=True)
TEMPLATE_SCHEMA["description"] = "receipt template JSON (see docs/web.md)"


async def load_template(request: web.Request) -> ReceiptTemplate:
    stored = await request.app[DATABASE].read(siteinfo.get_receipt_template)
    if stored is None:
        return default_template()
    try:
        return parse_template(stored)
    except WebError:
        return default_template()  # a template the designer cannot read is shown as default


async def _save(request: web.Request, template: ReceiptTemplate, action: str) -> None:
    data = template.to_json()
    await audited(
        request,
        action,
        "receipt_template",
        lambda c: siteinfo.save_receipt_template(c, data),
        detail={"paper": template.paper, "elements": len(template.elements)},
    )


def _from_form(fields: Fields, form: Any) -> ReceiptTemplate:
    """The designer posts one row per element as parallel lists (el_kind, el_value, ...)."""
    getall = form.getall
    kinds = getall("el_kind", [])
    columns = {
        name: getall(f"el_{name}", []) for name in ("value", "x_mm", "y_mm", "font_pt", "width_mm")
    }
    bold = set(getall("el_bold", []))
    labelled = set(getall("el_label", []))
    if any(len(values) != len(kinds) for values in columns.values()):
        raise WebError(BAD_TEMPLATE, problem="element rows are incomplete")
    elements = []
    for index, kind in enumerate(kinds):
        if kind == "remove":
            continue
        row: dict[str, Any] = {"kind": kind, "value": columns["value"][index]}
        for name in ("x_mm", "y_mm", "font_pt", "width_mm"):
            text = str(columns[name][index]).strip() or "0"
            if not text.isdigit():
                raise WebError(BAD_TEMPLATE, problem=f"row {index + 1}: {name} must be a number")
            row[name] = int(text)
        row["bold"] = str(index) in bold
        row["show_label"] = str(index) in labelled
        elements.append(row)
    paper = fields.choice("paper", list(PAPERS))
    return parse_template(
        {
            "paper": paper,
            "height_mm": fields.integer("height_mm", default=PAPERS[paper][1]),
            "margin_mm": fields.integer("margin_mm", default=8),
            "elements": elements,
        }
    )


def _designer(
    request: web.Request,
    template: ReceiptTemplate,
    *,
    error: Described | None = None,
    status: int = 200,
) -> web.StreamResponse:
    texts = request.app[TEXTS]
    lang = context(request).lang

    def label(key: str) -> str:
        return texts.text(lang, key)

    samples = sample_values()
    return render(
        request,
        "receipt_designer.html",
        status=status,
        title_key="menu.receipt_designer",
        template=template,
        placed=place(template, samples, label),
        field_options=[(key, label(d.label)) for key, d in FIELDS.items()],
        papers=PAPERS,
        samples_json=json.dumps(
            {k: {"label": label(d.label), "sample": samples[k]} for k, d in FIELDS.items()},
            ensure_ascii=False,
        ),
        error=error,
        copy=False,
    )


@routes.page(
    "GET",
    "/receipt-template",
    name="receipt_designer",
    permission="receipts.design",
    feature="F5.3",
)
async def designer(request: web.Request) -> web.StreamResponse:
    return _designer(request, await load_template(request))


@routes.page(
    "POST",
    "/receipt-template",
    name="receipt_designer_save",
    permission="receipts.design",
    feature="F5.3",
)
async def designer_save(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        template = _from_form(Fields(form), form)
        await _save(request, template, "receipt_template.save")
    except Exception as exc:
        if not is_operator_error(exc):
            raise
        return _designer(
            request, await load_template(request), error=described(request, exc), status=400
        )
    flash_key(request, "common.saved")
    raise redirect(request, "receipt_designer")


@routes.page(
    "POST",
    "/receipt-template/default",
    name="receipt_designer_default",
    permission="receipts.design",
    feature="F5.3",
)
async def designer_default(request: web.Request) -> web.StreamResponse:
    await _save(request, default_template(), "receipt_template.default")
    flash_key(request, "receipt.default_restored")
    raise redirect(request, "receipt_designer")


@routes.page(
    "GET",
    "/receipt-template/preview",
    name="receipt_preview",
    permission="receipts.design",
    feature="F5.3",
)
async def preview(request: web.Request) -> web.StreamResponse:
    """【进入发票预览】: the saved template filled with sample values, as it prints."""
    template = await load_template(request)
    texts = request.app[TEXTS]
    lang = context(request).lang
    return render(
        request,
        "receipt.html",
        template=template,
        placed=place(template, sample_values(), lambda key: texts.text(lang, key)),
        copy=False,
        sample=True,
    )


@routes.page(
    "GET",
    "/receipt-template/backup",
    name="receipt_backup",
    permission="receipts.design",
    feature="F5.3",
    produces="application/json",
)
async def backup(request: web.Request) -> web.StreamResponse:
    """【备份发票格式】: the template as a file to keep."""
    template = await load_template(request)
    await audited(request, "receipt_template.backup", "receipt_template", lambda c: None)
    body = json.dumps(template.to_json(), ensure_ascii=False, indent=2)
    return web.Response(
        text=body,
        content_type="application/json",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="receipt-template.json"'},
    )


async def _uploaded_json(request: web.Request) -> Any:
    if request.content_type != "multipart/form-data":
        raise WebError(NO_FILE, field="file")
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, BodyPartReader) or part.name != "file":
            continue
        data = bytearray()
        while chunk := await part.read_chunk(64 * 1024):
            data += chunk
            if len(data) > MAX_FILE:
                raise WebError(BAD_TEMPLATE, problem="file too large")
        if not data:
            break
        try:
            return json.loads(bytes(data).decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise WebError(BAD_TEMPLATE, problem="not a JSON template file") from exc
    raise WebError(NO_FILE, field="file")


@routes.page(
    "POST",
    "/receipt-template/restore",
    name="receipt_restore",
    permission="receipts.design",
    feature="F5.3",
)
async def restore(request: web.Request) -> web.StreamResponse:
    """【恢复发票格式】: validate the chosen file completely, then replace the template."""
    try:
        template = parse_template(await _uploaded_json(request))
        await _save(request, template, "receipt_template.restore")
    except WebError as exc:
        return _designer(
            request, await load_template(request), error=described(request, exc), status=400
        )
    flash_key(request, "receipt.restored")
    raise redirect(request, "receipt_designer")


@routes.api(
    "GET",
    "/api/v1/receipt-template",
    name="api_receipt_template",
    permission="receipts.design",
    feature="F5.3",
    summary="The receipt template",
    responses=answers(TEMPLATE_SCHEMA),
)
async def api_get(request: web.Request) -> web.StreamResponse:
    return json_response((await load_template(request)).to_json())


@routes.api(
    "PUT",
    "/api/v1/receipt-template",
    name="api_receipt_template_save",
    permission="receipts.design",
    feature="F5.3",
    summary="Replace the receipt template (validated first)",
    body={**obj({}, extra=True), "example": default_template().to_json()},
    responses=answers(TEMPLATE_SCHEMA, 400),
)
async def api_save(request: web.Request) -> web.StreamResponse:
    try:
        data = await request.json()
    except ValueError as exc:
        raise WebError(BAD_TEMPLATE, problem="not JSON") from exc
    template = parse_template(data)
    await _save(request, template, "receipt_template.save")
    return json_response(template.to_json())
