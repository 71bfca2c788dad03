"""The record forms of the staff pages, drawn from the body schemas of ``network/schemas.py``.

Each body field gets the input its marshmallow field calls for (``form_inputs``); a submitted
form is read back into a body (``read_body``) shaped for the schema but not validated, since
the schema is the one definition of what a body may hold; and each of the schema's English
error messages is translated from the catalog (``message``), never shown in English to another
reader. ``form_page`` draws a kind's form with every problem next to its field.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

from babel.numbers import get_currency_name
from flask import current_app, g, render_template
from flask_babel import gettext as _
from marshmallow import Schema, fields as mf, validate
from werkzeug.datastructures import MultiDict

from jembatan.graph.store import LOCAL, RecordQuery
from jembatan.network import vocab
from jembatan.network.schemas import BODY_SCHEMAS, Country, Currency, FieldCode, IsoDate, RidRef, Url
from jembatan.network.text import MultilingualText

from .i18n import (LOCALES, babel_locale, country_name, enum_label, field_label, fmt_number,
                   language_name, pick_text, trl_label)

FORM_KINDS = ("technology", "demand", "institution", "event", "agreement")
_SCHEMAS: dict[str, Schema] = {kind: BODY_SCHEMAS[kind]() for kind in FORM_KINDS}
_ENUMS = ("institution_kind", "transfer_mode", "stage", "agreement_kind", "agreement_status",
          "party_role", "event_kind", "ip_status")
#: body fields the node keeps itself (``api.writes``): not drawn, not read from a form
NODE_KEPT = frozenset({"stage_history"})
REF_SUGGESTIONS = 300       # records offered in a reference input's list
_CHECKBOXES = 30            # a longer list of choices is a multiple select


@dataclass
class Input:
    """One input of a record form, made from the body schema's field ``name``.

    ``widget``: multilingual (an input per language, and a language select beside an empty
    one), group (a nested object), rows (a list of objects), select, checks or multi (several
    choices, as checkboxes or a multiple select), keyed (a text per key), lines (a list, one
    item a line), rid, date, url, text.
    """
    path: str                   # the form's name for it, e.g. "budget.amount"
    name: str
    widget: str
    required: bool = False
    value: Any = None
    choices: list[tuple[str, str]] = field(default_factory=list)      # (value, label)
    children: list[Input] = field(default_factory=list)
    rows: list[list[Input]] = field(default_factory=list)
    langs: list[str] = field(default_factory=list)
    more: list[tuple[str, str]] = field(default_factory=list)         # (tag, language name)
    long: bool = False
    ref: str | None = None


@lru_cache(maxsize=None)
def _enum_of(choices: tuple) -> str | None:
    """The vocabulary (network/data/enums.json) whose codes are exactly ``choices``."""
    for name in _ENUMS:
        if set(vocab.enum_labels(name)) == set(choices):
            return name
    return None


def _options(f: mf.Field) -> list[tuple[str, str]] | None:
    """The values ``f`` accepts with their labels, when it accepts a list of them."""
    if isinstance(f, FieldCode):
        return [(c, field_label(c)) for c in vocab.fields()]
    if isinstance(f, Country):
        rest = sorted(((c, country_name(c)) for c in vocab.countries()
                       if c not in vocab.ALLIANCE_COUNTRIES), key=lambda o: o[1])
        return [(c, country_name(c)) for c in vocab.ALLIANCE_COUNTRIES] + rest
    if isinstance(f, Currency):
        where = babel_locale(g.locale)
        return [(c, f"{c} · {get_currency_name(c, locale=where)}") for c in sorted(vocab.currencies())]
    for rule in f.validators:
        if isinstance(rule, validate.OneOf):
            enum = _enum_of(tuple(rule.choices))
            return [(str(c), enum_label(enum, c) if enum else str(c)) for c in rule.choices]
        if isinstance(f, mf.Integer) and isinstance(rule, validate.Range) \
                and (rule.min, rule.max) == (1, 9):         # a readiness level
            return [(str(n), f"{fmt_number(n)} · {trl_label(n)}") for n in range(1, 10)]
    return None


def form_inputs(schema: Schema, values: Any, prefix: str = "") -> list[Input]:
    """The inputs of ``schema``'s fields, filled with ``values`` (a body, maybe invalid)."""
    values = values if isinstance(values, dict) else {}
    return [_input(f, name, values.get(name), prefix + name) for name, f in schema.fields.items()
            if name not in NODE_KEPT]


