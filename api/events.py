"""What happens at an event: who takes part, what is shown, what is signed, and its calendar.

    POST   /api/v1/events/<rid>/participants               {institution: rid} → 201 (200: already)
    DELETE /api/v1/events/<rid>/participants/<institution> → 204
    POST   /api/v1/events/<rid>/technologies               {technology: rid}  → 201 (200: already)
    DELETE /api/v1/events/<rid>/technologies/<technology>  → 204
    GET    /api/v1/events/<rid>/outcomes                   the agreements signed at it (a page)
                                                           and its statistics
    GET    /api/v1/events.ics?from=&to=&country=&kind=&lang=   the events as iCalendar
    GET    /api/v1/events/<rid>.ics?lang=                  one event as iCalendar

Registering changes the event record: a new version through ``api.writes`` (editor or admin
token; only this node's events, 409 for another node's), none when the institution or
technology is there already (200) or, on DELETE, not there (404). The institution or
technology must be a live record of that kind held by this node (422 naming the field).

Outcomes and calendars are read in the caller's scope: an anonymous reader sees public
records only, and what it may not see is neither listed nor counted.
"""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import urlencode

import marshmallow as ma
from flask import Response, current_app, g, request
from flask_smorest import Blueprint
from marshmallow import fields as mf, validate

from jembatan.graph.store import LOCAL, RecordQuery, Store, StoredRecord
from jembatan.network import errors, vocab
from jembatan.network.ids import parse_rid
from jembatan.network.schemas import BODY_SCHEMAS, Country, IsoDate, RidRef

from . import events_ical, writes
from .auth import caller_role, require_writer, scope_for
from .records import (MAX_PAGE, WRITE_METHODS, ApiBlueprint, Cursor, etag_of, fetch_page,
                      json_response, node_state, path_rid)

#: the calendar's default window around today, in days
BEFORE, AFTER = 30, 365
#: agreements read per page while counting an event's outcomes
_COUNT_PAGE = 500


class _Args(ma.Schema):
    class Meta:
        unknown = ma.RAISE


class ParticipantArgs(_Args):
    institution = RidRef("institution", required=True,
                         metadata={"description": "An institution held by this node."})


class TechnologyArgs(_Args):
    technology = RidRef("technology", required=True,
                        metadata={"description": "A technology held by this node."})


class OutcomeArgs(_Args):
    limit = mf.Integer(validate=validate.Range(1, MAX_PAGE))
    cursor = Cursor(metadata={"description": "The next_cursor of the previous page."})


class _Lang(_Args):
    lang = mf.String(load_default="en", validate=validate.OneOf(vocab.UI_LOCALES),
                     metadata={"description": "The language of names and descriptions."})


class CalendarArgs(_Lang):
    from_ = IsoDate(data_key="from", metadata={
        "description": f"First day (default: {BEFORE} days ago, or {BEFORE + AFTER} days "
                       "before to)."})
    to = IsoDate(metadata={"description": f"Last day (default: {AFTER} days ahead, or "
                           f"{BEFORE + AFTER} days after from)."})
    country = Country(metadata={"description": "Events held in this country."})
    kind = mf.String(validate=validate.OneOf(vocab.EVENT_KINDS))

    @ma.validates_schema
    def _window(self, data, **kwargs):
        if "from_" in data and "to" in data and data["from_"] > data["to"]:
            raise ma.ValidationError("Must not be before from.", "to")


class Stats(ma.Schema):
    participants = mf.Integer()
    participants_by_country = mf.Dict(keys=mf.String(), values=mf.Integer())
    participants_by_kind = mf.Dict(keys=mf.String(), values=mf.Integer())
    technologies_shown = mf.Integer()
    technologies_by_field = mf.Dict(keys=mf.String(), values=mf.Integer())
    agreements = mf.Integer()
    agreements_by_kind = mf.Dict(keys=mf.String(), values=mf.Integer())
    agreements_by_status = mf.Dict(keys=mf.String(), values=mf.Integer())
    values = mf.List(mf.Dict(), metadata={"description": "[{currency, amount}]: never converted."})
    participants_with_agreement = mf.Integer()
    conversion = mf.Float(allow_none=True, metadata={
        "description": "Share of the participants party to an agreement signed at the event "
                       "(null without participants)."})


