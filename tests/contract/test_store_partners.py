"""Store.partnerships: the partnership graph's input, equal on every backend and equal to a
reference computed from the envelopes themselves."""
from __future__ import annotations

import random

import pytest

from jembatan.graph.store import ALLIANCE, LOCAL, PUBLIC, PartnerAgreement, PartnerInstitution
from jembatan.network import errors
from jembatan.network.vocab import AGREEMENT_KINDS, AGREEMENT_STATUSES, INSTITUTION_KINDS

COUNTRIES = ("CN", "TH", "VN", "ID", "MY", "LA")


def generated(rec, seed: int = 7) -> tuple[list[dict], list[list[dict]]]:
    """(final envelope of each rid, batches to apply in order): institutions and agreements
    of every visibility, stub parties, updates that change parties, tombstones."""
    r = random.Random(seed)
    insts = []
    for i in range(30):
        names = {"en": f"Institute {i}"} if i % 3 else {"en": f"Institute {i}", "zh-Hans": f"研究所{i}"}
        insts.append(rec.institution(names=names, country=r.choice(COUNTRIES),
                                     kind=r.choice(INSTITUTION_KINDS),
                                     visibility=r.choice(["public"] * 6 + ["alliance", "private"])))
    stubs = [rec.rid("institution") for _ in range(4)]     # named by agreements, never received
    pool = [e["rid"] for e in insts] + stubs
    agreements = []
    for j in range(70):
        parties = r.sample(pool, 3 if r.random() < 0.25 else 2)
        roles = ["provider", "recipient", "partner"]
        body = {"kind": r.choice(AGREEMENT_KINDS), "status": r.choice(AGREEMENT_STATUSES),
                "parties": [{"institution": p, "role": role} for p, role in zip(parties, roles)]}
        if r.random() < 0.8:
            body["signed_on"] = f"{r.randint(2016, 2025)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"
        agreements.append(rec.envelope("agreement", body,
                                       visibility=r.choice(["public"] * 6 + ["alliance", "private"])))
    first = insts + agreements
    later = []
    for env in r.sample(agreements, 8):       # new parties: the old PARTY_TO edges must go
        parties = [{"institution": p, "role": "partner"} for p in r.sample(pool, 2)]
        later.append(rec.update(env, parties=parties, status="completed"))
    changed = {e["rid"] for e in later}
    for env in r.sample([e for e in agreements if e["rid"] not in changed], 6):
        later.append(rec.tombstone(env))
    for env in r.sample(insts, 3):            # a deleted institution is a party like a stub
        later.append(rec.tombstone(env))
    final = {e["rid"]: e for e in first}
    final.update({e["rid"]: e for e in later})
    return list(final.values()), [first, later]


def reference(envelopes: list[dict], scope: frozenset[str]):
    live = [e for e in envelopes if not e["deleted"] and e["visibility"] in scope]
    institutions = sorted(
        (PartnerInstitution(e["rid"], e["body"]["name"], e["body"]["country"], e["body"]["kind"])
         for e in live if e["kind"] == "institution"), key=lambda i: i.rid)
    agreements = sorted(
        (PartnerAgreement(e["rid"], e["body"]["kind"], e["body"]["status"],
                          int(e["body"]["signed_on"][:4]) if "signed_on" in e["body"] else None,
                          tuple(sorted((p["institution"], p["role"]) for p in e["body"]["parties"])))
         for e in live if e["kind"] == "agreement"), key=lambda a: a.rid)
    return tuple(institutions), tuple(agreements)


@pytest.mark.parametrize("scope", [PUBLIC, ALLIANCE, LOCAL], ids=["public", "alliance", "local"])
def test_partnerships_equal_the_envelopes(store, rec, scope):
    envelopes, batches = generated(rec)
    for batch in batches:
        store.apply(batch)
    got = store.partnerships(scope)
    institutions, agreements = reference(envelopes, scope)
    assert got.institutions == institutions
    assert got.agreements == agreements
    # the generated data exercises every rule
    assert any(a.year is None for a in agreements) and any(len(a.parties) == 3 for a in agreements)
    shown = {i.rid for i in institutions}
    assert any(rid not in shown for a in agreements for rid, _ in a.parties)


def test_scope_rules(store, rec):
    a = rec.institution("A", country="CN")
    b = rec.institution("B", country="TH", visibility="alliance")
    c = rec.institution("C", country="VN", visibility="private")
    stub = rec.rid("institution")
    public = rec.agreement(provider=a["rid"], recipient=b["rid"])
    alliance = rec.agreement(provider=a["rid"], recipient=c["rid"], visibility="alliance")
    private = rec.agreement(provider=b["rid"], recipient=stub, visibility="private")
    gone = rec.agreement(provider=a["rid"], recipient=stub)
    store.apply([a, b, c, public, alliance, private, gone])
    store.apply([rec.tombstone(gone)])

    p = store.partnerships()          # PUBLIC by default
    assert [i.rid for i in p.institutions] == [a["rid"]]
    assert p.institutions[0] == PartnerInstitution(a["rid"], {"en": "A"}, "CN", "university")
    assert [ag.rid for ag in p.agreements] == [public["rid"]]
    # the party outside the scope is listed; the analytics drops it
    assert p.agreements[0].parties == tuple(sorted([(a["rid"], "provider"), (b["rid"], "recipient")]))
    assert p.agreements[0].kind == "licence" and p.agreements[0].status == "active"
    assert p.agreements[0].year is None

    p = store.partnerships(ALLIANCE)
    assert {i.rid for i in p.institutions} == {a["rid"], b["rid"]}
    assert {ag.rid for ag in p.agreements} == {public["rid"], alliance["rid"]}

    p = store.partnerships(LOCAL)
    assert {i.rid for i in p.institutions} == {a["rid"], b["rid"], c["rid"]}
    assert {ag.rid for ag in p.agreements} == {public["rid"], alliance["rid"], private["rid"]}
    (got,) = [ag for ag in p.agreements if ag.rid == private["rid"]]
    assert (stub, "recipient") in got.parties      # a stub party stays a party
    assert [i.rid for i in p.institutions] == sorted(i.rid for i in p.institutions)
    assert [ag.rid for ag in p.agreements] == sorted(ag.rid for ag in p.agreements)


def test_a_narrowed_record_leaves_the_wider_scope(store, rec):
    a, b = rec.institution("A"), rec.institution("B")
    ag = rec.envelope("agreement", {
        "kind": "joint_rd", "status": "active", "signed_on": "2023-05-01",
        "parties": [{"institution": a["rid"], "role": "partner"},
                    {"institution": b["rid"], "role": "partner"}]})
    store.apply([a, b, ag])
    assert [x.year for x in store.partnerships().agreements] == [2023]
    store.apply([rec.update(ag, visibility="private"), rec.update(b, visibility="alliance")])
    p = store.partnerships()
    assert p.agreements == () and [i.rid for i in p.institutions] == [a["rid"]]
    assert [x.rid for x in store.partnerships(LOCAL).agreements] == [ag["rid"]]


def test_empty_store_and_bad_scope(store):
    p = store.partnerships(LOCAL)
    assert p.institutions == () and p.agreements == ()
    for bad in (frozenset(), frozenset({"secret"}), "public"):
        with pytest.raises(errors.ValidationError) as info:
            store.partnerships(bad)
        assert info.value.errors[0]["field"] == "scope"