def _input(f: mf.Field, name: str, value: Any, path: str) -> Input:
    if isinstance(f, MultilingualText):
        texts = {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}
        langs = list(dict.fromkeys([*texts, g.locale, "en"]))
        more = [(tag, language_name(tag, g.locale)) for tag in LOCALES if tag not in langs]
        return Input(path, name, "multilingual", f.required, texts, langs=langs, more=more,
                     long=f.max_length > 300)
    if isinstance(f, mf.Nested):
        children = form_inputs(f.schema, value, path + ".")
        for child in children if not f.required else ():
            child.required = False      # required only once the optional group is given
        return Input(path, name, "group", f.required, children=children)
    if isinstance(f, mf.List):
        items = value if isinstance(value, list) else []
        if isinstance(f.inner, mf.Nested):
            rows = [r for r in items if isinstance(r, dict)]
            rows += [{}] * max(3 - len(rows), 1)       # room for another row
            return Input(path, name, "rows", f.required, rows=[
                form_inputs(f.inner.schema, row, f"{path}.{i}.") for i, row in enumerate(rows)])
        options = _options(f.inner)
        if options is not None:
            return Input(path, name, "checks" if len(options) <= _CHECKBOXES else "multi",
                         f.required, [str(v) for v in items], options)
        return Input(path, name, "lines", f.required, "\n".join(str(v) for v in items))
    if isinstance(f, mf.Dict):
        options = _options(f.key_field) or []
        return Input(path, name, "keyed", f.required,
                     value if isinstance(value, dict) else {}, options)
    options = _options(f)
    if options is not None:
        return Input(path, name, "select", f.required, None if value is None else str(value),
                     options)
    widget = ("rid" if isinstance(f, RidRef) else "date" if isinstance(f, IsoDate)
              else "url" if isinstance(f, Url) else "text")
    return Input(path, name, widget, f.required, "" if value is None else str(value),
                 ref=f.kind if isinstance(f, RidRef) else None)


def _text(form: MultiDict, key: str) -> str:
    # browsers send a textarea's line breaks as CRLF; records keep "\n"
    return form.get(key, "").replace("\r\n", "\n").replace("\r", "\n").strip()


def read_body(kind: str, form: MultiDict) -> dict:
    """The body a record form sends, shaped for the kind's schema but not validated: empty
    inputs are left out, and what does not convert is passed on for the schema to name."""
    return _read_fields(_SCHEMAS[kind], form, "")


def _read_fields(schema: Schema, form: MultiDict, prefix: str) -> dict:
    out = {}
    for name, f in schema.fields.items():
        if name in NODE_KEPT:
            continue
        value = _read(f, form, prefix + name)
        if value is not None:
            out[name] = value
    return out


