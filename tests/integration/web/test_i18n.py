"""Both catalogues hold the same keys, and every key the templates and the code use exists."""

from __future__ import annotations

import re
from pathlib import Path

import web
from gateway.store.permissions import CATALOGUE
from web.i18n import Translations
from web.menu import MENU
from web.monitoring_tables import MONITOR_COLUMNS, alarm_columns
from web.queries import QUERIES
from web.receipts import FIELDS

ROOT = Path(web.__file__).parent
TEMPLATE_KEY = re.compile(r"""\bt\(\s*'([a-z0-9_.]+)'""")
CODE_KEY = re.compile(r"""\bN_\(\s*"([A-Za-z0-9_.]+)"\s*\)""")
# t(request, "key", ...) in page handlers and texts.text(lang, "key") in background work.
HANDLER_KEY = re.compile(r'\b(?:t\(\s*request|texts\.text\(\s*lang),\s*"([a-z0-9_.]+)"')
MACRO_KEY = re.compile(
    r"""m\.(?:field|select|button|textarea|checkbox|empty)\(\s*'[^']*'\s*,\s*'([a-z0-9_.]+)'|m\.(?:button|empty)\(\s*'([a-z0-9_.]+)'"""
)


def texts() -> Translations:
    return Translations.load()


def test_both_languages_have_the_same_keys() -> None:
    loaded = texts()
    assert loaded.keys("zh") == loaded.keys("en")
    assert len(loaded.keys("zh")) > 300


def test_every_key_in_the_templates_exists() -> None:
    loaded = texts()
    used: set[str] = set()
    for template in (ROOT / "templates").glob("*.html"):
        source = template.read_text(encoding="utf-8")
        used |= set(TEMPLATE_KEY.findall(source))
        for a, b in MACRO_KEY.findall(source):
            used.add(a or b)
    # t('comm_mode.' ~ box.comm_mode): a prefix whose every value must exist
    prefixes = {k for k in used if k.endswith(".")}
    missing = sorted(k for k in used - prefixes if not loaded.has(k))
    assert not missing
    assert all(any(key.startswith(p) for key in loaded.keys("zh")) for p in prefixes)
    assert len(used) > 150


def test_every_value_of_the_enumerations_shown_is_translated() -> None:
    from gateway.billing.tariff import Band
    from gateway.store.meters import MeterState
    from gateway.store.metertypes import ValueKind, WalletModel
    from gateway.store.network import CommMode
    from web.tariff_form import KINDS

    loaded = texts()
    expected = (
        [f"comm_mode.{m.value}" for m in CommMode]
        + [f"meter_state.{m.value}" for m in MeterState]
        + [f"wallet.{m.value}" for m in WalletModel]
        + [f"value_kind.{m.value}" for m in ValueKind]
        + [f"band.{m.value}" for m in Band]
        + [f"tariff.{k}" for k in KINDS]
        + ["phases.1", "phases.3", "source.local", "source.cloud"]
        + [f"mac.{k}" for k in ("none", "software", "encryption_machine")]
    )
    assert [k for k in expected if not loaded.has(k)] == []


def test_every_key_in_the_code_exists() -> None:
    loaded = texts()
    sources = [f.read_text(encoding="utf-8") for f in ROOT.rglob("*.py")]
    used = {k for source in sources for k in CODE_KEY.findall(source)}
    used |= {k for source in sources for k in HANDLER_KEY.findall(source)}
    for query in QUERIES:
        used.add(query.title)
        used |= {f.label for f in query.filters} | {c.label for c in query.columns}
        used |= {key for f in query.filters for _, key in f.choices}
    used |= {section.title for section in MENU} | {i.title for s in MENU for i in s.items}
    used |= {d.label for d in FIELDS.values()}
    used |= {c.label for c in (*MONITOR_COLUMNS, *alarm_columns("zh")) if "." in c.label}
    missing = sorted(k for k in used if not loaded.has(k))
    assert not missing


def test_every_feature_of_the_manual_is_in_the_menu() -> None:
    listed = {f for section in MENU for item in section.items for f in item.features}
    expected = (
        {f"F1.{i}" for i in range(1, 4)} | {f"F2.{i}" for i in range(1, 11)}
        | {f"F3.{i}" for i in range(1, 6)} | {"F4.1", "F4.2"}
        | {f"F5.{i}" for i in range(1, 7)} | {f"F6.{i}" for i in range(1, 6)}
        | {f"F7.{i}" for i in range(1, 6)}
    )  # fmt: skip
    assert listed == expected


def test_permission_labels_exist_in_both_languages() -> None:
    assert all(p.name_zh and p.name_en for p in CATALOGUE)


def test_every_field_of_every_card_has_a_label() -> None:
    """【读电卡】 shows every field of any card and of the meter's return area."""
    import dataclasses

    from gateway.cards import format as card_format
    from gateway.cards.statgrid import StateGridCard

    loaded = texts()
    records = [
        card_format.UserCard, card_format.SettingsCard, card_format.QueryCard,
        card_format.ResetCard, card_format.RelayCard, card_format.RefundCard,
        card_format.MeterChangeCard,
    ]  # fmt: skip
    keys = {f"card.{f.name}" for r in (*records, card_format.ReturnArea, StateGridCard)
            for f in dataclasses.fields(r)}  # fmt: skip
    keys |= {f"card.type.{r.__name__}" for r in records}
    assert sorted(k for k in keys if not loaded.has(k)) == []
