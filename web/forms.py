"""Reading form fields and JSON bodies the same way, with a coded error naming the field.

Pages and the API both hand their input to :class:`Fields`; a bad value raises
``WebError(E606, field=...)`` (or the billing package's own E2xx for amounts), nothing is changed,
and the form is shown again with the message next to the field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from aiohttp import web
from multidict import MultiMapping

from gateway.billing.units import parse_kwh, parse_price, parse_yuan
from web.errors import BAD_INPUT, BAD_REQUEST, WebError

E = TypeVar("E", bound=str)

TRUE_WORDS = frozenset({"1", "on", "true", "yes"})


class Fields:
    """Typed access to submitted values (``MultiDict`` from a form, or a JSON object)."""

    def __init__(self, data: MultiMapping[Any] | Mapping[str, Any]) -> None:
        self._data = data

    @classmethod
    async def from_form(cls, request: web.Request) -> Fields:
        return cls(await request.post())

    @classmethod
    async def from_json(cls, request: web.Request) -> Fields:
        try:
            data = await request.json()
        except ValueError as exc:
            raise WebError(BAD_REQUEST, 400, reason="JSON") from exc
        if not isinstance(data, dict):
            raise WebError(BAD_REQUEST, 400, reason="JSON object")
        return cls(data)

    def raw(self, name: str) -> Any:
        return self._data.get(name)

    def has(self, name: str) -> bool:
        value = self._data.get(name)
        return value is not None and value != ""

    def text(self, name: str, *, required: bool = False, max_len: int = 200) -> str:
        value = self._data.get(name)
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise WebError(BAD_INPUT, field=name, problem="text")
        value = value.strip()
        if required and not value:
            raise WebError(BAD_INPUT, field=name, problem="required")
        if len(value) > max_len:
            raise WebError(BAD_INPUT, field=name, problem="too_long")
        return value

    def optional_text(self, name: str, *, max_len: int = 200) -> str | None:
        value = self.text(name, max_len=max_len)
        return value or None

    def integer(
        self,
        name: str,
        *,
        required: bool = True,
        minimum: int | None = None,
        maximum: int | None = None,
        default: int | None = None,
    ) -> int | None:
        value = self._data.get(name)
        if value is None or value == "":
            if required and default is None:
                raise WebError(BAD_INPUT, field=name, problem="required")
            return default
        if isinstance(value, bool):
            raise WebError(BAD_INPUT, field=name, problem="integer")
        if isinstance(value, int):
            number = value
        elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
            number = int(value.strip())
        else:
            raise WebError(BAD_INPUT, field=name, problem="integer")
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            raise WebError(BAD_INPUT, field=name, problem="range")
        return number

    def required_int(
        self, name: str, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        value = self.integer(name, minimum=minimum, maximum=maximum)
        assert value is not None
        return value

    def boolean(self, name: str) -> bool:
        """A checkbox (absent = off) or a JSON boolean."""
        value = self._data.get(name)
        if isinstance(value, bool):
            return value
        return isinstance(value, str) and value.strip().lower() in TRUE_WORDS

    def choice(self, name: str, choices: Iterable[E], *, default: E | None = None) -> E:
        allowed = list(choices)
        value = self._data.get(name)
        if (value is None or value == "") and default is not None:
            return default
        for option in allowed:
            if value == option:
                return option
        raise WebError(BAD_INPUT, field=name, problem="choice")

    def strings(self, name: str) -> list[str]:
        """All values of a repeated field (ticked checkboxes) or a JSON list of strings."""
        data = self._data
        if hasattr(data, "getall"):
            values = list(data.getall(name, []))
        else:
            found = data.get(name, [])
            values = found if isinstance(found, list) else [found]
        if not all(isinstance(v, str) for v in values):
            raise WebError(BAD_INPUT, field=name, problem="text")
        return [str(v) for v in values]

    def _money_text(self, name: str) -> str | int:
        value = self._data.get(name)
        if value is None or value == "":
            raise WebError(BAD_INPUT, field=name, problem="required")
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise WebError(BAD_INPUT, field=name, problem="number")
        return value

    def yuan(self, name: str) -> int:
        """An amount typed in yuan ("12.34") as integer fen; refuses floats and extra decimals."""
        return parse_yuan(self._money_text(name), field=name)

    def optional_yuan(self, name: str) -> int | None:
        return self.yuan(name) if self.has(name) else None

    def kwh(self, name: str) -> int:
        return parse_kwh(self._money_text(name), field=name)

    def price(self, name: str) -> int:
        return parse_price(self._money_text(name), field=name)

    def date(self, name: str) -> dt.date | None:
        value = self.text(name, max_len=10)
        if not value:
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError as exc:
            raise WebError(BAD_INPUT, field=name, problem="date") from exc

    def local_datetime(self, name: str) -> dt.datetime | None:
        """``YYYY-MM-DDTHH:MM`` (a datetime-local input) as naive site-local time."""
        value = self.text(name, max_len=19)
        if not value:
            return None
        try:
            return dt.datetime.fromisoformat(value).replace(second=0, microsecond=0, tzinfo=None)
        except ValueError as exc:
            raise WebError(BAD_INPUT, field=name, problem="date") from exc


def day_range(
    since: dt.date | None, until: dt.date | None
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Inclusive local dates from a query form as a half-open aware range [since, until+1)."""
    start = None if since is None else _local_midnight(since)
    end = None if until is None else _local_midnight(until + dt.timedelta(days=1))
    return start, end


def _local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time()).astimezone()