def _read(f: mf.Field, form: MultiDict, path: str) -> Any:
    if isinstance(f, MultilingualText):
        texts = {key[len(path) + 1:]: _text(form, key) for key in form
                 if key.startswith(path + ".")}
        tag, added = form.get(path + ":lang", ""), _text(form, path + ":new")
        if tag and added and not texts.get(tag):
            texts[tag] = added
        return {tag: text for tag, text in texts.items() if text} or None
    if isinstance(f, mf.Nested):
        return _read_fields(f.schema, form, path + ".") or None
    if isinstance(f, mf.List):
        if isinstance(f.inner, mf.Nested):
            row = re.compile(re.escape(path) + r"\.(\d{1,4})\.")
            indices = sorted({int(m[1]) for key in form if (m := row.match(key))})
            rows = [_read_fields(f.inner.schema, form, f"{path}.{i}.") for i in indices]
            return [r for r in rows if r] or None
        if _options(f.inner) is not None:
            return [v for v in form.getlist(path) if v] or None
        return [line.strip() for line in _text(form, path).split("\n") if line.strip()] or None
    if isinstance(f, mf.Dict):
        keys = [k for k, _label in _options(f.key_field) or []]
        return {k: _text(form, f"{path}.{k}") for k in keys if _text(form, f"{path}.{k}")} or None
    raw = _text(form, path)
    if not raw:
        return None
    if isinstance(f, mf.Integer) and re.fullmatch(r"[+-]?\d{1,9}", raw):
        return int(raw)
    return raw


def _n(text: str) -> str:
    return fmt_number(int(text))


# marshmallow's (and network/schemas.py's) English messages → the catalog's. Each pattern
# is a message the schemas can give; anything else is shown as the generic message.
_MESSAGES: list[tuple[re.Pattern, Callable[[re.Match], str]]] = [(re.compile(p), m) for p, m in (
    (r"Missing data for required field\.|Field may not be null\.",
     lambda m: _("This field is required.")),
    (r"Must be greater than or equal to (?P<a>\d+) and less than or equal to (?P<b>\d+)\.",
     lambda m: _("Must be from %(low)s to %(high)s.", low=_n(m["a"]), high=_n(m["b"]))),
    (r"Must be greater than or equal to (?P<a>\d+)\.",
     lambda m: _("Must be at least %(low)s.", low=_n(m["a"]))),
    (r"Not a valid integer\.|Not a valid number\.", lambda m: _("Enter a whole number.")),
    (r"Length must be between (?P<a>\d+) and (?P<b>\d+)\.",
     lambda m: _("Choose from %(low)s to %(high)s entries.", low=_n(m["a"]), high=_n(m["b"]))),
    (r"Shorter than minimum length (?P<a>\d+)\.",
     lambda m: _("Give at least %(count)s entries.", count=_n(m["a"]))),
    (r"Longer than maximum length (?P<a>\d+)\.",
     lambda m: _("Give at most %(count)s entries.", count=_n(m["a"]))),
    (r"Must be one of: .*\.", lambda m: _("Choose one of the values offered.")),
    (r"Not a valid URL\.", lambda m: _("Enter a web address beginning with https:// or http://.")),
    (r"Not a well-formed rid .*", lambda m: _("Enter a record identifier (urn:jembatan:…).")),
    (r"Must reference a (?P<a>\w+), not a (?P<b>\w+)\.",
     lambda m: _("Must name a record of the kind “%(kind)s”.", kind=enum_label("record_kind", m["a"]))),
    (r"Not an ISO 3166-1 alpha-2 country code.*", lambda m: _("Choose a country.")),
    (r"Not an ISO 4217 currency code\.", lambda m: _("Choose a currency.")),
    (r"Not a date in the form YYYY-MM-DD\.", lambda m: _("Enter a date as YYYY-MM-DD.")),
    (r"Not a technology field code.*", lambda m: _("Choose a field from the list.")),
    (r"Must be a decimal number as a string.*|Not a decimal number\.",
     lambda m: _("Enter an amount such as 1250000.00.")),
    (r"Must be between 0 and 10\^15\.", lambda m: _("The amount is too large.")),
    (r"(?P<a>[A-Z]{3}) has (?P<b>\d+) decimal places\.",
     lambda m: _("Amounts in %(currency)s have %(digits)s decimal places.", currency=m["a"],
                 digits=_n(m["b"]))),
    (r".* must not repeat\.", lambda m: _("Each entry may appear only once.")),
    (r"Must not be before starts_on\.", lambda m: _("The end must not be before the start.")),
    (r"At least one language must have non-empty text\.",
     lambda m: _("Enter the text in at least one language.")),
    (r"At most (?P<a>\d+) language variants\.",
     lambda m: _("Give at most %(count)s languages.", count=_n(m["a"]))),
    (r"Not a well-formed BCP-47 language tag\.|Same language as another key.*",
     lambda m: _("Choose each language once, from the list.")),
    (r"Longer than (?P<a>\d+) characters\.",
     lambda m: _("At most %(count)s characters.", count=_n(m["a"]))),
    (r"Must not be empty\.", lambda m: _("Must not be empty.")),
    (r"Must not contain control characters.*",
     lambda m: _("Must not contain control characters.")),
)]


