"""An event's agenda from the matches, on both stores: who meets whom, in which slot."""
from __future__ import annotations

from datetime import date, time

from conftest import Records

from jembatan.graph.match import Matcher, agenda, meetings
from jembatan.graph.store import LOCAL, PUBLIC


def test_meetings_pair_participants_demands_with_their_technologies(store):
    r = Records()
    uni = r.institution("Guangxi University", country="CN")
    lab = r.institution("Yunnan Institute", country="CN")
    outsider = r.institution("Not at the fair", country="CN")
    buyers = [r.institution(f"Buyer {i}", country="TH", kind="enterprise") for i in range(3)]
    dryer = r.technology("Solar rice dryer with heat storage", owner=uni["rid"],
                         fields=("modern_agriculture",), trl=7)
    seeds = r.technology("Salt-tolerant rice seeds", owner=lab["rid"],
                         fields=("modern_agriculture",), trl=8)
    elsewhere = r.technology("Solar rice dryer, compact", owner=outsider["rid"],
                             fields=("modern_agriculture",), trl=9)
    demands = [r.demand("Need a solar rice dryer", requester=buyers[0]["rid"]),
               r.demand("Rice seeds for salty paddies", requester=buyers[1]["rid"]),
               r.demand("Rice dryer for a cooperative", requester=buyers[2]["rid"])]
    private = r.demand("Rice dryer, confidential", requester=buyers[2]["rid"], visibility="private")
    fair = r.envelope("event", {
        "name": {"en": "Rice fair"}, "kind": "matchmaking", "starts_on": "2026-03-02",
        "ends_on": "2026-03-02", "country": "TH", "organisers": [uni["rid"]],
        "participants": [lab["rid"], *(b["rid"] for b in buyers)]})
    store.apply([uni, lab, outsider, *buyers, dryer, seeds, elsewhere, *demands, private, fair])

    found = meetings.candidates(Matcher(), store, fair, PUBLIC)
    topics = {c.topic for c in found}
    assert (dryer["rid"], demands[0]["rid"]) in topics
    assert (seeds["rid"], demands[1]["rid"]) in topics
    assert all(c.a in (uni["rid"], lab["rid"]) for c in found)       # never the outsider
    assert not any(t[1] == private["rid"] for t in topics)           # a public reader's agenda
    assert any(t[1] == private["rid"] for t in
               {c.topic for c in meetings.candidates(Matcher(), store, fair, LOCAL)})

    slots = agenda.day_slots(date(2026, 3, 2), date(2026, 3, 2), day_start=time(9),
                             day_end=time(10), minutes=30, breaks=())
    plan = agenda.schedule(found, slots, tables=1)
    # one table, two slots: the two best meetings, one per slot
    assert len(plan.meetings) == 2 and plan.unscheduled
    assert plan.meetings[0].slot != plan.meetings[1].slot
    best = max(found, key=lambda c: c.score)
    assert (best.a, best.b) == (plan.meetings[0].a, plan.meetings[0].b)
    plan = agenda.schedule(found, slots, tables=5)
    for slot in slots:
        busy = [p for m in plan.meetings if m.slot == slot for p in (m.a, m.b)]
        assert len(busy) == len(set(busy))                           # nobody double-booked
    pairs = [(m.a, m.b) for m in plan.meetings]
    assert len(pairs) == len(set(pairs))
