"""Turn parsed TOML into frozen dataclasses, naming the key and the problem on any error.

Each subsystem declares its own section as a dataclass; this module only knows how to fill one
from a dict. Unknown keys are errors (a typo in a meter cabinet's config must not be ignored).
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration problem at a dotted key path, e.g. ``buses[0].baud``."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"config key '{key}': {problem}")
        self.key = key
        self.problem = problem


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp)


def convert(tp: Any, value: Any, key: str) -> Any:
    """Convert ``value`` to type ``tp`` or raise ConfigError naming ``key``."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin is Union or origin is types.UnionType:
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return convert(arg, value, key)
            except ConfigError as exc:
                errors.append(exc.problem)
        raise ConfigError(key, " / ".join(errors))
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise ConfigError(key, f"must be one of {', '.join(map(repr, allowed))}, got {value!r}")
        return value
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(key, f"must be a list, got {type(value).__name__}")
        args = get_args(tp)
        item: Any = args[0] if args else Any
        converted = [convert(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(converted) if origin is tuple or tp is tuple else converted
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(key, f"must be a table, got {type(value).__name__}")
        args = get_args(tp)
        vt = args[1] if len(args) == 2 else Any
        return {str(k): convert(vt, v, f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return from_dict(tp, value, key)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            choices = ", ".join(repr(m.value) for m in tp)
            raise ConfigError(key, f"must be one of {choices}, got {value!r}") from None
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(key, f"must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(key, f"must be a string, got {value!r}")
        return value
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise ConfigError(key, f"must be {_type_name(tp)}, got {value!r}")
    return value


def from_dict(cls: type[T], data: Any, key: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; validation hooks run via ``__post_init__``."""
    if not isinstance(data, dict):
        raise ConfigError(key or "<root>", f"must be a table, got {type(data).__name__}")
    assert dataclasses.is_dataclass(cls)
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{key}.{unknown[0]}" if key else unknown[0]
        raise ConfigError(where, f"unknown key (known: {', '.join(sorted(fields))})")
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        sub = f"{key}.{name}" if key else name
        if name in data:
            kwargs[name] = convert(hints[name], data[name], sub)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(sub, "is required")
    try:
        return typing.cast(T, cls(**kwargs))
    except ConfigError as exc:
        if key and not exc.key.startswith(key):
            raise ConfigError(f"{key}.{exc.key}", exc.problem) from None
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(key or "<root>", str(exc)) from None
