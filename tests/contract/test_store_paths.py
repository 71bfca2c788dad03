"""Store.paths: the k shortest partnership paths, the same on every backend and equal to
networkx's answer on generated federations."""
from __future__ import annotations

import random

import pytest

from jembatan.graph.store import ALLIANCE, LOCAL, PUBLIC
from jembatan.network import errors
from traversal_data import generated, partnership_graph, reference_paths


def deal(rec, *parties, **kw) -> dict:
    """An agreement between the given institution envelopes (or rids)."""
    rids = [p if isinstance(p, str) else p["rid"] for p in parties]
    body = {"kind": "joint_rd", "status": "active",
            "parties": [{"institution": r, "role": "partner"} for r in rids]}
    return rec.envelope("agreement", body, **kw)


def test_shortest_first_then_by_ids(store, rec):
    a, b, c, d = (rec.institution(n) for n in "ABCD")
    direct = sorted([deal(rec, a, d), deal(rec, a, d)], key=lambda e: e["rid"])
    ab, bd, ac, cd = deal(rec, a, b), deal(rec, b, d), deal(rec, a, c), deal(rec, c, d)
    store.apply([cd, ac, bd, ab, *direct[::-1], d, c, b, a])   # not in id order
    got = store.paths(a["rid"], d["rid"], k=4)
    two = sorted([[a["rid"], ab["rid"], b["rid"], bd["rid"], d["rid"]],
                  [a["rid"], ac["rid"], c["rid"], cd["rid"], d["rid"]]])
    assert got == [[a["rid"], direct[0]["rid"], d["rid"]], [a["rid"], direct[1]["rid"], d["rid"]],
                   *two]
    assert store.paths(a["rid"], d["rid"], k=1) == got[:1]
    assert store.paths(a["rid"], d["rid"], k=3) == got[:3]
    # the way back is the same paths reversed, in its own order
    back = store.paths(d["rid"], a["rid"], k=4)
    assert sorted(back) == sorted(p[::-1] for p in got)


def test_max_hops_bounds_the_agreements(store, rec):
    chain = [rec.institution(f"I{i}") for i in range(5)]
    links = [deal(rec, x, y) for x, y in zip(chain, chain[1:])]
    store.apply(chain + links)
    ends = chain[0]["rid"], chain[-1]["rid"]
    assert store.paths(*ends, max_hops=3) == []
    path = [chain[0]["rid"]]
    for link, inst in zip(links, chain[1:]):
        path += [link["rid"], inst["rid"]]
    assert store.paths(*ends, max_hops=4) == [path]
    assert store.paths(*ends, k=20, max_hops=6) == [path]


def test_only_visible_live_records_are_crossed(store, rec):
    a, b = rec.institution("A"), rec.institution("B")
    middle = rec.institution("Middle", visibility="alliance")
    secret = deal(rec, a, b, visibility="private")
    first, second = deal(rec, a, middle), deal(rec, middle, b)
    store.apply([a, b, middle, secret, first, second])
    assert store.paths(a["rid"], b["rid"], scope=PUBLIC) == []
    via = [a["rid"], first["rid"], middle["rid"], second["rid"], b["rid"]]
    assert store.paths(a["rid"], b["rid"], scope=ALLIANCE) == [via]
    assert store.paths(a["rid"], b["rid"], scope=LOCAL) == [[a["rid"], secret["rid"], b["rid"]], via]
    store.apply([rec.tombstone(middle)])   # a deleted institution is a wall, like a stub
    assert store.paths(a["rid"], b["rid"], scope=LOCAL) == [[a["rid"], secret["rid"], b["rid"]]]


def test_a_stub_is_not_crossed_until_its_record_arrives(store, rec):
    a, b = rec.institution("A"), rec.institution("B")
    ghost = rec.rid("institution")
    one, two = deal(rec, a, ghost), deal(rec, ghost, b)
    store.apply([a, b, one, two])
    assert store.paths(a["rid"], b["rid"]) == []
    with pytest.raises(errors.NotFound):
        store.paths(ghost, b["rid"])
    store.apply([rec.institution("Ghost", rid=ghost)])
    assert store.paths(a["rid"], b["rid"]) == [[a["rid"], one["rid"], ghost, two["rid"], b["rid"]]]


def test_no_node_twice(store, rec):
    """A three-party agreement is not crossed twice; paths that come back to a node (which
    Cypher's shortest groups include) are not paths."""
    a, b, c, t = (rec.institution(n) for n in "ABCT")
    trio = deal(rec, a, b, c)
    direct = deal(rec, a, t)
    loop1, loop2 = deal(rec, a, c), deal(rec, c, a)      # a → c → a is a loop of two
    far = [rec.institution(f"F{i}") for i in range(3)]
    chain = [deal(rec, x, y) for x, y in zip([a, *far], [*far, t])]
    store.apply([a, b, c, t, trio, direct, loop1, loop2, *far, *chain])
    long_way = [a["rid"]]
    for link, inst in zip(chain, [*far, t]):
        long_way += [link["rid"], inst["rid"]]
    # lengths 1 and 4 have paths; length 3 only has a → c → a → t, which repeats a
    assert store.paths(a["rid"], t["rid"], k=2, max_hops=4) == [[a["rid"], direct["rid"], t["rid"]],
                                                                 long_way]
    assert store.paths(a["rid"], t["rid"], k=2, max_hops=3) == [[a["rid"], direct["rid"], t["rid"]]]
    assert store.paths(b["rid"], c["rid"], k=5) == [
        [b["rid"], trio["rid"], c["rid"]],
        *sorted([[b["rid"], trio["rid"], a["rid"], loop1["rid"], c["rid"]],
                 [b["rid"], trio["rid"], a["rid"], loop2["rid"], c["rid"]]])]