class Outcomes(ma.Schema):
    event = mf.Dict(metadata={"description": "The event record."})
    agreements = mf.List(mf.Dict(), metadata={"description": "Agreements signed at the event, "
                                              "newest change first."})
    next_cursor = mf.String(allow_none=True)
    stats = mf.Nested(Stats)


# ---------------------------------------------------------------- reading

def visible_event(store: Store, scope: frozenset[str], rid: str) -> StoredRecord:
    """The live event ``rid`` as a reader of ``scope`` sees it; 404 / 410 otherwise."""
    try:
        is_event = parse_rid(rid).kind == "event"
    except ValueError:
        is_event = False
    stored = store.get(rid, scope) if is_event else None
    if stored is None:
        raise errors.NotFound(f"No event {rid}.")
    if stored.envelope["deleted"]:
        raise errors.Gone(f"The event {rid} was deleted.")
    return stored


def _live(store: Store, scope: frozenset[str], rids: list[str], kind: str) -> dict[str, dict]:
    """rid → body of the records named that are live, of ``kind`` and within ``scope``: one
    read each, so a name the reader may not see (or a record not received) counts for nothing."""
    out: dict[str, dict] = {}
    for rid in dict.fromkeys(rids):
        stored = store.get(rid, scope)
        env = stored.envelope if stored is not None else None
        if env is not None and not env["deleted"] and env["kind"] == kind:
            out[rid] = env["body"]
    return out


def _tally(codes) -> dict[str, int]:
    """code → how often it occurs, codes in order."""
    return dict(sorted(Counter(codes).items()))


def _money(totals: dict[str, Decimal]) -> list[dict]:
    return [{"currency": c, "amount": f"{v:.{vocab.currency_digits(c)}f}"}
            for c, v in sorted(totals.items())]


