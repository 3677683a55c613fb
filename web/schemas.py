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
