"""Checks on a RecordQuery shared by every backend, and the fingerprint its cursors are bound to.

A backend calls :func:`check_query` first: bad filters are the caller's error (422 naming the
filter), never an empty page that looks like "no such records".
"""
from __future__ import annotations

from datetime import date

from jembatan.network import errors, vocab
from jembatan.network.hlc import HLC_RE
from jembatan.network.ids import KINDS, parse_rid

from .cursor import fingerprint
from .store import RecordQuery
from .textindex import MAX_QUERY_CHARS

MAX_LIMIT = 500
MAX_CHANGES_LIMIT = 10_000
MAX_EVENTS = 1000


def _problem(field: str, detail: str) -> errors.ValidationError:
    return errors.ValidationError(f"Invalid filter: {field}.",
                                  errors=[{"field": field, "detail": detail}])


def _check_int(name: str, value, lo: int, hi: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _problem(name, f"Must be an integer from {lo} to {hi}.")


def check_scope(scope) -> frozenset[str]:
    if not isinstance(scope, (set, frozenset)) or not scope or not set(scope) <= set(vocab.VISIBILITIES):
        raise _problem("scope", f"Must be a non-empty set of {', '.join(vocab.VISIBILITIES)}.")
    return frozenset(scope)


def check_query(q: RecordQuery) -> RecordQuery:
    """Raise ValidationError naming the first bad filter; return the query unchanged."""
    if not isinstance(q.kinds, (tuple, list, frozenset, set)) or any(k not in KINDS for k in q.kinds):
        raise _problem("kinds", f"Each kind must be one of {', '.join(KINDS)}.")
    check_scope(q.scope)
    if q.country is not None and q.country not in vocab.countries():
        raise _problem("country", "Not an ISO 3166-1 alpha-2 country code known to CLDR.")
    if q.field is not None and q.field not in vocab.field_codes():
        raise _problem("field", "Not a technology field code of the vocabulary.")
    _check_int("trl_min", q.trl_min, 1, 9)
    _check_int("trl_max", q.trl_max, 1, 9)
    if q.trl_min is not None and q.trl_max is not None and q.trl_min > q.trl_max:
        raise _problem("trl_max", "Must not be below trl_min.")
    if q.party is not None:
        try:
            if parse_rid(q.party).kind != "institution":
                raise ValueError
        except ValueError:
            raise _problem("party", "Must be the rid of an institution.") from None
    if q.event is not None:
        try:
            if parse_rid(q.event).kind != "event":
                raise ValueError
        except (TypeError, ValueError):
            raise _problem("event", "Must be the rid of an event.") from None
    if q.stage is not None and q.stage not in vocab.STAGES:
        raise _problem("stage", f"Must be one of {', '.join(vocab.STAGES)}.")
    if q.visibility is not None and q.visibility not in vocab.VISIBILITIES:
        raise _problem("visibility", f"Must be one of {', '.join(vocab.VISIBILITIES)}.")
    if q.updated_since is not None and (not isinstance(q.updated_since, str)
                                        or not HLC_RE.match(q.updated_since)):
        raise _problem("updated_since", "Must be an HLC stamp <13-digit ms>-<4-digit counter>.")
    if not isinstance(q.include_deleted, bool):
        raise _problem("include_deleted", "Must be true or false.")
    _check_int("limit", q.limit, 1, MAX_LIMIT)
    if q.limit is None:
        raise _problem("limit", f"Must be an integer from 1 to {MAX_LIMIT}.")
    if q.cursor is not None and not isinstance(q.cursor, str):
        raise errors.BadRequest("invalid cursor")
    return q


def check_events(start, end, scope, country, limit) -> frozenset[str]:
    """Raise ValidationError naming the first bad argument of ``Store.events``; return the scope."""
    for name, value in (("start", start), ("end", end)):
        try:
            date.fromisoformat(value)
            if len(value) != 10:
                raise ValueError
        except (TypeError, ValueError):
            raise _problem(name, "Must be a date YYYY-MM-DD.") from None
    if end < start:
        raise _problem("end", "Must not be before start.")
    if country is not None and country not in vocab.countries():
        raise _problem("country", "Not an ISO 3166-1 alpha-2 country code known to CLDR.")
    _check_int("limit", limit, 1, MAX_EVENTS)
    if limit is None:
        raise _problem("limit", f"Must be an integer from 1 to {MAX_EVENTS}.")
    return check_scope(scope)


def check_search_text(text) -> str:
    if not isinstance(text, str):
        raise _problem("q", "Must be a string.")
    if len(text) > MAX_QUERY_CHARS:
        raise _problem("q", f"Longer than {MAX_QUERY_CHARS} characters.")
    return text


def check_changes_limit(limit) -> None:
    _check_int("limit", limit, 1, MAX_CHANGES_LIMIT)
    if limit is None:
        raise _problem("limit", f"Must be an integer from 1 to {MAX_CHANGES_LIMIT}.")


def query_fingerprint(operation: str, q: RecordQuery, text: str | None = None) -> bytes:
    """What a cursor is bound to: the operation, every filter and the scope (not limit)."""
    # the event filter joins the fingerprint only when set, so cursors issued before it
    # existed stay valid
    more = {} if q.event is None else {"event": q.event}
    return fingerprint(operation, kinds=tuple(q.kinds), scope=q.scope, country=q.country,
                       field=q.field, trl_min=q.trl_min, trl_max=q.trl_max, party=q.party,
                       stage=q.stage, visibility=q.visibility, updated_since=q.updated_since,
                       include_deleted=q.include_deleted, text=text, **more)
