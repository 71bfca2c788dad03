"""Controlled vocabularies.

Countries and currencies come from CLDR through Babel; the technology fields, the TRL scale
and the labels of every enumeration live in ``data/*.json`` with a label per UI locale.
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from babel import Locale
from babel.numbers import get_currency_precision, list_currencies

UI_LOCALES = ("zh-Hans", "zh-Hant", "en", "id", "ms", "th", "vi", "km", "lo", "my", "fil")

#: China and the eleven ASEAN members (Timor-Leste included): the alliance's countries.
ALLIANCE_COUNTRIES = ("CN", "BN", "KH", "ID", "LA", "MY", "MM", "PH", "SG", "TH", "VN", "TL")

INSTITUTION_KINDS = ("university", "research_institute", "enterprise", "transfer_centre",
                     "government", "park_incubator", "investor", "association")
TRANSFER_MODES = ("licence", "assignment", "joint_development", "equity", "technical_service")
STAGES = ("registered", "evaluated", "matched", "negotiating", "transferred", "commercialised",
          "withdrawn")
AGREEMENT_KINDS = ("licence", "assignment", "joint_rd", "technical_service", "consultancy",
                   "joint_lab", "framework")
AGREEMENT_STATUSES = ("proposed", "active", "completed", "terminated")
PARTY_ROLES = ("provider", "recipient", "partner")
EVENT_KINDS = ("matchmaking", "roadshow", "forum", "salon", "competition", "exhibition")
VISIBILITIES = ("public", "alliance", "private")
#: how far a visibility reaches; narrowing a record leaves peers a tombstone
WIDTH = {v: len(VISIBILITIES) - 1 - i for i, v in enumerate(VISIBILITIES)}
IP_STATUSES = ("none", "pending", "granted", "expired", "trade_secret")
IDENTIFIER_SCHEMES = ("ror", "uscc", "grid", "isni", "wikidata", "crossref_funder", "nib",
                      "ssm", "local")

# CLDR's territory list also holds macro-regions ("001"), groupings (EU, UN, EZ) and the
# unknown region (ZZ); only ISO 3166-1 alpha-2 codes name a country.
_NOT_COUNTRIES = {"EU", "EZ", "UN", "QO", "ZZ", "XA", "XB"}


@lru_cache(maxsize=1)
def countries() -> frozenset[str]:
    return frozenset(code for code in Locale("en").territories
                     if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES)


@lru_cache(maxsize=1)
def currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def currency_digits(code: str) -> int:
    return get_currency_precision(code)


@lru_cache(maxsize=None)
def _data(name: str) -> dict:
    with resources.files("jembatan.network").joinpath("data", name).open(encoding="utf-8") as f:
        return json.load(f)


@lru_cache(maxsize=1)
def fields() -> dict[str, dict]:
    """Technology field code → {labels, keywords}, in the vocabulary's order."""
    return {f["code"]: f for f in _data("fields.json")["fields"]}


def field_codes() -> frozenset[str]:
    return frozenset(fields())


@lru_cache(maxsize=1)
def trl_levels() -> dict[int, dict]:
    return {lv["level"]: lv for lv in _data("trl.json")["levels"]}


def enum_labels(vocabulary: str) -> dict[str, dict[str, str]]:
    return _data("enums.json")[vocabulary]


def label(labels: dict[str, str], locale: str) -> str:
    """A label in ``locale``, else its language, else English."""
    if locale in labels:
        return labels[locale]
    lang = locale.split("-")[0]
    for tag, text in labels.items():
        if tag.split("-")[0] == lang:
            return text
    return labels.get("en") or next(iter(labels.values()))
