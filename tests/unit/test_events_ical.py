"""api.events_ical: event records and agenda meetings as iCalendar, parsed back with icalendar."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest
from icalendar import Calendar

from jembatan.api.events_ical import (events_calendar, location, meetings_calendar, page_url,
                                      window_events)
from jembatan.graph.match.agenda import Candidate, day_slots, schedule
from jembatan.graph.sqlite import SqliteStore
from jembatan.graph.store import LOCAL, PUBLIC
from jembatan.network.envelope import load_envelope, make_envelope
from jembatan.network.ids import new_rid

RID = "urn:jembatan:node-a:event:0190a5b0-0000-7000-8000-00000000000e"
BASE = "https://node-a.example.org/"


def event_env(rid: str = RID, *, name=None, summary=None, version: int = 3,
              hlc: str = "1750000000123-0002", visibility: str = "public", **body) -> dict:
    b = {"name": name or {"zh-Hans": "中国—东盟技术转移对接会", "en": "China–ASEAN matchmaking"},
         "kind": "matchmaking", "starts_on": "2025-09-17", "ends_on": "2025-09-18",
         "country": "CN", "city": "Nanning", **body}
    if summary:
        b["summary"] = summary
    return load_envelope(make_envelope(rid=rid, body=b, version=version, hlc=hlc,
                                       visibility=visibility))


def vevents(payload: bytes) -> list:
    cal = Calendar.from_ical(payload)
    assert cal["version"] == "2.0" and cal["prodid"]
    return cal.walk("VEVENT")


def test_an_event_record_becomes_one_all_day_vevent():
    env = event_env(summary={"en": "Two days of one-to-one meetings."})
    payload = events_calendar([env], "en", BASE)
    assert payload.startswith(b"BEGIN:VCALENDAR\r\n")
    (ev,) = vevents(payload)
    assert str(ev["uid"]) == RID
    assert int(ev["sequence"]) == 3
    assert ev.decoded("dtstamp") == datetime(2025, 6, 15, 15, 6, 40, tzinfo=timezone.utc)
    assert ev.decoded("dtstart") == date(2025, 9, 17)
    assert ev.decoded("dtend") == date(2025, 9, 19)            # exclusive: the day after
    assert str(ev["summary"]) == "China–ASEAN matchmaking"
    assert ev["summary"].params["LANGUAGE"] == "en"
    assert str(ev["description"]) == "Two days of one-to-one meetings."
    assert str(ev["location"]) == "Nanning, China"
    assert [str(c) for c in ev["categories"].cats] == ["matchmaking"]
    assert str(ev["url"]) == f"https://node-a.example.org/en/records/{RID}"


def test_text_and_country_follow_the_language_with_the_views_fallback():
    env = event_env(summary={"zh-Hant": "一對一洽談"})
    (zh,) = vevents(events_calendar([env], "zh-Hans", BASE))
    assert str(zh["summary"]) == "中国—东盟技术转移对接会"
    assert zh["summary"].params["LANGUAGE"] == "zh-Hans"
    # same language, other script: the Traditional summary stands in for Simplified
    assert str(zh["description"]) == "一對一洽談"
    assert zh["description"].params["LANGUAGE"] == "zh-Hant"
    assert str(zh["location"]) == "Nanning, 中国"
    (th,) = vevents(events_calendar([env], "th", BASE))
    assert str(th["summary"]) == "China–ASEAN matchmaking"      # no Thai: English
    assert th["summary"].params["LANGUAGE"] == "en"
    assert str(th["location"]) == "Nanning, จีน"
    assert str(th["url"]).endswith(f"/th/records/{RID}")
    only_own = event_env(name={"vi": "Hội chợ công nghệ"})
    (vi,) = vevents(events_calendar([only_own], "id", None))
    assert str(vi["summary"]) == "Hội chợ công nghệ" and vi["summary"].params["LANGUAGE"] == "vi"
    assert "url" not in vi                                      # no base URL known
    assert "description" not in vi


def test_text_is_escaped_and_folded_by_the_library():
    env = event_env(name={"en": "Solar, storage; and grids\\ " + "x" * 200}, city="Kuala Lumpur",
                    country="MY")
    payload = events_calendar([env], "en", BASE)
    assert max(len(line) for line in payload.split(b"\r\n")) <= 75
    (ev,) = vevents(payload)
    assert str(ev["summary"]).startswith("Solar, storage; and grids\\ x")
    assert str(ev["location"]) == "Kuala Lumpur, Malaysia"


def test_location_and_page_url_parts():
    assert location({"country": "TH"}, "en") == "Thailand"
    assert location({"city": "Vientiane"}, "en") == "Vientiane"
    assert page_url("http://h:5000/root/", "fil", RID) == f"http://h:5000/root/fil/records/{RID}"


def test_many_events_one_calendar():
    envs = [event_env(f"urn:jembatan:node-a:event:0190a5b0-0000-7000-8000-{i:012d}",
                      starts_on=f"2025-10-{i + 1:02d}", ends_on=f"2025-10-{i + 1:02d}")
            for i in range(5)]
    evs = vevents(events_calendar(envs, "en", BASE, name="Node A"))
    assert [str(e["uid"]) for e in evs] == [e["rid"] for e in envs]
    assert all(e.decoded("dtend") - e.decoded("dtstart") == timedelta(days=1) for e in evs)
    assert Calendar.from_ical(events_calendar(envs, "en", BASE, name="Node A"))["x-wr-calname"] == "Node A"


def test_meetings_are_floating_local_times_one_vevent_each():
    env = event_env()
    slots = day_slots(date(2025, 9, 17), date(2025, 9, 17), day_start=time(9), day_end=time(10),
                      breaks=())
    agenda = schedule([Candidate("urn:i:a", "urn:i:b", 0.9, ("urn:t:1", "urn:d:1")),
                       Candidate("urn:i:a", "urn:i:c", 0.5)], slots, tables=2)
    payload = meetings_calendar(env, agenda.meetings, "en", names={"urn:i:a": "Guangxi University"})
    evs = vevents(payload)
    assert len(evs) == 2
    first, second = evs
    assert first.decoded("dtstart") == datetime(2025, 9, 17, 9, 0)
    assert first.decoded("dtstart").tzinfo is None and b"DTSTART:20250917T090000\r\n" in payload
    assert first.decoded("dtend") == datetime(2025, 9, 17, 9, 30)
    assert second.decoded("dtstart") == datetime(2025, 9, 17, 9, 30)
    assert str(first["summary"]) == "Guangxi University – urn:i:b"
    assert str(first["location"]) == "Nanning, China · #1"
    assert "urn:t:1" in str(first["description"]) and "urn:d:1" in str(first["description"])
    assert str(first["related-to"]) == RID
    assert str(first["uid"]) == f"{RID}/meeting/urn:i:a/urn:i:b"
    assert len({str(e["uid"]) for e in evs}) == 2
    assert "attendee" not in first


def test_aware_meeting_times_are_written_in_utc():
    from jembatan.graph.match.agenda import Meeting, Slot

    tz = timezone(timedelta(hours=7))
    m = Meeting(Slot(datetime(2025, 9, 17, 9, tzinfo=tz), datetime(2025, 9, 17, 9, 30, tzinfo=tz)),
                1, "urn:i:a", "urn:i:b", 1.0)
    (ev,) = vevents(meetings_calendar(event_env(), [m], "en"))
    assert ev.decoded("dtstart") == datetime(2025, 9, 17, 2, tzinfo=timezone.utc)


# -- window_events over a real store ---------------------------------------------------------

@pytest.fixture
def store(tmp_path):
    s = SqliteStore(str(tmp_path / "node.db"))
    yield s
    s.close()


def _events(n: int, day: str, kind: str, visibility: str = "public") -> list[dict]:
    return [event_env(new_rid("node-a", "event"), kind=kind, starts_on=day, ends_on=day,
                      visibility=visibility) for _ in range(n)]


def test_the_window_holds_the_events_of_a_kind_beyond_the_first_batch(store):
    forums = _events(6, "2025-09-01", "forum")
    fairs = _events(3, "2025-09-02", "exhibition")
    late = _events(2, "2025-09-03", "forum")
    store.apply(forums + fairs + late)
    # batches of 4: four forums of 09-01 (a full day: on to 09-02), then the fairs and a
    # late forum, then from 09-03
    found = window_events(store, LOCAL, "2025-09-01", "2025-09-30", kind="exhibition", cap=4)
    assert [e["rid"] for e in found] == [e["rid"] for e in fairs]
    found = window_events(store, LOCAL, "2025-09-02", "2025-09-30", kind="forum", cap=4)
    assert [e["rid"] for e in found] == [e["rid"] for e in late]
    found = window_events(store, LOCAL, "2025-09-01", "2025-09-30", kind="forum", cap=4)
    assert [e["rid"] for e in found] == [e["rid"] for e in forums[:4]]
    assert len(window_events(store, LOCAL, "2025-09-01", "2025-09-30", cap=4)) == 4
    assert len(window_events(store, LOCAL, "2025-09-01", "2025-09-30")) == 11


def test_the_window_respects_the_scope(store):
    store.apply(_events(2, "2025-09-01", "salon")
                + _events(1, "2025-09-01", "salon", visibility="private"))
    assert len(window_events(store, PUBLIC, "2025-09-01", "2025-09-01")) == 2
    assert len(window_events(store, LOCAL, "2025-09-01", "2025-09-01")) == 3
