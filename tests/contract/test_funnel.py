"""The technology funnel (``graph.flows.funnel``) on every backend: equal to a reference
computed here from the envelopes themselves, through stage changes, withdrawals, deletions,
visibility changes and owners that move, arrive late or hide."""
from __future__ import annotations

import random
from collections import defaultdict

import pytest

from jembatan.graph import flows
from jembatan.graph.store import ALLIANCE, LOCAL, PUBLIC

SCOPES = (PUBLIC, ALLIANCE, LOCAL)
COUNTRIES = ("CN", "ID", "TH", "VN")
FIELDS = ("ict", "new_energy", "marine", "biomedicine")
ORDER = ("registered", "evaluated", "matched", "negotiating", "transferred", "commercialised")
STAGES = ORDER + ("withdrawn",)


def reference(envs: dict, scope: frozenset[str], country: str | None = None) -> dict:
    """The funnel written out the long way: walk the live technologies this scope sees."""
    seen = {rid: e for rid, e in envs.items() if not e["deleted"] and e["visibility"] in scope}
    owners = {rid: e["body"]["country"] for rid, e in seen.items() if e["kind"] == "institution"}
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)   # (what, key) → stages
    for e in seen.values():
        if e["kind"] != "technology":
            continue
        where = owners.get(e["body"]["owner"], "ZZ")
        if country is not None and where != country:
            continue
        groups[("all", "")].append(e["body"]["stage"])
        groups[("country", where)].append(e["body"]["stage"])
        for f in e["body"]["fields"]:
            groups[("field", f)].append(e["body"]["stage"])

    def doc(stages: list[str]) -> dict:
        live = [s for s in stages if s != "withdrawn"]
        return {"total": len(stages),
                "reached": {s: sum(ORDER.index(x) >= ORDER.index(s) for x in live) for s in ORDER},
                "at": {s: live.count(s) for s in ORDER},
                "withdrawn": len(stages) - len(live)}

    return {"stages": list(ORDER), **doc(groups.get(("all", ""), [])),
            "by_country": {k: doc(v) for (w, k), v in sorted(groups.items()) if w == "country"},
            "by_field": {k: doc(v) for (w, k), v in sorted(groups.items()) if w == "field"}}


class Catalogue:
    """Institutions and their technologies, changed at random in a few batches."""

    def __init__(self, rec, seed: int):
        self.rec, self.r = rec, random.Random(seed)
        self.envs: dict[str, dict] = {}
        self.inst = [rec.rid("institution") for _ in range(10)]

    def vis(self) -> str:
        return self.r.choices(("public", "alliance", "private"), (6, 2, 2))[0]

    def keep(self, env: dict) -> dict:
        self.envs[env["rid"]] = env
        return env

    def first(self) -> list[dict]:
        r, rec = self.r, self.rec
        out = [self.keep(rec.institution(f"I{i}", rid=rid, country=r.choice(COUNTRIES),
                                         visibility=self.vis()))
               for i, rid in enumerate(self.inst[:8])]           # two owners arrive later
        out += [self.keep(rec.technology(f"T{i}", owner=r.choice(self.inst),
                                         fields=r.sample(FIELDS, r.choice((1, 2, 3))),
                                         stage=r.choice(STAGES), visibility=self.vis()))
                for i in range(40)]
        r.shuffle(out)
        return out

    def then(self) -> list[dict]:
        r, rec, out = self.r, self.rec, []
        techs = [e for e in self.envs.values() if e["kind"] == "technology"]
        for e in r.sample(techs, 15):                             # stages move on (or back)
            out.append(self.keep(rec.update(e, stage=r.choice(STAGES))))
        for e in r.sample(techs, 4):
            out.append(self.keep(rec.update(self.envs[e["rid"]], visibility=self.vis())))
        for e in r.sample(techs, 3):
            out.append(self.keep(rec.tombstone(self.envs[e["rid"]])))
        for rid in self.inst[:2]:                                 # owners move country
            out.append(self.keep(rec.update(self.envs[rid], country=r.choice(COUNTRIES))))
        out.append(self.keep(rec.update(self.envs[self.inst[2]], visibility="private")))
        out.append(self.keep(rec.tombstone(self.envs[self.inst[3]])))
        out += [self.keep(rec.institution(f"Late {rid[-4:]}", rid=rid, country="TH"))
                for rid in self.inst[8:]]
        return out


def check(store, envs: dict) -> None:
    for scope in SCOPES:
        assert flows.funnel(store, scope) == reference(envs, scope), sorted(scope)
        for country in ("CN", "TH", "ZZ", "MY"):
            assert flows.funnel(store, scope, country) == reference(envs, scope, country), \
                (sorted(scope), country)


@pytest.mark.parametrize("seed", [3, 4])
def test_the_funnel_equals_the_reference_through_changes(store, rec, seed):
    cat = Catalogue(rec, seed)
    first = cat.first()
    for start in range(0, len(first), 13):
        store.apply(first[start:start + 13])
    check(store, cat.envs)
    store.apply(cat.then())
    check(store, cat.envs)


def test_a_technology_counts_for_every_stage_up_to_its_own(store, rec):
    owner = rec.institution("Guangxi University", country="CN")
    techs = [rec.technology(f"T{s}", owner=owner["rid"], stage=s, fields=("ict", "marine"))
             for s in ("registered", "negotiating", "commercialised", "withdrawn")]
    store.apply([owner, *techs])
    got = flows.funnel(store, PUBLIC)
    assert got["reached"] == {"registered": 3, "evaluated": 2, "matched": 2, "negotiating": 2,
                              "transferred": 1, "commercialised": 1}
    assert got["at"]["negotiating"] == 1 and got["withdrawn"] == 1 and got["total"] == 4
    assert got["by_country"] == {"CN": {k: got[k] for k in ("total", "reached", "at", "withdrawn")}}
    assert got["by_field"]["ict"] == got["by_field"]["marine"] == got["by_country"]["CN"]
    # an empty store, or a country with nothing: zeros, not missing keys
    empty = flows.funnel(store, PUBLIC, "VN")
    assert empty["total"] == 0 and set(empty["reached"]) == set(ORDER)
    assert empty["by_country"] == {} and empty["by_field"] == {}


def test_a_stage_history_is_stored_and_served_as_written(store, rec):
    owner = rec.institution("Universiti Malaya", country="MY")
    steps = [{"stage": "registered", "at": "2025-01-02T03:04:05Z", "by": "Nurul Huda"},
             {"stage": "matched", "at": "2025-02-03T04:05:06Z", "by": "王伟 (TTO)"}]
    tech = rec.technology("Palm oil sensor", owner=owner["rid"], stage="matched")
    tech = rec.envelope("technology", dict(tech["body"], stage_history=steps), rid=tech["rid"])
    store.apply([owner, tech])
    assert store.get(tech["rid"], PUBLIC).envelope == tech
    assert flows.funnel(store, PUBLIC, "MY")["reached"]["matched"] == 1
