"""The compiled schema predicates give exactly jsonschema's verdict, and validate() uses them.

The property test is what makes "predicate says invalid, jsonschema finds nothing" (the generic
ContractError in validate()) impossible in practice: it mutates valid messages of every schema
in the ways senders get them wrong and compares the two verdicts.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema.exceptions import best_match

from gateway.sync import contract
from gateway.sync.contract import (
    SCHEMA_BASE,
    SCHEMA_NAMES,
    ContractError,
    ContractValidator,
    load_schema,
    validate,
)
from gateway.sync.schema_compile import CompiledSchemas, SchemaCompileError
from tests.unit.sync.examples import HEX64, VALID

Path = tuple[str | int, ...]


def compile_one(schema: dict[str, Any]) -> Any:
    return CompiledSchemas({"t": schema}, SCHEMA_BASE).predicate("t")


# ---------------------------------------------------------------- the project's schemas


def test_every_schema_has_valid_examples() -> None:
    assert set(VALID) == set(SCHEMA_NAMES)


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_schema_compiles_and_accepts_its_examples(name: str) -> None:
    check = contract.predicate(name)
    assert contract.predicate(name) is check  # compiled once
    for example in VALID[name]:
        assert contract.validator(name).is_valid(example), example
        assert check(example), example
        validate(name, example)


def _paths(value: object, here: Path = ()) -> list[Path]:
    out = [here]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*here, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*here, i))
    return out


def _get(value: Any, path: Path) -> Any:
    for step in path:
        value = value[step]
    return value


def _set(root: Any, path: Path, new: object) -> Any:
    if not path:
        return new
    _get(root, path[:-1])[path[-1]] = new
    return root


def _property_names() -> list[str]:
    names: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            names.update(k for k in node.get("properties", {}) if isinstance(k, str))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for schema in SCHEMA_NAMES:
        walk(load_schema(schema))
    return sorted(names)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
# Values next to the schemas' edges: bounds, lengths, patterns, enum members, bool-for-int.
EDGES: list[object] = [
    True, False, 0, 1, -1, 99999999, 100000000, 2**63, 5.0, 0.5, -0.0, None, [], {},
    "", "x", "a" * 65, "a" * 129, "a" * 201, "a" * 501, "000000000005", "00000000005",
    "0000000000050", "000000000005\n", "00000000000a", "2025-06-01T09:00:00Z",
    "2025-06-01T09:00:00.1234567Z", "2025-06-01 09:00:00", "1.0", "2.0", "1.x", "E123", "E12",
    HEX64, HEX64.upper(), "sales", "refunds", "relay", "vend", "read_now", "keep_power", "open",
    "confirmed", "comm", "flat", "site/1", "prepaid-gateway-outbox", "12.50", "-3",
    ["000000000005", "000000000005"], ["000000000005"], [1, True], [[1], [True]],
    {"en": "a", "zh": "b"}, {"first": 1, "last": 0}, {"seq": 1, "acked": 0},
]  # fmt: skip
KEYS = [*_property_names(), "extra", "x_fen", "x_ckwh", "x_e4", "_fen", "fen", "sales", ""]


@st.composite
def mutated(draw: st.DrawFn, name: str) -> object:
    """A valid example of ``name`` after one to three random edits anywhere inside it."""
    instance: Any = copy.deepcopy(draw(st.sampled_from(VALID[name])))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(instance)))
        target = _get(instance, path)
        kind = draw(st.sampled_from(["drop", "edge", "random", "add", "flip", "bump", "text"]))
        if kind == "drop" and path:
            del _get(instance, path[:-1])[path[-1]]
        elif kind == "edge":
            instance = _set(instance, path, copy.deepcopy(draw(st.sampled_from(EDGES))))
        elif kind == "random":
            instance = _set(instance, path, draw(JSON_VALUES))
        elif kind == "add" and isinstance(target, dict):
            extra = draw(st.sampled_from(EDGES) | JSON_VALUES)
            target[draw(st.sampled_from(KEYS) | st.text(max_size=6))] = copy.deepcopy(extra)
        elif kind == "add" and isinstance(target, list):
            target.append(draw(st.sampled_from(target) if target else JSON_VALUES))
        elif kind == "flip" and isinstance(target, bool | int):
            # bool <-> int with the same truth value: the JSON-vs-Python type trap
            flipped = int(target) if isinstance(target, bool) else target == 1
            instance = _set(instance, path, flipped)
        elif kind == "bump" and isinstance(target, int) and not isinstance(target, bool):
            step = draw(st.sampled_from([-1, 1, -(10**8), 10**8]))
            instance = _set(instance, path, target + step)
        elif kind == "text" and isinstance(target, str):
            edit = draw(st.sampled_from([target[:-1], target + "\n", target + "x", "x" + target]))
            instance = _set(instance, path, edit)
    return instance


@pytest.mark.parametrize("name", SCHEMA_NAMES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_compiled_verdict_equals_jsonschema_on_mutated_examples(
    name: str, data: st.DataObject
) -> None:
    instance = data.draw(mutated(name))
    expected = contract.validator(name).is_valid(instance)
    assert contract.predicate(name)(instance) == expected, instance


# ---------------------------------------------------------------- JSON semantics, in isolation

CORNERS: list[tuple[dict[str, Any], list[object]]] = [
    ({"const": 1}, [1, True, 1.0, "1", [1]]),
    ({"const": True}, [True, 1, 1.0, False]),
    ({"const": [1, {"a": False}]}, [[1, {"a": False}], [True, {"a": False}], [1, {"a": 0}]]),
    ({"enum": [0, "a", [1]]}, [0, False, 0.0, "a", [1], [True], None]),
    ({"enum": ["a", "b"]}, ["a", "c", 1, ["a"]]),
    ({"type": "integer"}, [1, True, 1.0, 1.5, "1", None]),
    ({"type": "number", "minimum": 0, "maximum": 10}, [True, -1, 0, 10, 11, 5.5, "x"]),
    ({"minimum": 1, "maximum": 2}, ["a", 0, 3, True, False, None, [0]]),
    ({"type": ["string", "null"], "maxLength": 1}, ["a", "ab", None, 1, False]),
    ({"minLength": 2, "maxLength": 3}, ["a", "abc", "abcd", "你好", 12345, ["a"]]),
    ({"pattern": "^a$"}, ["a", "a\n", "ba", 1, None]),
    ({"pattern": "^\\d+$"}, ["12", "1\n", "١٢", "x"]),
    ({"pattern": "^[$]+$"}, ["$", "$$", "$\n", "a"]),
    ({"pattern": "b"}, ["abc", "a"]),
    ({"uniqueItems": True}, [[1, True], [1, 1.0], [[1], [True]], [{"a": 1}, {"a": True}]]),
    ({"uniqueItems": True}, [[{"a": 1}, {"a": 1}], [0, False], ["a", "a"], "aa", []]),
    ({"items": {"type": "string"}, "minItems": 1, "maxItems": 2}, [[], ["a"], ["a", 1], "ab"]),
    (
        {
            "properties": {"a": {"type": "integer"}},
            "required": ["a"],
            "patternProperties": {"^x": {"type": "string"}},
            "additionalProperties": False,
        },
        [{"a": 1}, {"a": 1, "xy": "2"}, {"a": 1, "xy": 2}, {"a": 1, "b": 2}, {}, [], "a"],
    ),
    (
        {"additionalProperties": {"type": "integer"}, "propertyNames": {"pattern": "^[a-z]+$"}},
        [{"ab": 1}, {"Ab": 1}, {"ab": "1"}, {}, ["ab"]],
    ),
    (
        {"$ref": "#/$defs/s", "$defs": {"s": {"type": "string"}}, "minLength": 2},
        ["ab", "a", 12],
    ),
    (
        {
            "if": {"properties": {"k": {"const": 1}}},
            "then": {"required": ["t"]},
            "else": {"required": ["e"]},
        },
        [{"k": 1, "t": 0}, {"k": 1, "e": 0}, {"k": 2, "e": 0}, {"e": 0}, {}, 5],
    ),
    ({"if": {"type": "string"}, "then": {"minLength": 1}}, ["", "a", 1]),
    ({"anyOf": [{"type": "null"}, {"const": ""}]}, [None, "", "a", 0]),
    ({"allOf": [{"minimum": 1}, {"maximum": 1}]}, [1, 0, 2, "x"]),
    (
        {
            "$defs": {"tree": {"type": "array", "items": {"$ref": "#/$defs/tree"}}},
            "$ref": "#/$defs/tree",
        },
        [[], [[]], [[[]], []], [[1]], {}],
    ),
    ({"additionalProperties": True, "items": True}, [{"a": 1}, [1]]),
    ({"properties": {"a": False}}, [{"a": 1}, {"b": 1}]),
]


@pytest.mark.parametrize(("schema", "instances"), CORNERS)
def test_compiled_corner_cases_match_jsonschema(
    schema: dict[str, Any], instances: list[object]
) -> None:
    check = compile_one(schema)
    for instance in instances:
        expected = ContractValidator(schema).is_valid(instance)
        assert check(instance) == expected, (schema, instance)


# ---------------------------------------------------------------- refusing what is not supported


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "minProperties": 1},  # unknown keyword at the top
        {"properties": {"a": {"format": "date-time"}}},  # ... nested
        {"$defs": {"unused": {"contains": {"const": 1}}}},  # ... in a definition nobody uses
        {"items": [{"type": "string"}]},  # draft-07 tuple form
        {"then": {"required": ["a"]}},  # silently ignored by jsonschema without "if"
        {"$ref": "elsewhere.json"},  # outside the schema set
        {"$ref": "https://example.com/x.json"},
        {"$ref": "#/$defs/missing"},
        {"type": "float"},
        {"pattern": "("},
        {"maxLength": -1},
        {"properties": {"a": {"$id": "inner"}}},  # would change how its refs resolve
    ],
)
def test_unsupported_or_broken_schema_is_refused_at_compile_time(schema: dict[str, Any]) -> None:
    with pytest.raises(SchemaCompileError):
        compile_one(schema)


def test_refs_across_documents_of_the_set_resolve() -> None:
    docs: dict[str, dict[str, Any]] = {
        "common": {"$defs": {"id": {"type": "string", "pattern": "^[0-9]+$"}}},
        "inner": {"type": "object", "required": ["n"], "properties": {"n": {"const": 1}}},
        "outer": {
            "properties": {"id": {"$ref": "common.json#/$defs/id"}, "in": {"$ref": "inner.json"}}
        },
    }
    check = CompiledSchemas(docs, SCHEMA_BASE).predicate("outer")
    assert check({"id": "12", "in": {"n": 1}})
    assert not check({"id": "1a"})
    assert not check({"in": {"n": True}})


# ---------------------------------------------------------------- validate()


def test_validate_reports_jsonschemas_best_error_unchanged() -> None:
    sale = dict(VALID["payload-sales"][0])
    del sale["tariff_version"]
    sale["meter"] = "5"
    best = best_match(contract.validator("payload-sales").iter_errors(sale))
    assert best is not None
    with pytest.raises(ContractError) as caught:
        validate("payload-sales", sale)
    assert (caught.value.path, caught.value.problem) == (best.json_path, best.message)


def test_floats_are_still_refused_before_the_schema() -> None:
    with pytest.raises(ContractError, match=r"\$\.amount_fen: floats"):
        validate("payload-sales", {**VALID["payload-sales"][0], "amount_fen": 5000.0})


def test_a_predicate_jsonschema_disagrees_with_still_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(contract, "predicate", lambda name: lambda instance: False)
    with pytest.raises(ContractError, match="not by jsonschema"):
        validate("payload-sales", VALID["payload-sales"][0])


@pytest.mark.parametrize(
    ("schema", "value", "valid"),
    [
        ("payload-sales", "000000000005", True),
        ("payload-sales", "000000000005\n", False),  # Python's $ would let the newline pass
        ("payload-sales", "00000000000٥", False),  # a non-ASCII digit
    ],
)
def test_patterns_mean_what_json_schema_says(schema: str, value: str, valid: bool) -> None:
    """JSON Schema patterns are ECMA-262: ``$`` is the end of the text and digits are ASCII.
    Both the compiled check and the jsonschema message path read them that way."""
    sale = {"sale_id": "1", "account_id": "1", "amount_fen": 1, "tariff_version": "1"}
    instance = {**sale, "meter": value}
    assert contract.predicate(schema)(instance) is valid
    assert contract.validator(schema).is_valid(instance) is valid
    if not valid:
        with pytest.raises(ContractError, match=r"\$\.meter"):
            validate(schema, instance)


def test_patterns_keep_their_meaning_inside_referenced_files() -> None:
    """``event.json`` takes its payload schema from another file by $ref; the ECMA-262 reading
    of patterns holds there too (jsonschema picks a validator per file from ``$schema``)."""
    event = copy.deepcopy(next(e for e in VALID["event"] if e["stream"] == "sales"))
    event["payload"]["meter"] = "000012345678\n"
    assert contract.predicate("event")(event) is False
    assert contract.validator("event").is_valid(event) is False
    event["payload"]["meter"] = "000012345678"
    assert contract.validator("event").is_valid(event) is True
