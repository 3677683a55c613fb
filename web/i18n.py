"""Chinese (default) and English texts of the UI, from ``translations/{zh,en}.json``.

Every text shown to a person goes through a key: templates call ``t('key')``, Python code marks
keys with :func:`N_` so the catalogue test can find them. Both catalogues hold the same keys
(tests/integration/web/test_i18n.py), so no page falls back to the other language.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any, Literal

log = logging.getLogger(__name__)

Lang = Literal["zh", "en"]
LANGUAGES: tuple[Lang, ...] = ("zh", "en")
DEFAULT_LANG: Lang = "zh"


def N_(key: str) -> str:  # noqa: N802 (the gettext convention, so the key scanner finds it)
    """Marks a translation key in Python code; returns it unchanged."""
    return key


def as_lang(value: object, default: Lang = DEFAULT_LANG) -> Lang:
    if value == "zh":
        return "zh"
    if value == "en":
        return "en"
    return default


class Translations:
    """The loaded catalogues; ``text(lang, key, **params)`` formats ``{name}`` placeholders."""

    def __init__(self, catalogues: Mapping[str, Mapping[str, str]]) -> None:
        self._catalogues = {lang: dict(catalogues[lang]) for lang in LANGUAGES}
        self._missing: set[tuple[str, str]] = set()

    @classmethod
    def load(cls) -> Translations:
        return _load()

    def keys(self, lang: Lang) -> frozenset[str]:
        return frozenset(self._catalogues[lang])

    def has(self, key: str) -> bool:
        return all(key in self._catalogues[lang] for lang in LANGUAGES)

    def text(self, lang: Lang, key: str, **params: Any) -> str:
        template = self._catalogues[lang].get(key)
        if template is None:
            if (lang, key) not in self._missing:
                self._missing.add((lang, key))
                log.warning("no %s text for %r", lang, key)
            return key
        if not params:
            return template
        try:
            return template.format_map(params)
        except (KeyError, IndexError, ValueError):
            log.warning("text %r (%s) does not fit its parameters %s", key, lang, sorted(params))
            return template

    def get(self, lang: Lang, key: str) -> str | None:
        """The text if the key exists (optional texts, e.g. per error code), else None."""
        return self._catalogues[lang].get(key)


@cache
def _load() -> Translations:
    folder = resources.files("web") / "translations"
    catalogues: dict[str, dict[str, str]] = {
        lang: json.loads((folder / f"{lang}.json").read_text(encoding="utf-8"))
        for lang in LANGUAGES
    }
    return Translations(catalogues)
