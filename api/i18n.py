"""Localization of the web views: the UI locales, Accept-Language negotiation, the content
fallback chain, and Flask-Babel with CLDR formatting helpers for the templates.

The locale sits in the URL as a BCP-47 tag (``/zh-Hans/...``); the views put it in
``flask.g.locale``. Babel knows the same locales by its own identifiers (``zh_Hans``), which
are also the names of the catalog folders under ``translations/``.

Everything formatted (country and language names, dates, numbers, currencies, lists) comes
from CLDR through Babel; nothing here is a table of names typed by hand.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, NamedTuple

import langcodes
from babel import Locale, UnknownLocaleError
from babel.dates import format_skeleton
from babel.lists import format_list
from flask import Flask, g, has_app_context
from flask_babel import Babel
from flask_babel import format_currency as _babel_currency
from flask_babel import format_date as _babel_date
from flask_babel import format_decimal as _babel_decimal
from flask_babel import format_percent as _babel_percent
from flask_babel import get_locale as _flask_babel_locale
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

import jembatan.translations
from jembatan.network import vocab
from jembatan.network.vocab import UI_LOCALES

#: the UI locales as they appear in URLs, in the order the language switcher lists them
LOCALES: tuple[str, ...] = UI_LOCALES
DEFAULT_LOCALE = "en"

#: the catalogs (``<babel id>/LC_MESSAGES/messages.mo``), wherever the package is installed
TRANSLATIONS_DIR = Path(jembatan.translations.__file__).resolve().parent


# --- locales -------------------------------------------------------------------------------

@lru_cache(maxsize=256)
def babel_locale(tag: str) -> Locale:
    """The Babel locale for a BCP-47 tag: ``zh-Hans`` → ``zh_Hans``, ``fil`` → ``fil``."""
    try:
        return Locale.parse(str(tag).replace("_", "-"), sep="-")
    except (ValueError, TypeError, UnknownLocaleError) as exc:
        raise ValueError(f"locale: {tag!r} is not a locale CLDR knows") from exc


def negotiate(accept_language: str | None) -> str:
    """The URL locale that best serves an ``Accept-Language`` header.

    Werkzeug parses the header (quality order, q=0 dropped); each range in turn is matched
    with CLDR's language-matching data through langcodes, which knows that ``zh-TW`` and
    ``zh-HK`` read Traditional script, ``zh``/``zh-SG`` Simplified, and that ``tl`` is ``fil``.
    (Werkzeug's own ``best_match`` would send ``zh-TW`` to the first ``zh-*`` locale.)
    """
    if not accept_language:
        return DEFAULT_LOCALE
    for value, quality in parse_accept_header(accept_language, LanguageAccept):
        if quality <= 0 or value == "*":
            continue
        try:
            match = langcodes.closest_supported_match(value.replace("_", "-"), LOCALES)
        except (ValueError, LookupError):  # not a language tag at all
            continue
        if match is not None:
            return match
    return DEFAULT_LOCALE


# --- content fallback ----------------------------------------------------------------------

class Picked(NamedTuple):
    """The text shown for a multilingual field, the tag of its language, and whether that
    language is a fallback (the page then says which language it shows)."""

    text: str
    lang: str | None
    fallback: bool


@lru_cache(maxsize=1024)
def _lang_script(tag: str) -> tuple[str, str] | None:
    """(language, script) of a tag with the likely script filled in: ``zh``/``zh-CN`` →
    (zh, Hans), ``zh-TW``/``zh-HK`` → (zh, Hant), ``tl`` → (fil, Latn); None if unparsable."""
    try:
        full = langcodes.Language.get(tag.replace("_", "-")).maximize()
    except (ValueError, LookupError, AttributeError):
        return None
    if not full.language or full.language == "und":
        return None
    return full.language, full.script or ""


def _closest(tag: str, keys: list[str]) -> str:
    """The key nearest to ``tag`` (an exact key first; ties keep the record's key order)."""
    if tag in keys:
        return tag
    def distance(key: str) -> int:
        try:
            return langcodes.tag_distance(tag, key)
        except (ValueError, LookupError):
            return 1000
    return min(keys, key=distance)


def pick_text(text: dict[str, str] | None, locale: str, own: str | None = None) -> Picked:
    """The variant of ``text`` to show a reader of ``locale``.

    Requested language (same script) → same language in the other script → English → the
    record's own language ``own`` (when it is one of the keys) → the first key. Empty values
    are never picked; an empty or missing field gives ``Picked("", None, False)``.
    """
    variants = {k: v for k, v in (text or {}).items()
                if isinstance(k, str) and isinstance(v, str) and v.strip()}
    if not variants:
        return Picked("", None, False)
    keys = list(variants)
    parsed = {k: _lang_script(k) for k in keys}
    wanted = _lang_script(locale)

    def chosen(candidates: list[str], target: str, fallback: bool) -> Picked:
        key = _closest(target, candidates)
        return Picked(variants[key], key, fallback)

    if wanted is not None:
        same = [k for k in keys if parsed[k] == wanted]
        if same:
            return chosen(same, locale, False)
        other_script = [k for k in keys if parsed[k] and parsed[k][0] == wanted[0]]
        if other_script:
            return chosen(other_script, locale, True)
    english = [k for k in keys if parsed[k] and parsed[k][0] == "en"]
    if english:
        return chosen(english, "en", True)
    if own:
        own_ls = _lang_script(own)
        mine = [k for k in keys if k == own or (own_ls is not None and parsed[k] == own_ls)]
        if not mine and own_ls is not None:
            mine = [k for k in keys if parsed[k] and parsed[k][0] == own_ls[0]]
        if mine:
            return chosen(mine, own, True)
    return Picked(variants[keys[0]], keys[0], True)


def language_name(tag: str, locale: str) -> str:
    """The name of language ``tag`` in the reader's ``locale``, from CLDR: in ``en``,
    ``zh-Hant`` is "Chinese (Traditional)"; in ``th``, ``en`` is "อังกฤษ"."""
    viewer = babel_locale(locale)
    try:
        canonical = langcodes.standardize_tag(tag.replace("_", "-"))
    except (ValueError, LookupError, AttributeError):
        return str(tag)
    language = canonical.split("-")[0]
    try:
        parsed = Locale.parse(canonical, sep="-")
    except (ValueError, TypeError, UnknownLocaleError):
        parsed = None
    # Babel resolves "und" to its likely locale (en_US); such codes, and languages CLDR has
    # no locale data for, are named by the bare language entry instead.
    name = parsed.get_display_name(viewer) if parsed and parsed.language == language else None
    return name or viewer.languages.get(language) or canonical


# --- formatting in the current request's locale ------------------------------------------

def current_locale() -> str:
    """The URL locale of the current request (``g.locale``), else the default."""
    tag = g.get("locale") if has_app_context() else None
    return tag if tag in LOCALES else DEFAULT_LOCALE


def _select_locale() -> Locale:
    return babel_locale(current_locale())


def _current_babel_locale() -> Locale:
    return _flask_babel_locale() or babel_locale(DEFAULT_LOCALE)


def country_name(code: str | None) -> str:
    """CLDR's name of a territory in the current locale; "ZZ" (or no code) is CLDR's
    "Unknown Region"; a code CLDR does not know is returned as it is."""
    territories = _current_babel_locale().territories
    code = (code or "ZZ").upper()
    return territories.get(code, code)


def fmt_number(number: Any, format: str | None = None) -> str:
    """A number with the locale's separators (``None`` → "")."""
    return "" if number is None else _babel_decimal(number, format=format)


def fmt_percent(number: Any, format: str | None = None) -> str:
    """A ratio as a percentage (0.25 → "25%" in en)."""
    return "" if number is None else _babel_percent(number, format=format)


def fmt_currency(amount: Any, currency: str | None) -> str:
    """An amount of a currency (ISO 4217 code) with the currency's own number of digits;
    without a currency the bare number."""
    if amount is None:
        return ""
    if not currency:
        return fmt_number(amount)
    return _babel_currency(amount, currency.upper())


_YEAR_RE = re.compile(r"^\d{4}$")
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


def fmt_date(value: date | datetime | str | None, format: str = "medium") -> str:
    """A date in the locale's ``format`` (short/medium/long/full). Accepts a date, a
    datetime (shown in the user's time zone) or an ISO 8601 string; the partial dates
    "YYYY" and "YYYY-MM" use CLDR's year and year-month patterns."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        text = value.strip()
        locale = _current_babel_locale()
        if _YEAR_RE.match(text):
            return format_skeleton("y", date(int(text), 1, 1), locale=locale)
        month = _MONTH_RE.match(text)
        try:
            if month:
                return format_skeleton("yMMM", date(int(month[1]), int(month[2]), 1),
                                       locale=locale)
            value = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"date: {value!r} is not an ISO 8601 date") from exc
    if not isinstance(value, date):
        raise TypeError(f"date: expected a date, datetime or ISO string, not {value!r}")
    return _babel_date(value, format=format)


def fmt_list(items: Iterable[Any], style: str = "standard") -> str:
    """Items joined the locale's way ("a, b, and c"; "a、b和c")."""
    return format_list([str(item) for item in items], style=style,
                       locale=_current_babel_locale())


def _labelled(entries: dict, code: Any) -> str:
    entry = entries.get(code)
    return vocab.label(entry, current_locale()) if entry else str(code)


def enum_label(vocabulary: str, code: str) -> str:
    """A vocabulary code's label in the reader's language (network/data keeps every locale)."""
    return _labelled(vocab.enum_labels(vocabulary), code)


def field_label(code: str) -> str:
    return _labelled({c: f["labels"] for c, f in vocab.fields().items()}, code)


def trl_label(level: int | str) -> str:
    return _labelled({n: t["labels"] for n, t in vocab.trl_levels().items()}, int(level))


def _language_name_here(tag: str, locale: str | None = None) -> str:
    return language_name(tag, locale or current_locale())


def _pick_text_here(text: dict[str, str] | None, locale: str | None = None,
                    own: str | None = None) -> Picked:
    return pick_text(text, locale or current_locale(), own)


def init_i18n(app: Flask) -> Babel:
    """Flask-Babel for ``app``: the locale from the URL (``g.locale``), the catalogs in
    ``translations/``, and the CLDR helpers as Jinja globals and filters.

    In templates ``language_name(tag)`` and ``pick_text(text, own=...)`` default to the
    request's locale. ``BABEL_TRANSLATION_DIRECTORIES`` in the app's config still wins over
    the packaged catalogs (Flask-Babel reads it first).
    """
    babel = Babel(app, default_locale=DEFAULT_LOCALE,
                  default_translation_directories=str(TRANSLATIONS_DIR),
                  locale_selector=_select_locale)
    helpers = {
        "country_name": country_name,
        "fmt_number": fmt_number,
        "fmt_percent": fmt_percent,
        "fmt_date": fmt_date,
        "fmt_currency": fmt_currency,
        "fmt_list": fmt_list,
        "language_name": _language_name_here,
        "pick_text": _pick_text_here,
        "enum_label": enum_label,
        "field_label": field_label,
        "trl_label": trl_label,
        "transfer_mode_label": lambda code: enum_label("transfer_mode", code),
    }
    app.jinja_env.globals.update(helpers, LOCALES=LOCALES, current_locale=current_locale)
    app.jinja_env.filters.update(helpers)
    return babel
