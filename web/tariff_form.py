"""The price-type form (F5.1) ↔ the billing package's tariff JSON.

Lists are typed as text, the way a counter PC is fastest: thresholds ``200, 400`` (kWh), prices
``0.5283, 0.5783, 0.8283`` (yuan/kWh), a day table ``00:00 谷; 08:00 峰; 22:00 谷`` (or the
English band names). The result is checked by ``gateway.billing.tariff_from_json_dict``, whose
errors (E210) name the field at fault.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from gateway.billing import tariff_from_json_dict
from gateway.billing.errors import TariffError
from gateway.billing.tariff import Band
from gateway.billing.units import format_kwh, format_price, parse_kwh, parse_price
from web.forms import Fields

KINDS = ("flat", "tiered", "tou", "tou_tiered")
BAND_WORDS = {
    "尖": Band.SHARP,
    "峰": Band.PEAK,
    "平": Band.FLAT,
    "谷": Band.VALLEY,
    "sharp": Band.SHARP,
    "peak": Band.PEAK,
    "flat": Band.FLAT,
    "valley": Band.VALLEY,
}
BAND_ZH = {Band.SHARP: "尖", Band.PEAK: "峰", Band.FLAT: "平", Band.VALLEY: "谷"}
_SPLIT = re.compile(r"[,，;；\s]+")
_SLOTS = re.compile(r"[;；\n,，]+")


def _list(text: str) -> list[str]:
    return [part for part in _SPLIT.split(text.strip()) if part]


def _prices(fields: Fields, name: str) -> list[int]:
    values = _list(fields.text(name, max_len=200))
    if not values:
        raise TariffError(name, "is required")
    return [parse_price(v, field=name) for v in values]


def _table(text: str, name: str) -> list[list[str]] | None:
    text = text.strip()
    if not text:
        return None
    slots: list[list[str]] = []
    for part in _SLOTS.split(text):
        words = part.split()
        if not words:
            continue
        if len(words) != 2 or words[1].lower() not in BAND_WORDS:
            raise TariffError(name, f"{part.strip()!r}: write 'HH:MM band', e.g. '08:00 峰'")
        slots.append([words[0], BAND_WORDS[words[1].lower()].value])
    return slots


def _ladder(fields: Fields) -> dict[str, Any]:
    thresholds = [parse_kwh(v, field="thresholds") for v in _list(fields.text("thresholds"))]
    settlement = fields.choice("settlement", ("monthly", "yearly"), default="monthly")
    start_month = fields.integer("start_month", minimum=1, maximum=12, default=1) or 1
    return {
        "thresholds": thresholds,
        "settlement": settlement,
        "start_month": start_month if settlement == "yearly" else 1,
    }


def _tou(fields: Fields) -> dict[str, Any]:
    prices = {
        band.value: parse_price(fields.text(f"price_{band.value}"), field=f"price_{band.value}")
        for band in Band
        if fields.has(f"price_{band.value}")
    }
    holidays = _list(fields.text("holidays", max_len=2000))
    return {
        "prices": prices,
        "schedule": {
            "weekday": _table(fields.text("weekday", max_len=500), "weekday"),
            "weekend": _table(fields.text("weekend", max_len=500), "weekend"),
            "holiday": _table(fields.text("holiday", max_len=500), "holiday"),
            "holidays": holidays,
            "workdays": [],
            "weekend_days": [6, 7],
        },
        "base_band": fields.choice("base_band", [b.value for b in Band], default="flat"),
    }


def tariff_document(
    fields: Fields, *, type_id: int, version: int, effective_from: dt.datetime
) -> dict[str, Any]:
    """The validated JSON form of the tariff typed into the form."""
    kind = fields.choice("kind", KINDS)
    doc: dict[str, Any] = {
        "kind": kind,
        "id": str(type_id),
        "version": version,
        "effective_from": effective_from.replace(tzinfo=None).isoformat(),
    }
    if kind == "flat":
        doc["price"] = parse_price(fields.text("price"), field="price")
    elif kind == "tiered":
        doc["ladder"] = _ladder(fields)
        doc["prices"] = _prices(fields, "prices")
    elif kind == "tou":
        doc.update(_tou(fields))
    else:
        doc.update(_tou(fields))
        doc["ladder"] = _ladder(fields)
        doc["adders"] = [parse_price(v, field="adders") for v in _list(fields.text("adders"))]
    return tariff_from_json_dict(doc).to_json_dict()


def form_values(doc: dict[str, Any]) -> dict[str, str]:
    """A stored tariff as the form's text fields (to start the next version from it)."""
    values: dict[str, str] = {"kind": str(doc.get("kind", "flat"))}
    if "price" in doc:
        values["price"] = format_price(doc["price"])
    ladder = doc.get("ladder")
    if isinstance(ladder, dict):
        values["thresholds"] = ", ".join(format_kwh(v) for v in ladder.get("thresholds", []))
        values["settlement"] = str(ladder.get("settlement", "monthly"))
        values["start_month"] = str(ladder.get("start_month", 1))
    if isinstance(doc.get("prices"), list):
        values["prices"] = ", ".join(format_price(v) for v in doc["prices"])
    elif isinstance(doc.get("prices"), dict):
        for band, price in doc["prices"].items():
            values[f"price_{band}"] = format_price(price)
    if "adders" in doc:
        values["adders"] = ", ".join(format_price(v) for v in doc["adders"])
    schedule = doc.get("schedule")
    if isinstance(schedule, dict):
        for name in ("weekday", "weekend", "holiday"):
            table = schedule.get(name)
            if table:
                values[name] = "; ".join(f"{start} {BAND_ZH[Band(band)]}" for start, band in table)
        values["holidays"] = ", ".join(schedule.get("holidays", []))
    if "base_band" in doc:
        values["base_band"] = str(doc["base_band"])
    return values


def summary(doc: dict[str, Any]) -> str:
    """One line for the versions table, e.g. ``0.5283`` or ``0.5283 / 0.5783 @ 200``."""
    kind = doc.get("kind")
    if kind == "flat":
        return format_price(doc["price"])
    parts: list[str] = []
    if isinstance(doc.get("prices"), list):
        parts.append(" / ".join(format_price(p) for p in doc["prices"]))
    elif isinstance(doc.get("prices"), dict):
        parts.append(
            " ".join(f"{BAND_ZH[Band(b)]}{format_price(p)}" for b, p in doc["prices"].items())
        )
    ladder = doc.get("ladder")
    if isinstance(ladder, dict):
        parts.append("@ " + ", ".join(format_kwh(t) for t in ladder.get("thresholds", [])) + " kWh")
    if "adders" in doc:
        parts.append("+ " + " / ".join(format_price(a) for a in doc["adders"]))
    return "  ".join(parts)
