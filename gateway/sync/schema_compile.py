"""Compile the contract's JSON Schemas into plain Python predicates, once.

``jsonschema`` resolves every ``$ref`` through ``referencing`` on each call, which made schema
checking the largest CPU cost of committing a sale (it runs inside the ledger's write
transaction). The schemas are small and fixed, so they are turned into closures instead: the
predicate answers only "valid or not"; ``contract.validate`` still asks ``jsonschema`` for the
message when the answer is no.

Only the keywords the contract's schemas use are supported, with draft 2020-12 semantics as
``jsonschema`` implements them (booleans are not numbers, ``True != 1`` for const/enum/
uniqueItems, ``pattern`` is ``re.search``, a float with an integral value is an integer). Any
other keyword is refused at compile time: a schema edit must never be silently unchecked.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from numbers import Number
from typing import Any, Final
from urllib.parse import unquote, urldefrag, urljoin

Predicate = Callable[[object], bool]
# A check that runs only once its instance's JSON type is established (hence Any).
_Check = Callable[[Any], bool]

# Keywords that never affect validity; ``$defs`` members are still compiled (see _document).
ANNOTATIONS: Final = frozenset(
    {"$schema", "$id", "title", "description", "$defs", "$comment", "examples", "default"}
)
KEYWORDS: Final = frozenset(
    {
        "type",
        "$ref",
        "properties",
        "required",
        "const",
        "enum",
        "minimum",
        "maximum",
        "pattern",
        "if",
        "then",
        "else",
        "additionalProperties",
        "patternProperties",
        "maxLength",
        "minLength",
        "items",
        "anyOf",
        "allOf",
        "propertyNames",
        "maxItems",
        "minItems",
        "uniqueItems",
    }
)


class SchemaCompileError(ValueError):
    """A schema uses something this compiler does not implement (or is malformed)."""


def _true(_: object) -> bool:
    return True


def _false(_: object) -> bool:
    return False


def _is_string(x: object) -> bool:
    return isinstance(x, str)


def _is_integer(x: object) -> bool:
    # Draft 2020-12 counts 1.0 as an integer; bool is an int subclass but not a JSON number.
    if isinstance(x, int):
        return not isinstance(x, bool)
    return isinstance(x, float) and x.is_integer()


def _is_number(x: object) -> bool:
    return isinstance(x, Number) and not isinstance(x, bool)


def _is_object(x: object) -> bool:
    return isinstance(x, dict)


def _is_array(x: object) -> bool:
    return isinstance(x, list)


def _is_boolean(x: object) -> bool:
    return isinstance(x, bool)


def _is_null(x: object) -> bool:
    return x is None


_TYPES: Final[dict[str, Predicate]] = {
    "string": _is_string,
    "integer": _is_integer,
    "number": _is_number,
    "object": _is_object,
    "array": _is_array,
    "boolean": _is_boolean,
    "null": _is_null,
}


def json_equal(one: object, two: object) -> bool:
    """Equality as jsonschema's ``equal``: recursive, and True/False never equal 1/0."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return one == two
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(json_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return len(one) == len(two) and all(
            k in two and json_equal(v, two[k]) for k, v in one.items()
        )
    if isinstance(one, bool) or isinstance(two, bool):
        return False  # the identical-bool case returned above
    return one == two


def _identity(value: object) -> Hashable:
    """A hashable stand-in with json_equal's equality, so uniqueness is one set() away."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, str):
        return ("str", value)
    if isinstance(value, Sequence):
        return ("seq", tuple(_identity(v) for v in value))
    if isinstance(value, Mapping):
        return ("map", frozenset((k, _identity(v)) for k, v in value.items()))
    if isinstance(value, Hashable):
        return ("other", value)  # numbers: 1 and 1.0 hash and compare equal, as in jsonschema
    raise TypeError(f"unhashable {type(value).__name__}")


def _unique(items: list[object]) -> bool:
    try:
        return len({_identity(v) for v in items}) == len(items)
    except TypeError:  # not JSON data; quadratic but exact
        return not any(json_equal(a, b) for i, a in enumerate(items) for b in items[i + 1 :])


def _all_of(preds: Sequence[_Check]) -> Predicate:
    """Conjunction with the fewest Python frames for the short lists schemas produce."""
    preds = tuple(p for p in preds if p is not _true)
    if not preds:
        return _true
    if _false in preds:
        return _false
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda x: a(x) and b(x)
    if len(preds) == 3:
        a, b, c = preds
        return lambda x: a(x) and b(x) and c(x)

    def every(x: object) -> bool:
        return all(p(x) for p in preds)

    return every


def _guarded(kind: Predicate, checks: list[_Check]) -> Predicate:
    """Checks that only constrain instances of one JSON type pass every other type."""
    inner = _all_of(checks)
    if inner is _true:
        return _true
    return lambda x: not kind(x) or inner(x)


def ecma_regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` with the meaning JSON Schema gives it (ECMA-262, no flags).

    Python's ``$`` also matches before a final newline, so under ``re`` a meter address
    "000000000005\\n" would pass ``^[0-9]{12}$``; in ECMA-262 ``$`` is the end of the input,
    which is ``\\Z`` here. And ``\\d``/``\\w`` are ASCII in ECMA-262, Unicode in ``re``.
    Raises ``re.error`` on a bad pattern.
    """
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "$":
            ch = r"\Z"
        out.append(ch)
        i += 1
    return re.compile("".join(out), re.ASCII)


def _regex(pattern: object, where: str, *, ecma: bool = False) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise SchemaCompileError(f"{where}: pattern must be a string")
    try:
        return ecma_regex(pattern) if ecma else re.compile(pattern)
    except re.error as exc:
        raise SchemaCompileError(f"{where}: bad pattern {pattern!r}: {exc}") from exc


def _count(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SchemaCompileError(f"{where}: must be a non-negative integer")
    return value


def _bound(value: object, where: str) -> int | float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise SchemaCompileError(f"{where}: must be a number")
    return value


def _dict(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise SchemaCompileError(f"{where}: must be an object")
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise SchemaCompileError(f"{where}: must be an array")
    return value


def _const(value: object) -> Predicate:
    if isinstance(value, str):
        # equal() with a string side is plain ==, which no non-string JSON value satisfies.
        return lambda x: x == value
    if isinstance(value, bool):
        return lambda x: x is value
    return lambda x: json_equal(x, value)


def _enum(values: list[Any]) -> Predicate:
    if values and all(isinstance(v, str) for v in values):
        # Non-string JSON values never equal a string, so set membership is exact here.
        members = frozenset(values)
        return lambda x: isinstance(x, str) and x in members
    return lambda x: any(json_equal(x, v) for v in values)


class CompiledSchemas:
    """A set of schema documents (name -> JSON) sharing ``base``; predicates cached by name.

    ``$ref`` is resolved like ``referencing`` does for documents registered as
    ``base + name + ".json"``: relative to the referring document, with an optional JSON
    pointer fragment. References outside the set are compile errors.
    """

    def __init__(self, documents: Mapping[str, Mapping[str, Any]], base: str) -> None:
        self._documents = dict(documents)
        self._base = base
        self._by_name: dict[str, Predicate] = {}
        self._nodes: dict[tuple[str, str], Predicate] = {}
        self._building: set[tuple[str, str]] = set()
        # Compiling mutates the memo tables; a ledger thread and the event loop may both ask
        # for a schema first. Lookups of finished predicates need no lock.
        self._lock = threading.Lock()

    def predicate(self, name: str) -> Predicate:
        """The compiled predicate of document ``name`` (compiled on first use)."""
        found = self._by_name.get(name)
        if found is None:
            with self._lock:
                found = self._by_name.get(name)
                if found is None:
                    found = self._document(name)
                    self._by_name[name] = found
        return found

    # -- references

    def _uri(self, name: str) -> str:
        return f"{self._base}{name}.json"

    def _document(self, name: str) -> Predicate:
        if name not in self._documents:
            raise SchemaCompileError(f"unknown schema {name!r}")
        root = self._documents[name]
        declared = root.get("$id") if isinstance(root, dict) else None
        if declared is not None and declared != self._uri(name):
            # A different $id would change how jsonschema resolves this document's refs.
            raise SchemaCompileError(f"{name}: $id {declared!r} is not {self._uri(name)!r}")
        if isinstance(root, dict):
            # Definitions are compiled even when nothing refers to them yet, so an unsupported
            # keyword in common.json is caught now rather than when a schema starts using it.
            for key in _dict(root.get("$defs", {}), f"{name}#/$defs"):
                self._pointer(name, f"/$defs/{key}")
        return self._pointer(name, "")

    def _pointer(self, name: str, pointer: str) -> Predicate:
        key = (name, pointer)
        done = self._nodes.get(key)
        if done is not None:
            return done
        if key in self._building:
            # A recursive reference: look the finished predicate up at call time.
            nodes = self._nodes
            return lambda x: nodes[key](x)  # noqa: PLW0108 (not built yet)
        node: Any = self._documents[name]
        for escaped in pointer.split("/")[1:] if pointer else ():
            token = unquote(escaped).replace("~1", "/").replace("~0", "~")
            try:
                node = node[int(token)] if isinstance(node, list) else node[token]
            except (KeyError, IndexError, ValueError, TypeError) as exc:
                raise SchemaCompileError(f"{name}#{pointer}: does not resolve") from exc
        self._building.add(key)
        try:
            compiled = self._compile(node, name, f"{name}#{pointer}", root=not pointer)
        finally:
            self._building.discard(key)
        self._nodes[key] = compiled
        return compiled

    def _ref(self, ref: object, name: str, where: str) -> Predicate:
        if not isinstance(ref, str):
            raise SchemaCompileError(f"{where}: $ref must be a string")
        target, fragment = urldefrag(urljoin(self._uri(name), ref))
        if not target.startswith(self._base) or not target.endswith(".json"):
            raise SchemaCompileError(f"{where}: $ref {ref!r} leaves the schema set")
        other = target[len(self._base) : -len(".json")]
        if other not in self._documents:
            raise SchemaCompileError(f"{where}: $ref {ref!r}: no schema {other!r}")
        if fragment and not fragment.startswith("/"):
            raise SchemaCompileError(f"{where}: $ref {ref!r}: only JSON pointer fragments")
        return self._pointer(other, fragment)

    # -- keywords

    def _compile(self, node: object, name: str, where: str, *, root: bool = False) -> Predicate:
        if node is True:
            return _true
        if node is False:
            return _false
        schema = _dict(node, where)
        unknown = set(schema) - KEYWORDS - ANNOTATIONS
        if unknown:
            raise SchemaCompileError(f"{where}: unsupported keyword(s) {sorted(unknown)}")
        if "$id" in schema and not root:
            raise SchemaCompileError(f"{where}: $id below a document root is not supported")
        if ("then" in schema or "else" in schema) and "if" not in schema:
            # jsonschema silently ignores these; a schema relying on them is a mistake.
            raise SchemaCompileError(f"{where}: then/else without if")

        def sub(value: object, suffix: str) -> Predicate:
            return self._compile(value, name, f"{where}/{suffix}")

        type_names: list[str] = []
        if "type" in schema:
            raw = schema["type"]
            type_names = [raw] if isinstance(raw, str) else _list(raw, f"{where}/type")
            for t in type_names:
                if t not in _TYPES:
                    raise SchemaCompileError(f"{where}/type: unknown type {t!r}")

        strings: list[_Check] = []
        if "pattern" in schema:
            search = _regex(schema["pattern"], f"{where}/pattern", ecma=True).search
            strings.append(lambda x: search(x) is not None)
        if "minLength" in schema:
            low = _count(schema["minLength"], f"{where}/minLength")
            strings.append(lambda x: len(x) >= low)
        if "maxLength" in schema:
            high = _count(schema["maxLength"], f"{where}/maxLength")
            strings.append(lambda x: len(x) <= high)

        numbers: list[_Check] = []
        if "minimum" in schema:
            minimum = _bound(schema["minimum"], f"{where}/minimum")
            numbers.append(lambda x: x >= minimum)
        if "maximum" in schema:
            maximum = _bound(schema["maximum"], f"{where}/maximum")
            numbers.append(lambda x: x <= maximum)

        objects = self._object_checks(schema, sub, where)
        arrays = self._array_checks(schema, sub, where)

        general: list[Predicate] = []
        if "const" in schema:
            general.append(_const(schema["const"]))
        if "enum" in schema:
            general.append(_enum(_list(schema["enum"], f"{where}/enum")))
        if "$ref" in schema:
            # 2020-12: $ref is an applicator like any other; its siblings apply too.
            general.append(self._ref(schema["$ref"], name, f"{where}/$ref"))
        if "allOf" in schema:
            parts = _list(schema["allOf"], f"{where}/allOf")
            general.append(_all_of([sub(s, f"allOf/{i}") for i, s in enumerate(parts)]))
        if "anyOf" in schema:
            parts = _list(schema["anyOf"], f"{where}/anyOf")
            options = tuple(sub(s, f"anyOf/{i}") for i, s in enumerate(parts))
            general.append(lambda x: any(p(x) for p in options))
        if "if" in schema:
            test = sub(schema["if"], "if")
            then = sub(schema["then"], "then") if "then" in schema else _true
            other = sub(schema["else"], "else") if "else" in schema else _true
            general.append(lambda x: then(x) if test(x) else other(x))

        return self._assemble(type_names, strings, numbers, objects, arrays, general)

    @staticmethod
    def _assemble(
        type_names: list[str],
        strings: list[_Check],
        numbers: list[_Check],
        objects: list[_Check],
        arrays: list[_Check],
        general: list[Predicate],
    ) -> Predicate:
        by_type = {"string": strings, "number": numbers, "object": objects, "array": arrays}
        if len(type_names) == 1:
            # One allowed type: checks for other types are vacuous, and this type's checks
            # need no guard once the type test has passed.
            only = type_names[0]
            own = numbers if only == "integer" else by_type.get(only, [])
            return _all_of([_TYPES[only], *own, *general])
        checks: list[Predicate] = []
        if type_names:
            kinds = tuple(_TYPES[t] for t in type_names)
            checks.append(lambda x: any(k(x) for k in kinds))
        checks += [_guarded(_TYPES[t], by_type[t]) for t in ("string", "number", "object")]
        checks.append(_guarded(_is_array, arrays))
        return _all_of(checks + general)

    def _object_checks(
        self, schema: Mapping[str, Any], sub: Callable[[object, str], Predicate], where: str
    ) -> list[_Check]:
        checks: list[_Check] = []
        if "required" in schema:
            required = tuple(_list(schema["required"], f"{where}/required"))
            checks.append(lambda x: all(k in x for k in required))
        props = {
            k: sub(s, f"properties/{k}")
            for k, s in _dict(schema.get("properties", {}), f"{where}/properties").items()
        }
        patterns = tuple(
            (_regex(p, f"{where}/patternProperties").search, sub(s, f"patternProperties/{p}"))
            for p, s in _dict(
                schema.get("patternProperties", {}), f"{where}/patternProperties"
            ).items()
        )
        extra = (
            sub(schema["additionalProperties"], "additionalProperties")
            if "additionalProperties" in schema
            else None
        )
        names = sub(schema["propertyNames"], "propertyNames") if "propertyNames" in schema else None
        if extra is _true:
            extra = None
        if names is _true:
            names = None
        if not props and not patterns and extra is None and names is None:
            return checks
        if not patterns and extra is None and names is None:
            # The common case: only named properties. Walk the instance (usually the shorter
            # side when all properties are optional) and look each key up once.
            get = props.get

            def named(x: dict[str, Any]) -> bool:
                for k, v in x.items():
                    check = get(k)
                    if check is not None and not check(v):
                        return False
                return True

            checks.append(named)
            return checks

        def members(x: dict[str, Any]) -> bool:
            for k, v in x.items():
                if names is not None and not names(k):
                    return False
                check = props.get(k)
                if check is None:
                    covered = False
                elif check(v):
                    covered = True
                else:
                    return False
                for search, matched in patterns:
                    if search(k) is not None:
                        covered = True
                        if not matched(v):
                            return False
                if not covered and extra is not None and not extra(v):
                    return False
            return True

        checks.append(members)
        return checks

    @staticmethod
    def _array_checks(
        schema: Mapping[str, Any], sub: Callable[[object, str], Predicate], where: str
    ) -> list[_Check]:
        checks: list[_Check] = []
        if "minItems" in schema:
            low = _count(schema["minItems"], f"{where}/minItems")
            checks.append(lambda x: len(x) >= low)
        if "maxItems" in schema:
            high = _count(schema["maxItems"], f"{where}/maxItems")
            checks.append(lambda x: len(x) <= high)
        if "items" in schema:
            if isinstance(schema["items"], list):
                raise SchemaCompileError(f"{where}/items: array form is prefixItems in 2020-12")
            each = sub(schema["items"], "items")
            if each is not _true:
                checks.append(lambda x: all(each(v) for v in x))
        if schema.get("uniqueItems", False) is True:
            checks.append(_unique)
        elif "uniqueItems" in schema and schema["uniqueItems"] is not False:
            raise SchemaCompileError(f"{where}/uniqueItems: must be a boolean")
        return checks
