"""Events as iCalendar (RFC 5545), built with the ``icalendar`` library.

    events_calendar(events, lang, base_url)        → bytes   one VEVENT per event record
    meetings_calendar(event_env, meetings, lang)   → bytes   one VEVENT per agenda meeting
    window_events(store, scope, start, end, ...)   → [env]   the events a calendar holds

An event record's VEVENT:

    UID          the rid                      SEQUENCE   the record's version
    DTSTAMP      the record's HLC moment (UTC)
    DTSTART      starts_on, DTEND ends_on + 1 day (all-day dates; DTEND is exclusive)
    SUMMARY      the name, DESCRIPTION the summary, each in ``lang`` with the views' content
                 fallback (``i18n.pick_text``) and a LANGUAGE parameter naming the language shown
    LOCATION     "city, country" with the country's name from CLDR in ``lang``
    CATEGORIES   the event kind's code       URL   the record's page, /<lang>/records/<rid>

Meetings are *floating* local times (RFC 5545 §3.3.5, form 1: no TZID, no Z): event records
carry a country and a city but no time zone, and a country may span several, so "09:30" means
09:30 wherever the event is held. A meeting given aware datetimes is written in UTC instead.
Meetings carry no ATTENDEE: the records hold no e-mail addresses.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Iterable, Mapping
from urllib.parse import quote

from icalendar import Calendar, Event

from jembatan.graph.store import Store
from jembatan.network.hlc import HLC_RE

from .i18n import babel_locale, pick_text

PRODID = "-//Jembatan//Events//EN"
ICS = "text/calendar"
#: the most events one calendar holds
MAX_EVENTS = 1000


def _calendar(name: str | None = None) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    if name:
        cal.add("x-wr-calname", name)
    return cal


def _stamp(hlc: str) -> datetime:
    """The UTC moment of an HLC stamp (its first 13 digits are Unix milliseconds), to the
    second: iCalendar has no finer resolution."""
    ms = int(hlc[:13]) if HLC_RE.match(hlc or "") else 0
    return datetime.fromtimestamp(ms // 1000, tz=timezone.utc)


def _text(event: Event, prop: str, text: dict | None, lang: str) -> None:
    picked = pick_text(text, lang)
    if picked.text:
        event.add(prop, picked.text, parameters={"LANGUAGE": picked.lang} if picked.lang else None)


def location(body: dict, lang: str) -> str:
    """"city, country" with CLDR's name of the country in ``lang`` (either part alone if the
    other is missing)."""
    country = body.get("country")
    name = babel_locale(lang).territories.get(country, country) if country else None
    return ", ".join(part for part in (body.get("city"), name) if part)


def page_url(base_url: str, lang: str, rid: str) -> str:
    """The record's page on the node whose root URL is ``base_url``."""
    return f"{base_url.rstrip('/')}/{lang}/records/{quote(rid, safe=':')}"


def event_vevent(env: dict, lang: str, base_url: str | None) -> Event:
    """The VEVENT of one live event record (see the module for each property)."""
    body = env["body"]
    ev = Event()
    ev.add("uid", env["rid"])
    ev.add("sequence", env["version"])
    ev.add("dtstamp", _stamp(env["hlc"]))
    ev.add("dtstart", date.fromisoformat(body["starts_on"]))
    ev.add("dtend", date.fromisoformat(body["ends_on"]) + timedelta(days=1))
    _text(ev, "summary", body.get("name"), lang)
    _text(ev, "description", body.get("summary"), lang)
    where = location(body, lang)
    if where:
        ev.add("location", where)
    ev.add("categories", [body["kind"]])
    # an all-day event does not make its days busy in the reader's calendar
    ev.add("transp", "TRANSPARENT")
    if base_url:
        ev.add("url", page_url(base_url, lang, env["rid"]))
    return ev


def events_calendar(events: Iterable[dict], lang: str, base_url: str | None, *,
                    name: str | None = None) -> bytes:
    """An iCalendar of event records (live envelopes); URL omitted without ``base_url``."""
    cal = _calendar(name)
    for env in events:
        cal.add_component(event_vevent(env, lang, base_url))
    return cal.to_ical()


def _when(moment: datetime) -> datetime:
    # naive: floating local time; aware: UTC (see the module)
    return moment if moment.tzinfo is None else moment.astimezone(timezone.utc)


def meetings_calendar(event_env: dict, meetings: Iterable, lang: str, *,
                      names: Mapping[str, str] | None = None,
                      base_url: str | None = None) -> bytes:
    """The agenda of ``event_env`` (an event record): one VEVENT per meeting
    (``graph.match.agenda.Meeting``), DTSTART/DTEND in floating local time.

    ``names``: institution rid → the name to show (the rid itself otherwise). The UID is the
    event's rid and the pair's, so a regenerated agenda updates a pair's meeting in place.
    """
    body = event_env.get("body") or {}
    event_name = pick_text(body.get("name"), lang).text
    cal = _calendar(event_name or None)
    names = names or {}
    where = location(body, lang)
    stamp = _stamp(event_env.get("hlc", ""))
    for m in meetings:
        first, second = sorted((m.a, m.b))
        ev = Event()
        ev.add("uid", f"{event_env['rid']}/meeting/{first}/{second}")
        ev.add("dtstamp", stamp)
        ev.add("dtstart", _when(m.slot.start))
        ev.add("dtend", _when(m.slot.end))
        ev.add("summary", f"{names.get(m.a, m.a)} – {names.get(m.b, m.b)}")
        ev.add("location", f"{where} · #{m.table}" if where else f"#{m.table}")
        lines = [f"{event_name}" if event_name else "", *(str(t) for t in m.topic)]
        ev.add("description", "\n".join(line for line in lines if line))
        ev.add("categories", ["meeting"])
        ev.add("related-to", event_env["rid"])
        ev.add("x-jembatan-table", str(m.table))
        ev.add("x-jembatan-score", f"{m.score:.4f}")
        if base_url:
            ev.add("url", page_url(base_url, lang, event_env["rid"]))
        cal.add_component(ev)
    return cal.to_ical()


def window_events(store: Store, scope: frozenset[str], start: str, end: str, *,
                  country: str | None = None, kind: str | None = None,
                  cap: int = MAX_EVENTS) -> list[dict]:
    """Live events whose first day is from ``start`` to ``end`` (ISO dates), by first day: at
    most ``cap``, of ``kind`` if given.

    ``Store.events`` has no kind filter, so with a kind the window is read in batches, each
    from the first day the previous one reached (its events deduplicated), until ``cap``
    events of the kind are found or the window ends. A single day with more than ``cap``
    events is read as its first ``cap``.
    """
    out: list[dict] = []
    seen: set[str] = set()
    while True:
        batch = store.events(start, end, scope, country=country, limit=cap)
        for stored in batch:
            env = stored.envelope
            if env["rid"] not in seen:
                seen.add(env["rid"])
                if kind is None or env["body"]["kind"] == kind:
                    out.append(env)
        if kind is None or len(out) >= cap or len(batch) < cap:
            return out[:cap]
        last = batch[-1].envelope["body"]["starts_on"]
        # a batch within one day: move on to the next day, or this would never end
        if last == start:
            last = (date.fromisoformat(last) + timedelta(days=1)).isoformat()
        start = last
        if start > end:
            return out[:cap]