def event_stats(store: Store, scope: frozenset[str], env: dict) -> dict:
    """An event's figures as a reader of ``scope`` sees them (see ``Stats``)."""
    body = env["body"]
    people = _live(store, scope, body.get("participants", []), "institution")
    techs = _live(store, scope, body.get("technologies", []), "technology").values()
    agreements, cursor = [], None
    while True:
        page = store.list(RecordQuery(kinds=("agreement",), scope=scope, event=env["rid"],
                                      limit=_COUNT_PAGE, cursor=cursor))
        agreements += [r.envelope["body"] for r in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    values: dict[str, Decimal] = {}
    parties: set[str] = set()
    for a in agreements:
        if a.get("value"):
            cur = a["value"]["currency"]
            values[cur] = values.get(cur, Decimal(0)) + Decimal(a["value"]["amount"])
        parties.update(p["institution"] for p in a["parties"])
    converted = sum(1 for rid in people if rid in parties)
    return {
        "participants": len(people),
        "participants_by_country": _tally(b["country"] for b in people.values()),
        "participants_by_kind": _tally(b["kind"] for b in people.values()),
        "technologies_shown": len(techs),
        "technologies_by_field": _tally(f for t in techs for f in t["fields"]),
        "agreements": len(agreements),
        "agreements_by_kind": _tally(a["kind"] for a in agreements),
        "agreements_by_status": _tally(a["status"] for a in agreements),
        "values": _money(values),
        "participants_with_agreement": converted,
        "conversion": round(converted / len(people), 4) if people else None,
    }


def outcomes_doc(store: Store, scope: frozenset[str], rid: str, *, limit: int = 50,
                 cursor: str | None = None) -> dict:
    """The event, one page of the agreements signed at it and its statistics (the API's and
    the CLI's answer)."""
    env = visible_event(store, scope, rid).envelope
    page = fetch_page(store.list, RecordQuery(kinds=("agreement",), scope=scope, event=rid,
                                              limit=limit, cursor=cursor))
    return {"event": env, "agreements": [r.envelope for r in page.items],
            "next_cursor": page.next_cursor, "stats": event_stats(store, scope, env)}


def calendar_window(args: dict, today: date | None = None) -> tuple[str, str]:
    """The ISO first and last day a calendar covers (``from_``, ``to``): as asked; without
    either, today − BEFORE … today + AFTER; with one, the window of that length from it."""
    today = today or datetime.now(timezone.utc).date()
    span = timedelta(days=BEFORE + AFTER)
    first = date.fromisoformat(args["from_"]) if args.get("from_") else None
    last = date.fromisoformat(args["to"]) if args.get("to") else None
    if first is None:
        first = last - span if last is not None else today - timedelta(days=BEFORE)
    if last is None:
        last = first + span
    if last < first:
        raise errors.ValidationError("The calendar ends before it starts.", errors=[
            {"field": "to", "detail": "Must not be before from."}])
    return first.isoformat(), last.isoformat()


# ---------------------------------------------------------------- registering

def _max_items(name: str) -> int:
    """The most entries the event body schema allows in list ``name``."""
    for check in BODY_SCHEMAS["event"]().fields[name].validators:
        if isinstance(check, validate.Length) and check.max is not None:
            return check.max
    return 10**9


def _check_reference(rid: str, kind: str, field: str) -> None:
    stored = node_state().store.get(rid, LOCAL)
    if stored is None or stored.envelope["deleted"] or stored.envelope["kind"] != kind:
        raise errors.ValidationError(f"No {kind} {rid} on this node.", errors=[
            {"field": field, "detail": f"Must be a live {kind} held by this node."}])


def add_to_event(rid: str, name: str, ref: str, kind: str, field: str) -> tuple[StoredRecord, bool]:
    """Add ``ref`` to the list ``name`` of this node's event ``rid``: (the event, whether a
    new version was written)."""
    current = writes.owned("event", path_rid(rid))
    _check_reference(ref, kind, field)
    body = current.envelope["body"]
    names = list(body.get(name, []))
    if ref in names:
        return current, False
    if len(names) >= _max_items(name):
        raise errors.ValidationError(f"The event has the most {name} it may have.", errors=[
            {"field": field, "detail": f"An event lists at most {_max_items(name)} {name}."}])
    stored = writes.update("event", rid, dict(body, **{name: [*names, ref]}), None,
                           current.version)
    return stored, True


def remove_from_event(rid: str, name: str, ref: str, field: str) -> StoredRecord:
    current = writes.owned("event", path_rid(rid))
    body = current.envelope["body"]
    names = list(body.get(name, []))
    if ref not in names:
        raise errors.NotFound(f"{ref} is not among the event's {name}.",
                              errors=[{"field": field, "detail": f"Not among the {name}."}])
    return writes.update("event", rid, dict(body, **{name: [n for n in names if n != ref]}),
                         None, current.version)


# ---------------------------------------------------------------- the blueprint

def _decorate(func, *decorators):
    """``func`` under ``decorators``, the first outermost (as if stacked above it)."""
    for deco in reversed(decorators):
        func = deco(func)
    return func


def _ics(payload: bytes, filename: str) -> Response:
    return current_app.response_class(payload, headers={
        "Content-Type": f"{events_ical.ICS}; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{filename}"'})


def events_blueprint() -> Blueprint:
    blp = ApiBlueprint("event_activity", __name__, url_prefix="/api/v1",
                       description="Event participants, technologies shown, outcomes and "
                                   "calendars (iCalendar).")

    @blp.before_request
    def _authenticate() -> None:
        # credentials before the body: a caller that may not write learns nothing
        g.role = require_writer() if request.method in WRITE_METHODS else caller_role()

    problems = {code: blp.alt_response(code, name) for code, name in (
        (400, "BAD_REQUEST"), (401, "UNAUTHORIZED"), (403, "FORBIDDEN"), (404, "NOT_FOUND"),
        (409, "CONFLICT"), (410, "GONE"), (412, "PRECONDITION_FAILED"))}
    secured = blp.doc(security=[{"bearer": []}])

    def added(result: tuple[StoredRecord, bool]) -> Response:
        stored, new = result
        return json_response(stored, 201 if new else 200, {"ETag": etag_of(stored)})

    for name, args_schema, kind in (("participants", ParticipantArgs, "institution"),
                                    ("technologies", TechnologyArgs, "technology")):
        def add(args: dict, rid: str, name=name, kind=kind) -> Response:
            return added(add_to_event(rid, name, args[kind], kind, kind))

        def remove(rid: str, ref: str, name=name, kind=kind) -> Response:
            remove_from_event(rid, name, ref, kind)
            return current_app.response_class(status=204)

        write_problems = [secured, *(problems[c] for c in (401, 403, 404, 409, 410, 412))]
        _decorate(add, blp.route(f"/events/<rid>/{name}", methods=["POST"],
                                 endpoint=f"add_{kind}"),
                  blp.arguments(args_schema),
                  blp.response(201, description=f"The event with the {kind} added: a new "
                               "version."),
                  blp.alt_response(200, description=f"The {kind} was there already: the "
                                   "event as it is.", success=True),
                  *write_problems)
        _decorate(remove, blp.route(f"/events/<rid>/{name}/<ref>", methods=["DELETE"],
                                    endpoint=f"remove_{kind}"),
                  blp.response(204, description=f"The {kind} was removed: a new version."),
                  *write_problems)

    @blp.route("/events/<rid>/outcomes", endpoint="outcomes")
    @blp.arguments(OutcomeArgs, location="query")
    @blp.response(200, Outcomes)
    @problems[400]
    @problems[404]
    @problems[410]
    def outcomes(args: dict, rid: str) -> Response:
        st = node_state()
        limit = args.get("limit") or min(st.page_size, MAX_PAGE)
        doc = outcomes_doc(st.store, scope_for(g.role), path_rid(rid), limit=limit,
                           cursor=args.get("cursor"))
        headers = None
        if doc["next_cursor"]:
            query = [(k, v) for k, v in request.args.items(multi=True) if k != "cursor"]
            query.append(("cursor", doc["next_cursor"]))
            headers = {"Link": f'<{request.path}?{urlencode(query)}>; rel="next"'}
        return json_response(doc, headers=headers)

    @blp.route("/events.ics", endpoint="calendar")
    @blp.arguments(CalendarArgs, location="query")
    @blp.response(200, description="The events whose first day is in the window (at most "
                  f"{events_ical.MAX_EVENTS}), by first day.", content_type=events_ical.ICS)
    def calendar(args: dict) -> Response:
        st = node_state()
        start, end = calendar_window(args)
        found = events_ical.window_events(st.store, scope_for(g.role), start, end,
                                          country=args.get("country"), kind=args.get("kind"))
        return _ics(events_ical.events_calendar(found, args["lang"], request.url_root,
                                                name=st.node.name), "events.ics")

    @blp.route("/events/<rid>.ics", endpoint="event_calendar")
    @blp.arguments(_Lang, location="query")
    @blp.response(200, description="One event as iCalendar.", content_type=events_ical.ICS)
    @problems[400]
    @problems[404]
    @problems[410]
    def event_calendar(args: dict, rid: str) -> Response:
        st = node_state()
        env = visible_event(st.store, scope_for(g.role), path_rid(rid)).envelope
        filename = f"event-{parse_rid(rid).uuid}.ics"
        return _ics(events_ical.events_calendar([env], args["lang"], request.url_root), filename)

    return blp
