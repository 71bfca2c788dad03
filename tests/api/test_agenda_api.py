"""GET /api/v1/events/<rid>/agenda: meetings from the matches, as JSON and iCalendar."""
from __future__ import annotations

import icalendar
import pytest

from apikit import body


@pytest.fixture
def fair(node):
    uni = node.created("institution", body("institution", country="CN"))
    buyers = [node.created("institution", {**body("institution", country="TH"), "kind": "enterprise"})
              for _ in range(3)]
    tech = node.created("technology", body("technology", title={"en": "Solar rice dryer"},
                                           owner=uni["rid"], fields=["modern_agriculture"]))
    for b in buyers:
        node.created("demand", body("demand", title={"en": "A solar rice dryer"},
                                    requester=b["rid"], trl_min=3))
    event = node.created("event", body("event", starts_on="2026-03-02", ends_on="2026-03-03",
                                       organisers=[uni["rid"]],
                                       participants=[b["rid"] for b in buyers]))
    return {"uni": uni, "buyers": buyers, "tech": tech, "event": event}


def test_every_buyer_meets_the_owner_once_in_distinct_slots(node, fair):
    resp = node.client.get(f"/api/v1/events/{fair['event']['rid']}/agenda",
                           query_string={"tables": 5, "minutes": 60})
    assert resp.status_code == 200, resp.get_json()
    doc = resp.get_json()
    met = sorted(m["requester"] for m in doc["meetings"])
    assert met == sorted(b["rid"] for b in fair["buyers"])
    assert {m["technology"] for m in doc["meetings"]} == {fair["tech"]["rid"]}
    starts = [m["start"] for m in doc["meetings"]]
    assert len(set(starts)) == 3                     # the owner is in one meeting at a time
    assert starts == sorted(starts) and starts[0] == "2026-03-02T09:00"
    assert not any(s.endswith("T12:00") for s in starts)       # lunch is kept free


def test_the_agenda_as_icalendar(node, fair):
    resp = node.client.get(f"/api/v1/events/{fair['event']['rid']}/agenda",
                           query_string={"format": "ics"})
    assert resp.status_code == 200 and resp.mimetype == "text/calendar"
    cal = icalendar.Calendar.from_ical(resp.data)
    events = [c for c in cal.walk("VEVENT")]
    assert len(events) == 3
    assert all(str(e["related-to"]) == fair["event"]["rid"] for e in events)


@pytest.mark.parametrize("params, field", [({"minutes": 2}, "minutes"), ({"tables": 0}, "tables"),
                                           ({"day_start": "25:00"}, "day_start"),
                                           ({"format": "pdf"}, "format")])
def test_bad_arguments_name_the_field(node, fair, params, field):
    resp = node.client.get(f"/api/v1/events/{fair['event']['rid']}/agenda", query_string=params)
    assert resp.status_code in (400, 422) and resp.mimetype == "application/problem+json"
    assert field in str(resp.get_json())


def test_an_unknown_event_is_404(node, fair):
    rid = fair["event"]["rid"][:-1] + ("0" if fair["event"]["rid"][-1] != "0" else "1")
    assert node.client.get(f"/api/v1/events/{rid}/agenda").status_code == 404
