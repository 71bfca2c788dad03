"""The network's pages: the events calendar and the federation's status.

    /<locale>/events       a month of events by first day (``Store.events``), weeks laid out
                           as the locale's calendar starts them, and what comes next
    /<locale>/federation   this node, the alliance registry, each peer's sync state and lag,
                           and what was quarantined (the entries themselves for staff only)
"""
from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta, timezone

import marshmallow as ma
from babel.dates import format_skeleton
from flask import Blueprint, render_template, request, url_for
from flask_babel import format_timedelta, get_locale
from marshmallow import fields as mf, validate

from jembatan.graph.store import LOCAL
from jembatan.network import errors, vocab
from jembatan.network.schemas import Country

from .federation import federation_status
from .records import node_state
from .views_staff import viewer_scope

#: events on one month's page at most (a month of the whole alliance's events fits)
MONTH_LIMIT = 1000
UPCOMING = 8
QUARANTINE_SHOWN = 20


class CalendarArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    month = mf.String(validate=validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$"), load_default=None)
    country = Country(load_default=None)
    kind = mf.String(validate=validate.OneOf(vocab.EVENT_KINDS), load_default=None)


def upcoming_events(store, scope: frozenset[str], limit: int, country: str | None = None,
                    today: date | None = None) -> list[dict]:
    """The next ``limit`` events beginning from today to a year ahead, by first day."""
    today = today or datetime.now(timezone.utc).date()
    return [r.envelope for r in store.events(today.isoformat(),
                                             (today + timedelta(days=366)).isoformat(), scope,
                                             country=country, limit=limit)]


def _month_after(first: date, step: int) -> date:
    months = first.year * 12 + first.month - 1 + step
    return date(months // 12, months % 12 + 1, 1)


def _weeks(first: date) -> list[list[date | None]]:
    """The month's weeks, each starting on the locale's first day of the week."""
    cal = calendar.Calendar(get_locale().first_week_day)      # 0 = Monday in both
    return [[day if day.month == first.month else None for day in week]
            for week in cal.monthdatescalendar(first.year, first.month)]


def _opening_month(store, scope: frozenset[str], country: str | None, today: date,
                   upcoming: list[dict]) -> date:
    """Where the calendar opens without a month asked for: this month if an event begins in
    it, else the month of the next event, else of the latest within the past two years."""
    this_month = today.replace(day=1)

    def has_events(first: date) -> bool:
        end = _month_after(first, 1) - timedelta(days=1)
        return bool(store.events(first.isoformat(), end.isoformat(), scope, country=country, limit=1))

    if has_events(this_month):
        return this_month
    if upcoming:
        return date.fromisoformat(upcoming[0]["body"]["starts_on"]).replace(day=1)
    for back in range(1, 25):     # one indexed probe a month
        first = _month_after(this_month, -back)
        if has_events(first):
            return first
    return this_month


def _peer_view(peer: dict) -> dict:
    """A peer's state with its times as "… ago" in the reader's language."""
    now = datetime.now(timezone.utc)

    def ago(stamp: str | None) -> str | None:
        if stamp is None:
            return None
        return format_timedelta(datetime.fromisoformat(stamp) - now, add_direction=True)

    return dict(peer, last_success_ago=ago(peer["last_success"]),
                last_attempt_ago=ago(peer["last_attempt"]))


def add_network_pages(bp: Blueprint) -> None:

    @bp.route("/events")
    def events() -> tuple[str, int] | str:
        given = {k: v for k, v in request.args.items() if v}
        try:
            args = CalendarArgs().load(given)
        except ma.ValidationError as exc:
            return render_template("error.html", status=400, problems=errors.flatten_messages(
                exc.messages)), 400
        today = datetime.now(timezone.utc).date()
        store, scope = node_state().store, viewer_scope()
        upcoming = upcoming_events(store, scope, UPCOMING, args["country"], today)
        first = (date.fromisoformat(args["month"] + "-01") if args["month"]
                 else _opening_month(store, scope, args["country"], today, upcoming))
        last = _month_after(first, 1) - timedelta(days=1)
        found = [r.envelope for r in store.events(first.isoformat(), last.isoformat(), scope,
                                                   country=args["country"], limit=MONTH_LIMIT)
                 if args["kind"] in (None, r.envelope["body"]["kind"])]
        by_day: dict[date, list[dict]] = {}
        for env in found:
            by_day.setdefault(date.fromisoformat(env["body"]["starts_on"]), []).append(env)
        locale = get_locale()

        def month_url(step: int) -> str:
            return url_for("views.events", **dict(given, month=_month_after(first, step).isoformat()[:7]))

        return render_template(
            "events.html", given=given, events=found, by_day=by_day, weeks=_weeks(first),
            today=today, upcoming=upcoming, truncated=len(found) >= MONTH_LIMIT,
            title=format_skeleton("yMMMM", first, locale=locale),
            day_names=[locale.days["stand-alone"]["abbreviated"][(locale.first_week_day + i) % 7]
                       for i in range(7)],
            previous_url=month_url(-1), next_url=month_url(1),
            countries=vocab.ALLIANCE_COUNTRIES, kinds=vocab.EVENT_KINDS)

    @bp.route("/federation")
    def federation() -> str:
        scope = viewer_scope()
        status = federation_status(scope)
        entries = node_state().store.quarantined(limit=QUARANTINE_SHOWN) if scope == LOCAL else []
        return render_template(
            "federation.html", status=status, peers=[_peer_view(p) for p in status["peers"]],
            quarantined=[(datetime.fromtimestamp(e.at_ms / 1000, timezone.utc), e) for e in entries],
            staff=scope == LOCAL)
