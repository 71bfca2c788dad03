"""The agenda of a matchmaking event: one-to-one meetings between its participants, drawn
from the matches and laid out on time slots and tables.

    GET /api/v1/events/<rid>/agenda         JSON, or ``format=ics`` (iCalendar)

For every demand of a participant, the best technologies of the other participants
(``graph.match.meetings``); ``graph.match.agenda.schedule`` places the best meetings first,
nobody twice in one slot, at most ``tables`` meetings per slot. The agenda is computed from
the records as they are (the same records and arguments give the same agenda); readers see
meetings among the records their scope shows.
"""
from __future__ import annotations

from datetime import date, time

import marshmallow as ma
from flask import Response, current_app, request
from flask_smorest import Blueprint
from marshmallow import fields as mf, validate

from jembatan.graph.match import agenda, meetings
from jembatan.network import vocab
from jembatan.network.ids import parse_rid

from . import events_ical
from .auth import read_scope
from .events import visible_event
from .records import ApiBlueprint, json_response, node_state, path_rid


class AgendaArgs(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    minutes = mf.Integer(load_default=30, validate=validate.Range(agenda.MIN_MINUTES, agenda.MAX_MINUTES),
                         metadata={"description": "Length of a meeting slot."})
    day_start = mf.Time(load_default=time(9), metadata={"description": "HH:MM, local time."})
    day_end = mf.Time(load_default=time(17), metadata={"description": "HH:MM, local time."})
    lunch = mf.Boolean(load_default=True, metadata={"description": "Keep 12:00–13:00 free."})
    tables = mf.Integer(load_default=20, validate=validate.Range(1, agenda.MAX_TABLES))
    per_party_max = mf.Integer(validate=validate.Range(1, 1000), metadata={
        "description": "The most meetings one institution has."})
    format = mf.String(load_default="json", validate=validate.OneOf(("json", "ics")))
    lang = mf.String(load_default="en", validate=validate.OneOf(vocab.UI_LOCALES))


def agenda_of(store, matcher, scope: frozenset[str], env: dict, args: dict) -> agenda.Agenda:
    body = env["body"]
    breaks = ((time(12), time(13)),) if args["lunch"] and args["day_start"] < time(12) \
        and args["day_end"] > time(13) else ()
    slots = agenda.day_slots(date.fromisoformat(body["starts_on"]), date.fromisoformat(body["ends_on"]),
                             day_start=args["day_start"], day_end=args["day_end"],
                             minutes=args["minutes"], breaks=breaks)
    found = meetings.candidates(matcher, store, env, scope)
    return agenda.schedule(found, slots, args["tables"], per_party_max=args.get("per_party_max"))


def _meeting(m: agenda.Meeting) -> dict:
    return {"start": m.slot.start.isoformat(timespec="minutes"),
            "end": m.slot.end.isoformat(timespec="minutes"), "table": m.table,
            "technology_owner": m.a, "requester": m.b, "technology": m.topic[0],
            "demand": m.topic[1], "score": round(m.score, 4)}


def agenda_blueprint() -> Blueprint:
    blp = ApiBlueprint("agenda", __name__, url_prefix="/api/v1",
                       description="Matchmaking agendas of events.")

    @blp.route("/events/<rid>/agenda", endpoint="agenda")
    @blp.arguments(AgendaArgs, location="query")
    @blp.response(200, description="Meetings by slot and table; the candidates left out "
                  "(no free slot, or per_party_max reached) as unscheduled.")
    def event_agenda(args: dict, rid: str) -> Response:
        st = node_state()
        scope = read_scope()
        env = visible_event(st.store, scope, path_rid(rid)).envelope
        plan = agenda_of(st.store, st.matcher, scope, env, args)
        if args["format"] == "ics":
            payload = events_ical.meetings_calendar(env, plan.meetings, args["lang"],
                                                    base_url=request.url_root)
            return current_app.response_class(payload, headers={
                "Content-Type": f"{events_ical.ICS}; charset=utf-8",
                "Content-Disposition":
                    f'attachment; filename="agenda-{parse_rid(env["rid"]).uuid}.ics"'})
        return json_response({
            "event": env["rid"], "meetings": [_meeting(m) for m in plan.meetings],
            "unscheduled": [{"technology_owner": c.a, "requester": c.b, "technology": c.topic[0],
                             "demand": c.topic[1], "score": round(c.score, 4)}
                            for c in plan.unscheduled]})

    return blp
