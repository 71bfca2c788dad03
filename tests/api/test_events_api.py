"""Events over the REST API and the CLI: registering participants and technologies, outcomes
and statistics in the reader's scope, the agreements list's event filter, iCalendar."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest
from icalendar import Calendar

from jembatan.api.cli import cli
from jembatan.api.events import calendar_window
from jembatan.network.envelope import load_envelope, make_envelope

from apikit import body as _body, foreign_rid

EVENTS = "/api/v1/events"


def body(record_kind: str, **changes) -> dict:
    """A valid body of ``record_kind`` with ``changes`` (which may include its ``kind``)."""
    return {**_body(record_kind), **changes}
PROBLEM = "application/problem+json"


def inst(node, name: str, country: str, kind: str = "university", visibility: str = "public") -> str:
    return node.created("institution", body("institution", name={"en": name}, country=country,
                                            kind=kind), visibility=visibility)["rid"]


def tech(node, owner: str, fields: list[str], visibility: str = "public") -> str:
    return node.created("technology", body("technology", owner=owner, fields=fields),
                        visibility=visibility)["rid"]


def agreement(node, provider: str, recipient: str, event: str | None, *, kind: str = "licence",
              value: dict | None = None, visibility: str = "public") -> str:
    b = body("agreement", kind=kind, parties=[{"institution": provider, "role": "provider"},
                                             {"institution": recipient, "role": "recipient"}])
    b.pop("value")
    if value:
        b["value"] = value
    if event:
        b["event"] = event
    return node.created("agreement", b, visibility=visibility)["rid"]


def event(node, visibility: str = "public", **changes) -> dict:
    return node.created("event", body("event", **{"organisers": [], "participants": [], **changes}),
                        visibility=visibility)


def post(node, rid: str, what: str, payload, role: str | None = "editor"):
    return node.client.post(f"{EVENTS}/{rid}/{what}", json=payload, headers=node.headers(role))


def problem(resp, status: int, field: str | None = None) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == PROBLEM
    doc = resp.get_json()
    assert doc["status"] == status
    if field is not None:
        assert field in [e["field"] for e in doc.get("errors", [])], doc
    return doc


# -- registering ----------------------------------------------------------------------------

def test_registering_a_participant_makes_one_new_version(node):
    ev = event(node)
    a = inst(node, "Guangxi University", "CN")
    resp = post(node, ev["rid"], "participants", {"institution": a})
    assert resp.status_code == 201
    assert resp.get_json()["version"] == 2
    assert resp.get_json()["body"]["participants"] == [a]
    assert resp.headers["ETag"] == node.get("event", ev["rid"]).headers["ETag"]
    before = node.snapshot()
    again = post(node, ev["rid"], "participants", {"institution": a})
    assert again.status_code == 200 and again.get_json()["version"] == 2
    assert node.snapshot() == before


def test_registering_a_technology_shown(node):
    ev = event(node)
    t = tech(node, inst(node, "Owner", "CN"), ["ict"])
    resp = post(node, ev["rid"], "technologies", {"technology": t})
    assert resp.status_code == 201 and resp.get_json()["body"]["technologies"] == [t]
    assert post(node, ev["rid"], "technologies", {"technology": t}).status_code == 200


def test_removing_makes_a_new_version_and_an_absent_one_is_404(node):
    ev = event(node)
    a, b = inst(node, "A", "CN"), inst(node, "B", "TH")
    post(node, ev["rid"], "participants", {"institution": a})
    post(node, ev["rid"], "participants", {"institution": b})
    resp = node.client.delete(f"{EVENTS}/{ev['rid']}/participants/{a}", headers=node.headers("editor"))
    assert resp.status_code == 204
    stored = node.get("event", ev["rid"]).get_json()
    assert stored["version"] == 4 and stored["body"]["participants"] == [b]
    before = node.snapshot()
    problem(node.client.delete(f"{EVENTS}/{ev['rid']}/participants/{a}",
                               headers=node.headers("editor")), 404, "institution")
    t = tech(node, a, ["ict"])
    post(node, ev["rid"], "technologies", {"technology": t})
    assert node.client.delete(f"{EVENTS}/{ev['rid']}/technologies/{t}",
                              headers=node.headers("admin")).status_code == 204
    assert node.get("event", ev["rid"]).get_json()["body"]["technologies"] == []
    assert node.snapshot()[0] > before[0]


def _foreign_event(node) -> str:
    env = load_envelope(make_envelope(rid=foreign_rid("event"), body=body("event"), version=1,
                                      hlc="1750000000000-0000", visibility="public"))
    assert node.store.apply([env], trusted=True)[0].status == "created"
    return env["rid"]


def test_bad_registrations_change_nothing(node):
    ev = event(node)
    a = inst(node, "A", "CN")
    t = tech(node, a, ["ict"])
    gone = inst(node, "Gone", "TH")
    assert node.delete("institution", gone).status_code == 204
    dead = event(node)
    assert node.delete("event", dead["rid"]).status_code == 204
    foreign = _foreign_event(node)
    before = node.snapshot()
    r = ev["rid"]
    problem(post(node, r, "participants", {"institution": a}, role=None), 401)
    problem(post(node, r, "participants", {"institution": a}, role="viewer"), 403)
    problem(post(node, r, "participants", {"institution": foreign_rid("institution")}), 422,
            "institution")                                           # not held here
    problem(post(node, r, "participants", {"institution": gone}), 422, "institution")
    problem(post(node, r, "participants", {"institution": t}), 422, "institution")
    problem(post(node, r, "participants", {"institution": "nope"}), 422, "institution")
    problem(post(node, r, "participants", {}), 422, "institution")
    problem(post(node, r, "participants", {"institution": a, "role": "x"}), 422, "role")
    problem(post(node, r, "technologies", {"technology": a}), 422, "technology")
    problem(post(node, foreign, "participants", {"institution": a}), 409)
    problem(post(node, dead["rid"], "participants", {"institution": a}), 410)
    problem(post(node, foreign_rid("event").replace("other-node", "test-node"), "participants",
                 {"institution": a}), 404)
    problem(post(node, a, "participants", {"institution": a}), 404)          # not an event
    problem(post(node, "not-a-rid", "participants", {"institution": a}), 400, "rid")
    problem(node.client.post(f"{EVENTS}/{r}/participants", data="{", content_type="application/json",
                             headers=node.headers("editor")), 400)
    assert node.snapshot() == before


def test_the_schema_limit_on_participants_holds(node):
    from jembatan.api import writes

    a = inst(node, "A", "CN")
    many = [foreign_rid("institution") for _ in range(5000)]
    with node.app.test_request_context():
        full = writes.create("event", body("event", organisers=[], participants=many), "public")
    before = node.snapshot()
    problem(post(node, full.rid, "participants", {"institution": a}), 422, "institution")
    assert node.snapshot() == before


# -- outcomes --------------------------------------------------------------------------------

@pytest.fixture
def fair(node) -> dict:
    """An event with four participants (one private), three technologies shown (one private),
    three agreements signed at it (one private) and one signed elsewhere."""
    cn = inst(node, "Guangxi University", "CN")
    th = inst(node, "Siam Agritech", "TH", kind="enterprise")
    my = inst(node, "Penang Labs", "MY", kind="enterprise")
    vn = inst(node, "Hanoi Institute", "VN", kind="research_institute", visibility="private")
    techs = [tech(node, cn, ["new_energy", "ict"]), tech(node, cn, ["new_energy"]),
             tech(node, th, ["marine"], visibility="private")]
    ev = event(node, participants=[cn, th, my, vn], technologies=techs)["rid"]
    signed = [agreement(node, cn, th, ev, value={"amount": "1000.50", "currency": "CNY"}),
              agreement(node, cn, th, ev, kind="joint_rd", value={"amount": "200.25", "currency": "CNY"}),
              agreement(node, th, vn, ev, value={"amount": "7", "currency": "USD"},
                        visibility="private")]
    agreement(node, cn, my, None)
    return {"event": ev, "cn": cn, "th": th, "my": my, "vn": vn, "signed": signed}


def outcomes(node, rid: str, role: str | None = None, **params):
    return node.client.get(f"{EVENTS}/{rid}/outcomes", query_string=params,
                           headers=node.headers(role))


def test_outcomes_for_an_anonymous_reader_count_only_public_records(node, fair):
    resp = outcomes(node, fair["event"])
    assert resp.status_code == 200
    doc = resp.get_json()
    assert doc["event"]["rid"] == fair["event"]
    assert [a["rid"] for a in doc["agreements"]] == fair["signed"][1::-1]    # newest first
    assert doc["next_cursor"] is None
    assert doc["stats"] == {
        "participants": 3, "participants_by_country": {"CN": 1, "MY": 1, "TH": 1},
        "participants_by_kind": {"enterprise": 2, "university": 1},
        "technologies_shown": 2, "technologies_by_field": {"ict": 1, "new_energy": 2},
        "agreements": 2, "agreements_by_kind": {"joint_rd": 1, "licence": 1},
        "agreements_by_status": {"active": 2},
        "values": [{"currency": "CNY", "amount": "1200.75"}],
        "participants_with_agreement": 2, "conversion": 0.6667}


def test_outcomes_for_a_node_user_count_everything(node, fair):
    doc = outcomes(node, fair["event"], "viewer").get_json()
    assert [a["rid"] for a in doc["agreements"]] == fair["signed"][::-1]
    stats = doc["stats"]
    assert stats["participants"] == 4 and stats["participants_by_country"]["VN"] == 1
    assert stats["technologies_shown"] == 3 and stats["technologies_by_field"]["marine"] == 1
    assert stats["agreements"] == 3
    assert stats["values"] == [{"currency": "CNY", "amount": "1200.75"},
                               {"currency": "USD", "amount": "7.00"}]
    assert stats["participants_with_agreement"] == 3 and stats["conversion"] == 0.75


def test_outcomes_page_with_the_usual_cursor(node, fair):
    first = outcomes(node, fair["event"], "viewer", limit=2)
    doc = first.get_json()
    assert len(doc["agreements"]) == 2 and doc["next_cursor"]
    assert 'rel="next"' in first.headers["Link"]
    second = outcomes(node, fair["event"], "viewer", limit=2, cursor=doc["next_cursor"]).get_json()
    assert [a["rid"] for a in doc["agreements"] + second["agreements"]] == fair["signed"][::-1]
    assert second["next_cursor"] is None and second["stats"] == doc["stats"]
    # a cursor of the node user's scope is no cursor for an anonymous reader
    problem(outcomes(node, fair["event"], limit=2, cursor=doc["next_cursor"]), 400, "cursor")


def test_outcomes_of_what_the_reader_may_not_see_are_404(node, fair):
    hidden = event(node, visibility="private")["rid"]
    problem(outcomes(node, hidden), 404)
    assert outcomes(node, hidden, "viewer").status_code == 200
    problem(outcomes(node, fair["cn"]), 404)
    problem(outcomes(node, "junk"), 400, "rid")
    problem(outcomes(node, fair["event"], limit=0), 422, "limit")


def test_the_agreements_list_filters_by_event(node, fair):
    got = node.list("agreement", event=fair["event"]).get_json()["items"]
    assert [a["rid"] for a in got] == fair["signed"][1::-1]
    got = node.list("agreement", "viewer", event=fair["event"], limit=1)
    assert got.get_json()["next_cursor"]
    before = node.snapshot()
    problem(node.list("agreement", event=fair["cn"]), 422, "event")
    problem(node.list("agreement", event="nope"), 422, "event")
    problem(node.list("technology", event=fair["event"]), 422, "event")
    assert node.snapshot() == before


# -- iCalendar -------------------------------------------------------------------------------

def ics(node, url: str, role: str | None = None, **params):
    resp = node.client.get(url, query_string=params, headers=node.headers(role))
    return resp


def parsed(resp) -> list:
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert "filename=" in resp.headers["Content-Disposition"]
    return Calendar.from_ical(resp.data).walk("VEVENT")


def soon(days: int) -> str:
    return (datetime.now(timezone.utc).date() + timedelta(days=days)).isoformat()


def test_the_calendar_of_the_coming_events(node):
    forum = event(node, name={"zh-Hans": "论坛", "en": "Forum"}, kind="forum",
                  starts_on=soon(10), ends_on=soon(12), country="TH", city="Bangkok")
    event(node, starts_on=soon(20), ends_on=soon(20), visibility="private")
    event(node, starts_on=soon(400), ends_on=soon(400))             # past the default window
    event(node, starts_on=soon(-40), ends_on=soon(-40))             # before it
    resp = ics(node, f"{EVENTS}.ics", lang="th")
    (ev,) = parsed(resp)
    assert 'filename="events.ics"' in resp.headers["Content-Disposition"]
    assert str(ev["uid"]) == forum["rid"] and int(ev["sequence"]) == 1
    assert ev.decoded("dtstart") == date.fromisoformat(soon(10))
    assert ev.decoded("dtend") == date.fromisoformat(soon(13))
    assert str(ev["summary"]) == "Forum" and ev["summary"].params["LANGUAGE"] == "en"
    assert str(ev["location"]) == "Bangkok, ไทย"
    assert [str(c) for c in ev["categories"].cats] == ["forum"]
    assert str(ev["url"]) == f"http://localhost/th/records/{forum['rid']}"
    stamp = ev.decoded("dtstamp")
    assert stamp.tzinfo is not None and stamp.year >= 2025
    assert len(parsed(ics(node, f"{EVENTS}.ics", "viewer"))) == 2    # the private one too
    zh = parsed(ics(node, f"{EVENTS}.ics", lang="zh-Hans"))
    assert str(zh[0]["summary"]) == "论坛"


def test_the_calendar_window_country_and_kind(node):
    event(node, kind="forum", starts_on="2030-01-10", ends_on="2030-01-10", country="TH")
    event(node, kind="roadshow", starts_on="2030-01-20", ends_on="2030-01-21", country="TH")
    event(node, kind="forum", starts_on="2030-02-01", ends_on="2030-02-01", country="ID")
    window = {"from": "2030-01-01", "to": "2030-01-31"}
    assert len(parsed(ics(node, f"{EVENTS}.ics", **window))) == 2
    assert len(parsed(ics(node, f"{EVENTS}.ics", **{"from": "2030-01-01", "to": "2030-12-31"},
                          kind="forum"))) == 2
    assert len(parsed(ics(node, f"{EVENTS}.ics", **{"from": "2030-01-01", "to": "2030-12-31"},
                          country="ID"))) == 1
    assert parsed(ics(node, f"{EVENTS}.ics", **{"from": "2031-01-01", "to": "2031-01-31"})) == []


def test_the_calendar_window_defaults_around_today_or_the_bound_given():
    today = date(2025, 6, 1)
    assert calendar_window({}, today) == ("2025-05-02", "2026-06-01")
    assert calendar_window({"from_": "2030-01-01"}, today) == ("2030-01-01", "2031-01-31")
    first, last = calendar_window({"to": "2020-03-01"}, today)
    assert last == "2020-03-01"
    assert date.fromisoformat(last) - date.fromisoformat(first) == timedelta(days=395)
    assert calendar_window({"from_": "2030-01-01", "to": "2030-01-01"}) == ("2030-01-01",) * 2


@pytest.mark.parametrize("params, field", [
    ({"lang": "xx"}, "lang"), ({"from": "2030-02-01", "to": "2030-01-01"}, "to"),
    ({"from": "01.02.2030"}, "from"), ({"country": "XX"}, "country"), ({"kind": "party"}, "kind"),
    ({"colour": "red"}, "colour")])
def test_bad_calendar_arguments_are_named(node, params, field):
    problem(ics(node, f"{EVENTS}.ics", **params), 422, field)


def test_one_event_as_icalendar(node):
    ev = event(node)
    resp = ics(node, f"{EVENTS}/{ev['rid']}.ics", lang="zh-Hans")
    (vevent,) = parsed(resp)
    assert f'filename="event-{ev["rid"].rsplit(":", 1)[1]}.ics"' in resp.headers["Content-Disposition"]
    assert str(vevent["summary"]) == "中国—东盟技术转移对接会"
    assert str(vevent["location"]) == "Nanning, 中国"
    hidden = event(node, visibility="private")
    problem(ics(node, f"{EVENTS}/{hidden['rid']}.ics"), 404)
    assert len(parsed(ics(node, f"{EVENTS}/{hidden['rid']}.ics", "viewer"))) == 1
    assert node.delete("event", hidden["rid"]).status_code == 204
    problem(ics(node, f"{EVENTS}/{hidden['rid']}.ics", "viewer"), 410)
    problem(ics(node, f"{EVENTS}/junk.ics"), 400, "rid")
    problem(ics(node, f"{EVENTS}/{ev['rid']}.ics", lang="klingon"), 422, "lang")


def test_the_openapi_document_lists_the_event_paths(node):
    paths = node.client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/events/{rid}/participants", "/api/v1/events/{rid}/participants/{ref}",
                 "/api/v1/events/{rid}/technologies", "/api/v1/events/{rid}/outcomes",
                 "/api/v1/events.ics", "/api/v1/events/{rid}.ics"):
        assert path in paths, path


# -- the CLI ---------------------------------------------------------------------------------

def run(node, *args: str):
    return node.app.test_cli_runner().invoke(cli, [*args, "--dir", str(node.home)])


def test_cli_outcomes_as_the_administrator(node, fair):
    result = run(node, "events", "outcomes", fair["event"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["stats"]["agreements"] == 3 and doc["stats"]["participants"] == 4
    assert [a["rid"] for a in doc["agreements"]] == fair["signed"][::-1]
    paged = json.loads(run(node, "events", "outcomes", fair["event"], "--limit", "1").stdout)
    assert len(paged["agreements"]) == 1 and paged["next_cursor"]
    bad = run(node, "events", "outcomes", fair["cn"])
    assert bad.exit_code == 1 and "No event" in bad.output


def test_cli_ics_to_a_file_and_to_stdout(node, tmp_path):
    ev = event(node, starts_on="2030-03-01", ends_on="2030-03-02", country="ID", city="Bandung")
    event(node, starts_on="2030-03-05", ends_on="2030-03-05", visibility="private")
    out = tmp_path / "cal.ics"
    result = run(node, "events", "ics", "--from", "2030-03-01", "--to", "2030-03-31",
                 "--lang", "id", "-o", str(out))
    assert result.exit_code == 0, result.output
    evs = Calendar.from_ical(out.read_bytes()).walk("VEVENT")
    assert len(evs) == 2                                           # the administrator's view
    assert str(evs[0]["uid"]) == ev["rid"] and str(evs[0]["location"]) == "Bandung, Indonesia"
    assert "url" not in evs[0]                                    # node.json has no url
    stdout = run(node, "events", "ics", "--from", "2030-03-01", "--to", "2030-03-31",
                 "--country", "ID")
    assert stdout.exit_code == 0
    assert len(Calendar.from_ical(stdout.stdout.encode()).walk("VEVENT")) == 1
    assert run(node, "events", "ics", "--from", "2030-13-01").exit_code == 2
    assert run(node, "events", "ics", "--country", "XX").exit_code == 2
    backwards = run(node, "events", "ics", "--from", "2030-03-31", "--to", "2030-03-01")
    assert backwards.exit_code == 1 and "to" in backwards.output
