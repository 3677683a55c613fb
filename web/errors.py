"""Operator-facing errors: the web's own (E6xx) and one adapter for every gateway package's.

Each gateway package names its bilingual texts a little differently (store: ``summary_zh`` /
``summary_en``; cards: ``message_zh`` / ``str(exc)``; appliance: ``info.title_zh``; panel:
``message.zh``; billing: only remedies). :func:`describe` reads them all, so a page, a JSON
answer and the operation log show the same code, message and remedy whatever failed.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from web.i18n import N_, Lang, Translations

log = logging.getLogger(__name__)

INTERNAL = "E699"


class Described(NamedTuple):
    code: str
    message: str
    remedy: str


class WebError(Exception):
    """An error of the web layer: code, HTTP status, and translation keys for its texts.

    The message and remedy live in the catalogues as ``error.<code>`` and
    ``error.<code>.remedy``; ``params`` fill their placeholders, ``field`` names the form field.
    """

    def __init__(
        self, code: str, status: int = 400, *, field: str | None = None, **params: Any
    ) -> None:
        super().__init__(f"{code} {params}" if params else code)
        self.code = code
        self.status = status
        self.field = field
        self.params = params


# The web's codes (E6xx): services use E5xx, sync E7xx, panel E8xx, appliance E9xx.
NOT_LOGGED_IN = "E601"
MUST_CHANGE_PASSWORD = "E602"
FORBIDDEN = "E603"
CSRF_FAILED = "E604"
THROTTLED = "E605"
BAD_INPUT = "E606"
CONFIRM_MISMATCH = "E607"
WRONG_PASSWORD = "E608"
CONFIRMATION_TEXT = "E609"
BAD_TEMPLATE = "E610"
NO_FILE = "E611"
NOT_FOUND = "E613"
NOT_AVAILABLE = "E614"
SELF_LOCKOUT = "E615"
BAD_REQUEST = "E616"
# The receipt printer ([printer], 【小票打印】): none configured; cannot be reached (off, refused,
# no device, no answer to the connection); stopped answering while the receipt was being sent.
PRINTER_NOT_CONFIGURED = "E617"
PRINTER_UNREACHABLE = "E618"
PRINTER_FAILED = "E619"

# Keys of the texts above, so the catalogue test sees them.
WEB_CODES = (
    N_("error.E601"),
    N_("error.E602"),
    N_("error.E603"),
    N_("error.E604"),
    N_("error.E605"),
    N_("error.E606"),
    N_("error.E607"),
    N_("error.E608"),
    N_("error.E609"),
    N_("error.E610"),
    N_("error.E611"),
    N_("error.E613"),
    N_("error.E614"),
    N_("error.E615"),
    N_("error.E616"),
    N_("error.E617"),
    N_("error.E618"),
    N_("error.E619"),
    N_("error.E699"),
)


def _pick(exc: BaseException, names: tuple[str, ...]) -> str | None:
    for name in names:
        target: Any = exc
        for part in name.split("."):
            target = getattr(target, part, None)
            if target is None:
                break
        if isinstance(target, str) and target:
            return target
    return None


_MESSAGE_ATTRS: dict[Lang, tuple[str, ...]] = {
    "zh": ("message_zh", "summary_zh", "info.title_zh", "message.zh", "text.summary_zh"),
    "en": ("message_en", "summary_en", "info.title_en", "message.en", "text.summary_en"),
}
_REMEDY_ATTRS: dict[Lang, tuple[str, ...]] = {
    "zh": ("remedy_zh", "info.remedy_zh", "text.remedy_zh"),
    "en": ("remedy_en", "info.remedy_en", "text.remedy_en"),
}


def _code_of(exc: BaseException) -> str | None:
    code = getattr(exc, "code", None)
    if isinstance(code, str) and len(code) == 4 and code.startswith("E") and code[1:].isdigit():
        return code
    return None


def describe(exc: BaseException, lang: Lang, texts: Translations | None = None) -> Described:
    """(code, message, remedy) in ``lang`` for any error an operator may see.

    Unknown exceptions are bugs: they become E699 with a generic text (details go to the log,
    not to the page).
    """
    texts = texts or Translations.load()
    if isinstance(exc, WebError):
        # A parameter whose value names a text ("problem": "required") shows that text.
        params = {
            key: (texts.get(lang, f"{key}.{value}") or value) if isinstance(value, str) else value
            for key, value in exc.params.items()
        }
        message = texts.text(lang, f"error.{exc.code}", **params)
        remedy = texts.get(lang, f"error.{exc.code}.remedy") or ""
        if exc.field:
            label = texts.get(lang, f"field.{exc.field}") or exc.field
            message = f"{label}: {message}"
        return Described(exc.code, message, remedy.format_map(_Defaulting(params)))
    code = _code_of(exc)
    if code is None:
        log.error("unexpected error shown as %s", INTERNAL, exc_info=exc)
        return Described(
            INTERNAL,
            texts.text(lang, f"error.{INTERNAL}"),
            texts.get(lang, f"error.{INTERNAL}.remedy") or "",
        )
    message = texts.get(lang, f"error.{code}") or _pick(exc, _MESSAGE_ATTRS[lang]) or str(exc)
    detail = _detail(exc)
    if detail and detail not in message:
        message = f"{message}: {detail}"
    remedy = texts.get(lang, f"error.{code}.remedy") or _pick(exc, _REMEDY_ATTRS[lang]) or ""
    return Described(code, message, remedy)


def _detail(exc: BaseException) -> str:
    """The specific part (which field, which record) most packages keep apart from the text."""
    for name in ("detail", "problem"):
        value = getattr(exc, name, None)
        if isinstance(value, str) and value:
            field = getattr(exc, "field", None)
            if isinstance(field, str) and field and field not in value:
                return f"{field}: {value}"
            return value
    return ""


class _Defaulting(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
