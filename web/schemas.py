"""JSON-schema building blocks for the API's route declarations (and so its OpenAPI document)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Schema = dict[str, Any]


def obj(
    properties: Mapping[str, Schema],
    required: tuple[str, ...] | None = None,
    *,
    example: Mapping[str, Any] | None = None,
    extra: bool = False,
) -> Schema:
    """An object; every property is required unless ``required`` says otherwise."""
    schema: Schema = {
        "type": "object",
        "properties": dict(properties),
        "required": list(properties if required is None else required),
        "additionalProperties": extra,
    }
    if example is not None:
        schema["example"] = dict(example)
    return schema


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
BOOLEAN: Schema = {"type": "boolean"}
TIMESTAMP: Schema = {"type": "string", "description": "UTC, ISO 8601"}
# Money and energy leave the API as exact decimal strings ("12.34"), never as floats.
YUAN: Schema = {"type": "string", "pattern": r"^-?\d+\.\d{2}$", "description": "yuan"}
KWH: Schema = {"type": "string", "pattern": r"^-?\d+\.\d{2}$", "description": "kWh"}
PRICE: Schema = {"type": "string", "pattern": r"^\d+\.\d{4}$", "description": "yuan/kWh"}

ERROR: Schema = obj(
    {
        "error": obj(
            {
                "code": {"type": "string", "pattern": r"^E\d{3}$"},
                "message": STRING,
                "remedy": STRING,
                "field": nullable(STRING),
            }
        )
    }
)
OK: Schema = obj({"ok": {"const": True}})


def page_of(item: Schema) -> Schema:
    return obj(
        {
            "items": array(item),
            "offset": INTEGER,
            "limit": INTEGER,
            "has_more": BOOLEAN,
            "total": nullable(INTEGER),
        }
    )


def answers(ok: Schema | None, *codes: int, ok_status: int = 200) -> dict[int, Schema | None]:
    """The documented answers: ``ok`` for success plus the error schema for each code."""
    result: dict[int, Schema | None] = {ok_status: ok}
    for code in (401, 403, *codes):
        result[code] = ERROR
    return result


# ---- the workflows (F2-F4, F7) -------------------------------------------------------------

IDEMPOTENCY_KEY: Schema = {
    "type": "string",
    "pattern": r"^[A-Za-z0-9_-]{16,64}$",
    "description": "chosen by the client, one per sale: a repeated request returns the first "
    "result and never sells twice",
}
AMOUNT_IN: Schema = {
    "type": "string",
    "pattern": r"^\d+(\.\d{1,2})?$",
    "description": "yuan, as a decimal string",
}
SALE_RESULT: Schema = obj(
    {
        "vend_id": INTEGER,
        "state": {"enum": ["pending", "sent", "uncertain", "confirmed", "failed"]},
        "amount": YUAN,
        "energy": KWH,
        "remainder": YUAN,
        "purchase_count": nullable(INTEGER),
        "receipt_number": nullable(INTEGER),
        "meter": STRING,
        "repeated": BOOLEAN,
        "error": nullable(STRING),
    }
)
REFUND_RESULT: Schema = obj(
    {
        "vend_id": INTEGER,
        "state": {"enum": ["pending", "sent", "uncertain", "confirmed", "failed"]},
        "refund": YUAN,
        "owed": YUAN,
        "receipt_number": nullable(INTEGER),
        "repeated": BOOLEAN,
    }
)
METER_PARAMETERS: Schema = obj(
    {
        "address": STRING,
        "values": {"type": "object", "additionalProperties": STRING},
        "relay": STRING,
        "relay_open": nullable(BOOLEAN),
        "errors": {"type": "object", "additionalProperties": STRING},
    }
)
ACCOUNT: Schema = obj(
    {
        "account_id": INTEGER,
        "status": {"enum": ["open", "closed"]},
        "customer": obj(
            {"id": INTEGER, "number": STRING, "name": STRING, "phone": STRING, "address": STRING}
        ),
        "meter": obj({"id": INTEGER, "address": STRING, "type": STRING}),
        "wallet_model": STRING,
        "value_kind": STRING,
        "price_type": STRING,
        "balance": YUAN,
        "purchased": YUAN,
        "purchases": INTEGER,
        "remainder": YUAN,
        "relay_open": nullable(BOOLEAN),
        "online": nullable(BOOLEAN),
        "meter_remaining": nullable(STRING),
    }
)