def message(detail: str) -> str:
    """A schema's English error message in the reader's language, from the catalog."""
    for pattern, translated in _MESSAGES:
        found = pattern.fullmatch(detail)
        if found:
            return translated(found)
    return _("This value is not valid.")


def _field_labels() -> dict[str, str]:
    return {
        "title": _("Title"), "summary": _("Summary"), "owner": _("Owner"), "fields": _("Fields"),
        "keywords": _("Keywords"), "trl": _("Readiness level (TRL)"),
        "ip": _("Intellectual property"), "status": _("Status"), "patents": _("Patent numbers"),
        "transfer_modes": _("Transfer modes"), "stage": _("Stage"), "requester": _("Requester"),
        "trl_min": _("Lowest readiness level wanted"), "budget": _("Budget"),
        "amount": _("Amount"), "currency": _("Currency"), "deadline": _("Deadline"),
        "countries": _("Countries of interest"), "name": _("Name"), "kind": _("Kind"),
        "country": _("Country"), "city": _("City"), "website": _("Website"),
        "identifiers": _("Identifiers"), "description": _("Description"),
        "parties": _("Parties"), "institution": _("Institution"), "role": _("Role"),
        "technology": _("Technology"), "event": _("Event"), "signed_on": _("Signed on"),
        "value": _("Value"), "registration_no": _("Registration number"),
        "starts_on": _("Starts on"), "ends_on": _("Ends on"), "organisers": _("Organisers"),
        "participants": _("Participants"), "technologies": _("Technologies shown"),
        "visibility": _("Visibility"),
    }


def _suggestions(kind: str) -> list[tuple[str, str]]:
    """Records of ``kind`` the node holds, as (rid, name) for a reference input's list."""
    page = current_app.extensions["jembatan"].store.list(
        RecordQuery(kinds=(kind,), scope=LOCAL, limit=REF_SUGGESTIONS))
    out = []
    for stored in page.items:
        body = stored.envelope["body"] or {}
        out.append((stored.envelope["rid"],
                    pick_text(body.get("title") or body.get("name"), g.locale).text))
    return out


def form_page(kind: str, values: Any, visibility: str, *, problems: list[dict] | None = None,
              rid: str | None = None, version: Any = None, stale: bool = False) -> str:
    """The form of a ``kind`` record filled with ``values``, each problem next to its field."""
    inputs = form_inputs(_SCHEMAS[kind], values)
    shown: dict[str, list[str]] = {}
    for problem in problems or []:
        where = problem.get("field") or ""
        where = where[5:] if where.startswith("body.") else "" if where in ("body", "(body)") else where
        shown.setdefault(where.split(".")[0], []).append(message(str(problem.get("detail"))))
    refs = {i.ref for i in inputs if i.widget == "rid"} | {
        c.ref for i in inputs for row in i.rows for c in row if c.widget == "rid"}
    return render_template(
        "staff/form.html", kind=kind, kind_name=enum_label("record_kind", kind), inputs=inputs,
        problems=shown, labels=_field_labels(), rid=rid, version=version, stale=stale,
        visibility=visibility,
        visibilities=[(v, enum_label("visibility", v)) for v in vocab.VISIBILITIES],
        suggestions={ref: _suggestions(ref) for ref in refs if ref})
