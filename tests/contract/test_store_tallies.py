"""The tallies behind flows and statistics: kept right by ``apply`` on every backend, through
updates, deletions, late-arriving institutions and visibility changes, and equal to a
reference computed here directly from the envelopes (independently of ``graph.tallies``)."""
from __future__ import annotations

import random
from collections import Counter, defaultdict
from decimal import Decimal

import pytest

from jembatan.graph import flows
from jembatan.graph.store import ALLIANCE, LOCAL, PUBLIC
from jembatan.network import errors
from jembatan.network.vocab import currency_digits

SCOPES = (PUBLIC, ALLIANCE, LOCAL)
COUNTRIES = ("CN", "ID", "TH", "VN", "MY")
KINDS = ("university", "enterprise", "research_institute", "transfer_centre")
CURRENCIES = ("CNY", "USD", "THB", "JPY")
FIELDS = ("ict", "new_energy", "marine", "biomedicine")


# -- the reference -------------------------------------------------------------------------

def live(envs: dict, scope) -> dict:
    return {rid: e for rid, e in envs.items() if not e["deleted"] and e["visibility"] in scope}


def lead(parties: list[dict]) -> tuple[str, str]:
    """The lead provider and recipient, written out the long way."""
    src = None
    for role in ("provider", "partner"):
        for p in parties:
            if p["role"] == role:
                src = p["institution"]
                break
        if src:
            break
    src = src or parties[0]["institution"]
    for role in ("recipient", "partner", None):
        for p in parties:
            if p["institution"] != src and (role is None or p["role"] == role):
                return src, p["institution"]
    raise AssertionError("an agreement has two parties at least")


def minor(value: dict) -> int:
    return int(Decimal(value["amount"]) * 10 ** currency_digits(value["currency"]))


def reference(envs: dict, scope) -> dict:
    seen = live(envs, scope)
    inst = {rid: e["body"] for rid, e in seen.items() if e["kind"] == "institution"}
    country = lambda rid: inst[rid]["country"] if rid in inst else "ZZ"   # noqa: E731
    matrix, values = Counter(), defaultdict(int)
    by_kind, recent, by_provider_kind = Counter(), Counter(), Counter()
    members, tech_fields, by_kind_th, served, ever = Counter(), Counter(), Counter(), set(), set()
    events_2024 = Counter()
    for e in seen.values():
        b = e["body"]
        if e["kind"] == "institution":
            members[(b["country"], b["kind"])] += 1
        elif e["kind"] == "technology":
            for f in b["fields"]:
                tech_fields[(country(b["owner"]), f)] += 1
        elif e["kind"] == "agreement":
            src, dst = lead(b["parties"])
            matrix[(country(src), country(dst))] += 1
            if "value" in b:
                values[(country(src), country(dst), b["value"]["currency"])] += minor(b["value"])
            if any(country(p["institution"]) == "TH" for p in b["parties"]):
                by_kind_th[b["kind"]] += 1
            year = int(b["signed_on"][:4]) if "signed_on" in b else 0
            by_kind[(country(src), country(dst), b["kind"])] += 1
            by_provider_kind[(country(src), inst[src]["kind"] if src in inst else "")] += 1
            enterprises = {p["institution"] for p in b["parties"]
                           if inst.get(p["institution"], {}).get("kind") == "enterprise"}
            ever.update(enterprises)
            if 2023 <= year <= 2024:
                recent[(country(src), country(dst))] += 1
                served.update(enterprises)
        elif e["kind"] == "event":
            ever.update(r for r in b["participants"] if inst.get(r, {}).get("kind") == "enterprise")
            if b["starts_on"].startswith("2024"):
                events_2024[b["kind"]] += 1
                served.update(r for r in b["participants"]
                              if inst.get(r, {}).get("kind") == "enterprise")
    return {"matrix": dict(matrix), "values": dict(values), "members": dict(members),
            "tech_fields": dict(tech_fields), "by_kind_th": dict(by_kind_th),
            "served": len(served), "events_2024": dict(events_2024), "by_kind": dict(by_kind),
            "recent": dict(recent), "served_ever": len(ever),
            "by_provider_kind": dict(by_provider_kind)}


