"""A card read at the gateway's reader, as rows a person reads (【读电卡（IC卡）】, F3.2, F7.3).

The card format (gateway.cards.format) is data: every field of the gateway's part and of the
meter's return area is shown with its label, money as yuan, energy as kWh, times local.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.cards.format import CardContent
from gateway.cards.session import CardRead
from web.formatting import kwh, price, yuan

Translate = Callable[[str], str]


@dataclass(frozen=True)
class CardFacts:
    title: str
    facts: list[tuple[str, str]]


def _value(name: str, value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, enum.Enum):
        return value.name.lower() if isinstance(value.name, str) else str(value.value)
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, int) and name.endswith("_fen"):
        return yuan(value)
    if isinstance(value, int) and name.endswith("_ckwh"):
        return kwh(value)
    if isinstance(value, int) and name == "price_1e4":
        return price(value)
    return str(value)


def _rows(record: Any, prefix: str, t: Translate) -> list[tuple[str, str]]:
    return [
        (t(f"card.{f.name}") + prefix, _value(f.name, getattr(record, f.name)))
        for f in dataclasses.fields(record)
    ]


def card_facts(read: CardRead, t: Translate) -> CardFacts:
    """Everything on the card in the reader, the issued part first, then what a meter wrote."""
    if read.content is None:
        if read.state_grid is not None:
            return CardFacts(t("card.state_grid"), _rows(read.state_grid, "", t))
        return CardFacts(t("card.blank"), [(t("card.reader"), read.reader)])
    return content_facts(read.content, t)


def content_facts(content: CardContent, t: Translate) -> CardFacts:
    issue = content.issue
    title = t(f"card.type.{type(issue).__name__}")
    facts = [(t("card.type"), title), *_rows(issue, "", t)]
    ret = content.ret
    if content.ret_damaged:
        facts.append((t("card.return"), t("card.return_damaged")))
    elif ret is None:
        facts.append((t("card.return"), t("card.return_none")))
    else:
        facts += _rows(ret, " " + t("card.return_suffix"), t)
    return CardFacts(title, facts)