def check_generated(store, rec, scope: frozenset[str]) -> None:
    """30 pairs of a generated federation, several k and max_hops, equal networkx's paths."""
    envelopes, batches, stubs = generated(rec)
    for batch in batches:
        store.apply(batch)
    graph = partnership_graph(envelopes, scope)
    insts = sorted(rid for rid in graph if "institution" in rid)
    r = random.Random(5)
    pairs = [tuple(r.sample(insts, 2)) for _ in range(30)]
    checked = lengths = 0
    for (src, dst), (k, max_hops) in zip(pairs, [(3, 6), (1, 4), (20, 6), (2, 3), (5, 6)] * 6):
        want = reference_paths(graph, src, dst, k, max_hops)
        assert store.paths(src, dst, k=k, scope=scope, max_hops=max_hops) == want, (src, dst, k)
        checked += bool(want)
        lengths += len({len(p) for p in want}) > 1
    assert checked >= 12 and lengths >= 4     # the pairs found paths, of several lengths
    hidden = [e["rid"] for e in envelopes
              if e["kind"] == "institution" and (e["deleted"] or e["visibility"] not in scope)]
    for rid in hidden[:3] + stubs[:2]:
        with pytest.raises(errors.NotFound):
            store.paths(rid, insts[0], scope=scope)


@pytest.mark.parametrize("scope", [PUBLIC, ALLIANCE, LOCAL], ids=["public", "alliance", "local"])
def test_paths_equal_networkx_on_a_generated_federation(store, rec, scope):
    check_generated(store, rec, scope)


# Thresholds that send a small graph down the paths a large one takes: every institution a
# hub read through the id index and probed, cursors instead of sorting, walks finding the
# length with a few trial steps, the search around dst grown or not, the reverse index used
# or not. The search is the same on both stores; the rest is each store's own reading.
LOW = {
    "hubs": dict(HUB=0, PROBED_MAX=3, SORT_MAX=0, CHEAP=0, TRIAL_STEPS=50),
    "walks": dict(SORT_MAX=1, CHEAP=0, TRIAL_STEPS=2, GROW_MAX=0, REVERSE_MAX=0),
    "mixed": dict(SORT_MAX=3, CHEAP=50, TRIAL_STEPS=20, BALL_NODES=30, AGREEMENT_COST=1,
                  REVERSE_MAX=5, END_LIST=0),
    "tiny": dict(SORT_MAX=0, CHEAP=5, TRIAL_STEPS=1, BALL_NODES=5, AGREEMENT_COST=100),
}


@pytest.mark.parametrize("low", list(LOW))
def test_paths_equal_networkx_with_low_thresholds(store, rec, monkeypatch, low):
    from jembatan.graph import neo4j_paths_graph, paths_search, sqlite_paths_graph

    for name, value in LOW[low].items():
        module = next(m for m in (paths_search, sqlite_paths_graph, neo4j_paths_graph)
                      if hasattr(m, name))
        monkeypatch.setattr(module, name, value)
    check_generated(store, rec, LOCAL)


@pytest.mark.parametrize("kw,field", [
    (dict(k=0), "k"), (dict(k=21), "k"), (dict(k=True), "k"), (dict(k="3"), "k"),
    (dict(max_hops=0), "max_hops"), (dict(max_hops=7), "max_hops"), (dict(max_hops=2.0), "max_hops"),
    (dict(scope=frozenset({"secret"})), "scope"),
])
def test_bad_arguments(store, rec, kw, field):
    a, b = rec.institution("A"), rec.institution("B")
    store.apply([a, b])
    with pytest.raises(errors.ValidationError) as exc:
        store.paths(a["rid"], b["rid"], **kw)
    assert exc.value.errors[0]["field"] == field


def test_ends_must_be_two_visible_institutions(store, rec):
    a, b = rec.institution("A"), rec.institution("B")
    hidden = rec.institution("Hidden", visibility="alliance")
    link = deal(rec, a, b)
    gone = rec.institution("Gone")
    store.apply([a, b, hidden, link, gone])
    store.apply([rec.tombstone(gone)])
    with pytest.raises(errors.ValidationError) as exc:
        store.paths(a["rid"], a["rid"])
    assert exc.value.errors[0]["field"] == "dst"
    with pytest.raises(errors.ValidationError) as exc:
        store.paths(None, a["rid"])
    assert exc.value.errors[0]["field"] == "src"
    unknown = "urn:jembatan:node-a:institution:0190f000-0000-7000-8000-000000000000"
    for src, dst, which in [(unknown, b["rid"], "src"), (a["rid"], unknown, "dst"),
                            ("not a rid", b["rid"], "src"), (link["rid"], b["rid"], "src"),
                            (a["rid"], "country:CN", "dst"), (hidden["rid"], b["rid"], "src"),
                            (a["rid"], gone["rid"], "dst")]:
        with pytest.raises(errors.NotFound) as exc:
            store.paths(src, dst)
        assert which in exc.value.detail
    assert store.paths(hidden["rid"], b["rid"], scope=ALLIANCE) == []