def observed(store, scope) -> dict:
    t = store.tally
    return {
        "matrix": {(a, b): n for a, b, n, _ in t("flow", scope, group=("c1", "c2"), where={"field": ""})},
        "values": {(a, b, c): v for a, b, c, n, v in t("flow", scope, group=("c1", "c2", "currency"),
                                                         where={"field": ""}) if c},
        "members": {(c, k): n for c, k, n, _ in t("member", scope, group=("c1", "k1"))},
        "tech_fields": {(c, f): n for c, f, n, _ in t("technology", scope, group=("c1", "field"))
                        if f},
        "by_kind_th": {k: n for k, n, _ in t("agreement", scope, group=("k1",), where={"c1": "TH"})},
        "served": t("served", scope, years=(2023, 2024), distinct="k1")[0][0],
        "events_2024": {k: n for k, n, _ in t("event", scope, group=("k1",), years=(2024, 2024))},
        # the queries above read rollups where they can (graph.tallies.ROLLUPS); these read
        # the rollups that keep the agreement kind and the year, and the full cells
        "by_kind": {(a, b, k): n for a, b, k, n, _ in t("flow", scope, group=("c1", "c2", "k1"),
                                                        where={"field": ""})},
        "recent": {(a, b): n for a, b, n, _ in t("flow", scope, group=("c1", "c2"),
                                                 where={"field": ""}, years=(2023, 2024))},
        "served_ever": t("served", scope, distinct="k1")[0][0],
        "by_provider_kind": {(c, k): n for c, k, n, _ in t("flow", scope, group=("c1", "k2"),
                                                           where={"field": ""})},
    }


# -- generated alliance ---------------------------------------------------------------------

class Alliance:
    def __init__(self, rec, seed: int):
        self.rec, self.r = rec, random.Random(seed)
        self.envs: dict[str, dict] = {}
        self.inst = [rec.rid("institution") for _ in range(24)]

    def vis(self) -> str:
        return self.r.choices(("public", "alliance", "private"), (6, 2, 2))[0]

    def keep(self, env: dict) -> dict:
        self.envs[env["rid"]] = env
        return env

    def institution(self, rid: str, **kw) -> dict:
        r = self.r
        return self.keep(self.rec.institution(f"I{rid[-6:]}", rid=rid, country=r.choice(COUNTRIES),
                                              kind=r.choice(KINDS), visibility=kw.pop("visibility", self.vis()), **kw))

    def agreement(self) -> dict:
        r = self.r
        members = r.sample(self.inst, r.choice((2, 2, 2, 3)))
        roles = r.choice((("provider", "recipient", "partner"), ("partner", "partner", "partner"),
                          ("provider", "partner", "partner"), ("provider", "provider", "recipient"),
                          ("recipient", "provider", "partner")))
        body = {"kind": r.choice(("licence", "joint_rd", "framework")), "status": "active",
                "parties": [{"institution": m, "role": role} for m, role in zip(members, roles)],
                "fields": r.sample(FIELDS, r.choice((0, 1, 2)))}
        if r.random() < 0.85:
            body["signed_on"] = f"{r.choice((2021, 2023, 2024))}-0{r.randint(1, 9)}-1{r.randint(0, 9)}"
        if r.random() < 0.7:
            body["value"] = {"amount": f"{r.randint(1, 9000)}.{r.randint(10, 99)}"
                             if r.random() < 0.8 else str(r.randint(1, 10**6)),
                             "currency": r.choice(CURRENCIES)}
            if body["value"]["currency"] == "JPY":
                body["value"]["amount"] = str(r.randint(1, 10**6))
        return self.keep(self.rec.envelope("agreement", body, visibility=self.vis()))

    def batch(self) -> list[dict]:
        r, rec = self.r, self.rec
        out = [self.agreement() for _ in range(40)]
        out += [self.institution(rid) for rid in self.inst[:20]]     # 4 stay stubs for now
        out += [self.keep(rec.technology(owner=r.choice(self.inst), fields=r.sample(FIELDS, 2),
                                         visibility=self.vis())) for _ in range(15)]
        for _ in range(6):
            ev = rec.event(participants=r.sample(self.inst, 5), visibility=self.vis())
            ev["body"]["starts_on"] = ev["body"]["ends_on"] = f"{r.choice((2023, 2024))}-05-05"
            out.append(self.keep(rec.envelope("event", ev["body"], visibility=ev["visibility"])))
        r.shuffle(out)    # agreements may come before the institutions they name
        return out

    def changes(self) -> list[dict]:
        """A second batch: institutions move, narrow, go and arrive; agreements change and go."""
        r, rec, out = self.r, self.rec, []
        for rid in self.inst[:6]:
            e = self.envs[rid]
            out.append(self.keep(rec.update(e, country=r.choice(COUNTRIES), kind="enterprise")))
        for rid in self.inst[6:9]:
            out.append(self.keep(rec.update(self.envs[rid], visibility="private")))
        out.append(self.keep(rec.tombstone(self.envs[self.inst[9]])))
        out += [self.institution(rid) for rid in self.inst[20:]]    # the stubs arrive
        agreements = [e for e in self.envs.values() if e["kind"] == "agreement"]
        for e in r.sample(agreements, 8):
            out.append(self.keep(rec.update(e, kind="consultancy", visibility=self.vis())))
        for e in r.sample([a for a in agreements if not a["deleted"]], 4):
            out.append(self.keep(rec.tombstone(self.envs[e["rid"]])))
        return out


def check(store, envs) -> None:
    for scope in SCOPES:
        assert observed(store, scope) == reference(envs, scope), sorted(scope)


@pytest.mark.parametrize("seed", [1, 2])
def test_tallies_equal_the_reference_through_changes(store, rec, seed):
    a = Alliance(rec, seed)
    first = a.batch()
    for start in range(0, len(first), 17):    # several transactions, in shuffled order
        store.apply(first[start:start + 17])
    check(store, a.envs)
    store.apply(a.changes())
    check(store, a.envs)


def test_a_flow_matrix_sums_to_the_agreements(store, rec):
    a = Alliance(rec, 3)
    store.apply(a.batch())
    for scope in SCOPES:
        cells = flows.matrix(store, scope, flows.FlowFilter())
        assert flows.total(cells).agreements == store.counts(scope)["agreement"]


def test_a_hidden_institution_counts_as_an_unknown_country(store, rec):
    cn = rec.institution("Hidden", country="CN", visibility="private")
    th = rec.institution("Open", country="TH", kind="enterprise")
    ag = rec.agreement(provider=cn["rid"], recipient=th["rid"])
    ag = rec.envelope("agreement", dict(ag["body"], signed_on="2024-01-02",
                                        value={"amount": "10.50", "currency": "CNY"}), rid=ag["rid"])
    store.apply([ag, th, cn])
    assert store.tally("flow", PUBLIC, group=("c1", "c2", "currency"), where={"field": ""}) == [
        ("ZZ", "TH", "CNY", 1, 1050)]
    assert store.tally("flow", LOCAL, group=("c1", "c2"), where={"field": ""}) == [("CN", "TH", 1, 1050)]
    assert store.tally("member", PUBLIC, group=("c1",)) == [("TH", 1, 0)]


def test_a_private_agreement_is_not_counted_for_other_readers(store, rec):
    a = rec.institution("A", country="CN")
    b = rec.institution("B", country="ID")
    ag = rec.agreement(provider=a["rid"], recipient=b["rid"], visibility="private")
    store.apply([a, b, ag])
    assert store.tally("flow", PUBLIC, where={"field": ""}) == [(0, 0)]
    assert store.tally("flow", ALLIANCE, where={"field": ""}) == [(0, 0)]
    assert store.tally("flow", LOCAL, where={"field": ""}) == [(1, 0)]


def test_derived_again_they_are_the_same(opener, rec, request):
    store = opener()
    a = Alliance(rec, 4)
    store.apply(a.batch())
    store.apply(a.changes())
    before = {tuple(sorted(s)): observed(store, s) for s in SCOPES}
    store.close()
    forget_tallies(request)
    store = opener()
    try:
        assert {tuple(sorted(s)): observed(store, s) for s in SCOPES} == before
    finally:
        store.close()


def forget_tallies(request) -> None:
    """Make the store think its tallies are of another version (and wrong)."""
    if "neo4j" in request.node.callspec.id:
        admin = request.getfixturevalue("neo4j_admin")
        admin.execute_query("MATCH (m:StoreMeta) SET m.tallies = 'old'", database_="neo4j")
        admin.execute_query("MATCH (t:Tally) SET t.n = t.n + 7", database_="neo4j")
    else:
        import sqlite3
        conn = sqlite3.connect(request.getfixturevalue("tmp_path") / "node.db")
        conn.execute("UPDATE meta SET value = 'old' WHERE key = 'tallies'")
        conn.execute("UPDATE tallies SET n = n + 7")
        conn.commit()
        conn.close()


@pytest.mark.parametrize("kw", [
    {"measure": "nothing"}, {"group": ("c9",)}, {"where": {"k1": 1.5}},
    {"years": (2020,)}, {"distinct": "amount"}])
def test_bad_tally_queries_are_refused(store, kw):
    args = {"measure": "flow", **kw}
    with pytest.raises(ValueError):
        store.tally(args.pop("measure"), PUBLIC, **args)


def test_a_scope_that_is_not_a_readers_is_refused(store):
    with pytest.raises(errors.ValidationError) as exc:
        store.tally("flow", frozenset({"alliance"}))
    assert exc.value.errors[0]["field"] == "scope"
