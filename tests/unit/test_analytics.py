"""The partnership graph's analytics against networkx computed directly, on generated graphs."""
from __future__ import annotations

import itertools
import json
import math
import random
from collections import Counter

import networkx as nx
import pytest

from jembatan.graph import analytics
from jembatan.graph.sqlite import SqliteStore
from jembatan.graph.sqlite_partners import agreement_fields
from jembatan.graph.store import LOCAL, PUBLIC, PartnerAgreement, PartnerInstitution, Partnerships
from jembatan.network import errors
from jembatan.network.envelope import load_envelope, make_envelope
from jembatan.network.ids import new_rid
from jembatan.network.vocab import AGREEMENT_KINDS, INSTITUTION_KINDS

COUNTRIES = ("CN", "TH", "VN", "ID", "MY", "PH", "LA")
_ms = itertools.count(1_700_000_000_000)


def rid(kind: str) -> str:
    return new_rid("node-a", kind, ms=next(_ms))


def envelopes(n_inst: int = 80, n_ag: int = 200, seed: int = 3, stubs: int = 5) -> list[dict]:
    """Institutions and agreements, some agreements with a party never received."""
    r = random.Random(seed)
    out, insts = [], []
    for i in range(n_inst):
        env = make_envelope(rid=rid("institution"), version=1, hlc="1700000000000-0001",
                            visibility="public",
                            body={"name": {"en": f"Institute {i}"}, "country": r.choice(COUNTRIES),
                                  "kind": r.choice(INSTITUTION_KINDS)})
        insts.append(env["rid"])
        out.append(env)
    pool = insts + [rid("institution") for _ in range(stubs)]
    # a few busy institutions, so the graph has hubs (brokers) and not only noise
    weights = [8 if i < 6 else 1 for i in range(len(pool))]
    for _ in range(n_ag):
        size = 3 if r.random() < 0.2 else 2
        parties = set()
        while len(parties) < size:
            parties.add(r.choices(pool, weights)[0])
        body = {"kind": r.choice(AGREEMENT_KINDS), "status": "active",
                "parties": [{"institution": p, "role": "partner"} for p in sorted(parties)]}
        if r.random() < 0.85:
            body["signed_on"] = f"{r.randint(2018, 2025)}-06-01"
        out.append(make_envelope(rid=rid("agreement"), version=1, hlc="1700000000000-0001",
                                 visibility="public", body=body))
    return out


def partnerships_of(envs: list[dict]) -> Partnerships:
    insts = sorted((PartnerInstitution(e["rid"], e["body"]["name"], e["body"]["country"],
                                       e["body"]["kind"]) for e in envs if e["kind"] == "institution"),
                   key=lambda i: i.rid)
    ags = sorted((PartnerAgreement(e["rid"], e["body"]["kind"], e["body"]["status"],
                                   int(e["body"]["signed_on"][:4]) if "signed_on" in e["body"] else None,
                                   tuple(sorted((p["institution"], p["role"]) for p in e["body"]["parties"])))
                  for e in envs if e["kind"] == "agreement"), key=lambda a: a.rid)
    return Partnerships(tuple(insts), tuple(ags))


@pytest.fixture(scope="module")
def generated():
    envs = envelopes()
    p = partnerships_of(envs)
    return envs, p, analytics.partnership_graph(p)


# -- the graph ------------------------------------------------------------------------------

def test_graph_nodes_and_edges_match_the_agreements(generated):
    envs, p, G = generated
    insts = {e["rid"]: e["body"] for e in envs if e["kind"] == "institution"}
    assert set(G) == set(insts)
    assert list(G) == sorted(insts)
    for node, body in insts.items():
        assert G.nodes[node] == {"name": body["name"], "country": body["country"], "kind": body["kind"]}
    expected: dict[frozenset, list[str]] = {}
    for e in envs:
        if e["kind"] == "agreement":
            seen = [x["institution"] for x in e["body"]["parties"] if x["institution"] in insts]
            for a, b in itertools.combinations(seen, 2):
                expected.setdefault(frozenset((a, b)), []).append(e["rid"])
    assert {frozenset(edge) for edge in G.edges} == set(expected)
    for (a, b), attrs in G.edges.items():
        assert attrs["agreements"] == sorted(expected[frozenset((a, b))])
        assert attrs["weight"] == len(expected[frozenset((a, b))])
    assert any(d["weight"] > 1 for _, _, d in G.edges(data=True))


def test_stub_and_invisible_parties_are_dropped():
    a = PartnerInstitution("urn:a", {"en": "A"}, "CN", "university")
    b = PartnerInstitution("urn:b", {"en": "B"}, "TH", "enterprise")
    p = Partnerships((a, b), (
        PartnerAgreement("urn:x1", "licence", "active", 2020, (("urn:a", "provider"), ("urn:stub", "recipient"))),
        PartnerAgreement("urn:x2", "joint_rd", "active", None,
                         (("urn:a", "partner"), ("urn:b", "partner"), ("urn:stub", "partner"))),
    ))
    G = analytics.partnership_graph(p)
    assert sorted(G) == ["urn:a", "urn:b"]
    assert list(G.edges(data=True)) == [("urn:a", "urn:b", {"weight": 1, "agreements": ["urn:x2"]})]


# -- brokers --------------------------------------------------------------------------------

def test_brokers_exact_equal_networkx(generated):
    _, _, G = generated
    got = analytics.brokers(G, top=15)
    assert (got["exact"], got["sample"], got["nodes"]) == (True, None, G.number_of_nodes())
    ref = nx.betweenness_centrality(G, normalized=True)
    expected = sorted(ref.items(), key=lambda kv: (-kv[1], kv[0]))[:15]
    assert [(row["rid"], row["score"]) for row in got["rows"]] == expected
    top = got["rows"][0]
    assert top["score"] > 0 and top["country"] == G.nodes[top["rid"]]["country"]
    assert top["kind"] == G.nodes[top["rid"]]["kind"] and top["name"] == G.nodes[top["rid"]]["name"]


def test_brokers_sampled_equal_networkx_with_the_same_seed(generated):
    _, _, G = generated
    got = analytics.brokers(G, top=10, exact_max=20, sample=25, seed=11)
    assert (got["exact"], got["sample"], got["nodes"]) == (False, 25, G.number_of_nodes())
    ref = nx.betweenness_centrality(G, k=25, normalized=True, seed=11)
    assert [(row["rid"], row["score"]) for row in got["rows"]] == \
        sorted(ref.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert analytics.brokers(G, top=10, exact_max=20, sample=25, seed=11) == got
    other = analytics.brokers(G, top=10, exact_max=20, sample=25, seed=12)
    assert [r["score"] for r in other["rows"]] != [r["score"] for r in got["rows"]]
    # a sample as large as the graph is the exact computation
    whole = analytics.brokers(G, top=10, exact_max=20, sample=10_000)
    assert whole["exact"] is True and whole["rows"] == analytics.brokers(G, top=10)["rows"]


def test_brokers_ties_by_rid():
    G = nx.star_graph(4)
    G = nx.relabel_nodes(G, {i: f"urn:{i}" for i in G})
    for node in G:
        G.nodes[node].update(name={"en": node}, country="CN", kind="university")
    rows = analytics.brokers(G)["rows"]
    assert [r["rid"] for r in rows] == ["urn:0", "urn:1", "urn:2", "urn:3", "urn:4"]
    assert rows[0]["score"] == 1.0 and rows[1]["score"] == 0.0


# -- communities ----------------------------------------------------------------------------

def test_communities_partition_every_node_reproducibly(generated):
    _, _, G = generated
    got = analytics.communities(G, seed=5)
    assert got == analytics.communities(G, seed=5)
    members = [m for c in got["communities"] for m in c["members"]]
    assert sorted(members) == sorted(G) and len(members) == len(set(members))
    sizes = [(-c["size"], c["members"][0]) for c in got["communities"]]
    assert sizes == sorted(sizes)
    for c in got["communities"]:
        assert c["members"] == sorted(c["members"]) and c["size"] == len(c["members"])
        countries = Counter(G.nodes[m]["country"] for m in c["members"])
        assert c["by_country"] == dict(countries) and c["countries"] == len(countries)
    ref = nx.community.louvain_communities(G, weight="weight", resolution=1.0, seed=5)
    assert {frozenset(c["members"]) for c in got["communities"]} == {frozenset(c) for c in ref}
    assert math.isclose(got["modularity"],
                        nx.community.modularity(G, ref, weight="weight"), rel_tol=1e-12)
    assert got["modularity"] > 0


def test_communities_find_two_cliques():
    G = nx.Graph()
    left, right = [f"urn:l{i}" for i in range(5)], [f"urn:r{i}" for i in range(4)]
    for group, cc in ((left, "CN"), (right, "TH")):
        for node in group:
            G.add_node(node, name={"en": node}, country=cc, kind="university")
        G.add_edges_from(itertools.combinations(group, 2), weight=3)
    G.add_edge("urn:l0", "urn:r0", weight=1)
    got = analytics.communities(G)
    assert [c["members"] for c in got["communities"]] == [sorted(left), sorted(right)]
    assert [c["by_country"] for c in got["communities"]] == [{"CN": 5}, {"TH": 4}]
    empty = nx.Graph()
    empty.add_node("urn:a", name={}, country="CN", kind="university")
    assert analytics.communities(empty)["modularity"] is None


# -- suggestions ----------------------------------------------------------------------------

def small_graph() -> nx.Graph:
    """a—b, a—c, b—d, c—d, c—e, d—f, e—f (a's partners: b, c)."""
    G = nx.Graph()
    for node in "abcdefg":
        G.add_node(node, name={"en": node.upper()}, country="CN", kind="university")
    G.add_edges_from([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("c", "e"), ("d", "f"),
                      ("e", "f")])
    G.add_edge("c", "g")
    G.add_edge("g", "h")
    G.nodes["h"].update(name={"en": "H"}, country="TH", kind="enterprise")
    return G


def test_suggestions_by_hand():
    G = small_graph()
    rows = analytics.suggestions(G, "a")
    # partners of partners not yet partners: d (via b and c), e (via c), g (via c)
    # deg(b)=2, deg(c)=4: AA(a,d) = 1/ln2 + 1/ln4, AA(a,e) = AA(a,g) = 1/ln4
    assert [(r["rid"], r["common"], r["via"]) for r in rows] == [
        ("d", 2, ["b", "c"]), ("e", 1, ["c"]), ("g", 1, ["c"])]
    assert math.isclose(rows[0]["adamic_adar"], 1 / math.log(2) + 1 / math.log(4))
    assert math.isclose(rows[1]["adamic_adar"], 1 / math.log(4))
    assert rows[0]["name"] == {"en": "D"} and rows[0]["country"] == "CN"
    assert [r["rid"] for r in analytics.suggestions(G, "a", top=1)] == ["d"]
    rows = analytics.suggestions(G, "e")     # partners c, f: d via both; a and g via c
    assert [(r["rid"], r["common"]) for r in rows] == [("d", 2), ("a", 1), ("g", 1)]
    assert analytics.suggestions(G, "h")[0]["rid"] == "c"


def test_suggestions_rank_by_adamic_adar_within_equal_counts():
    G = nx.Graph()
    for node in ("x", "hub", "quiet", "p", "q", "s1", "s2", "s3"):
        G.add_node(node, name={}, country="CN", kind="university")
    G.add_edges_from([("x", "hub"), ("x", "quiet"), ("hub", "p"), ("quiet", "q"),
                      ("hub", "s1"), ("hub", "s2"), ("hub", "s3")])
    rows = analytics.suggestions(G, "x", top=2)
    assert [r["rid"] for r in rows] == ["q", "p"]     # via a partner of fewer partners first


# -- summary --------------------------------------------------------------------------------

def test_summary_counts_equal_a_direct_count(generated):
    envs, p, _ = generated
    insts = {e["rid"]: e["body"] for e in envs if e["kind"] == "institution"}
    checked = 0
    for me in sorted(insts)[:12]:
        mine = [e["body"] for e in envs if e["kind"] == "agreement"
                and me in {x["institution"] for x in e["body"]["parties"]}]
        partners = {x["institution"] for b in mine for x in b["parties"]} & set(insts) - {me}
        got = analytics.summary(p, me)
        assert got["rid"] == me and got["country"] == insts[me]["country"]
        assert got["agreements"] == len(mine) and got["partners"] == len(partners)
        assert got["agreements_by_kind"] == dict(Counter(b["kind"] for b in mine))
        assert got["agreements_by_year"] == dict(Counter(int(b["signed_on"][:4]) for b in mine
                                                         if "signed_on" in b))
        assert got["undated"] == sum("signed_on" not in b for b in mine)
        assert got["partners_by_country"] == dict(Counter(insts[x]["country"] for x in partners))
        checked += bool(mine)
    assert checked >= 6


# -- errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("call, field", [
    (lambda G: analytics.brokers(G, top=0), "top"),
    (lambda G: analytics.brokers(G, top=True), "top"),
    (lambda G: analytics.brokers(G, top=analytics.MAX_TOP + 1), "top"),
    (lambda G: analytics.brokers(G, sample=0), "sample"),
    (lambda G: analytics.brokers(G, sample="5"), "sample"),
    (lambda G: analytics.brokers(G, exact_max=-1), "exact_max"),
    (lambda G: analytics.brokers(G, seed=-1), "seed"),
    (lambda G: analytics.communities(G, resolution=0), "resolution"),
    (lambda G: analytics.communities(G, resolution=float("nan")), "resolution"),
    (lambda G: analytics.communities(G, resolution="1"), "resolution"),
    (lambda G: analytics.communities(G, seed=1.5), "seed"),
    (lambda G: analytics.suggestions(G, "a", top=0), "top"),
])
def test_bad_arguments_name_the_field(call, field):
    with pytest.raises(errors.ValidationError) as info:
        call(small_graph())
    assert info.value.errors == [{"field": field, "detail": info.value.errors[0]["detail"]}]


def test_unknown_institutions_are_not_found(generated):
    _, p, G = generated
    for bad in ("urn:nobody", None):
        with pytest.raises(errors.NotFound):
            analytics.suggestions(G, bad)
        with pytest.raises(errors.NotFound):
            analytics.summary(p, bad)
    stub = next(rid for a in p.agreements for rid, _ in a.parties if rid not in G)
    with pytest.raises(errors.NotFound):
        analytics.summary(p, stub)          # a party never received is no institution


# -- the SQLite reader's fast path ----------------------------------------------------------

def test_agreement_fields_fast_path_and_fallback_agree():
    text = ('["licence","active","2021-03-04",[{"institution":"urn:a","role":"provider"},'
            '{"institution":"urn:b","role":"recipient"}]]')
    expected = ("licence", "active", "2021-03-04", [("urn:a", "provider"), ("urn:b", "recipient")])
    assert agreement_fields(text) == expected
    spaced = json.dumps(json.loads(text))       # spaces: not SQLite's form, parsed as JSON
    assert agreement_fields(spaced) == expected
    assert agreement_fields('["joint_rd","proposed",null,[{"institution":"urn:c","role":"partner"}]]') \
        == ("joint_rd", "proposed", None, [("urn:c", "partner")])
    odd = '["licence","active",null,[{"institution":"urn:a","note":"x","role":"partner"}]]'
    assert agreement_fields(odd) == ("licence", "active", None, [("urn:a", "partner")])


# -- the cache ------------------------------------------------------------------------------

def test_cache_reuses_the_graph_until_the_store_changes(tmp_path):
    envs = envelopes(n_inst=20, n_ag=40, seed=9)
    store = SqliteStore(str(tmp_path / "node.db"))
    try:
        store.apply([load_envelope(e) for e in envs])
        cache = analytics.GraphCache()
        p, G = cache.get(store)
        assert p == store.partnerships(PUBLIC)
        assert nx.utils.graphs_equal(G, analytics.partnership_graph(p))
        assert cache.get(store) == (p, G) and cache.get(store)[1] is G
        with pytest.raises(nx.NetworkXError):
            G.add_node("urn:x")                  # shared: frozen
        _, G_local = cache.get(store, LOCAL)
        assert G_local is not G and cache.get(store)[1] is G     # two entries kept
        extra = make_envelope(rid=rid("institution"), version=1, hlc="1700000000000-0002",
                              visibility="public",
                              body={"name": {"en": "New"}, "country": "CN", "kind": "enterprise"})
        store.apply([load_envelope(extra)])
        p2, G2 = cache.get(store)
        assert G2 is not G and extra["rid"] in G2 and extra["rid"] not in G
        assert len(p2.institutions) == len(p.institutions) + 1
        with pytest.raises(errors.ValidationError):
            cache.get(store, frozenset({"secret"}))
    finally:
        store.close()


def test_cache_is_bounded_and_tells_stores_apart(tmp_path):
    stores = [SqliteStore(str(tmp_path / f"{i}.db")) for i in range(3)]
    try:
        for i, store in enumerate(stores):
            store.apply([load_envelope(e) for e in envelopes(n_inst=5 + i, n_ag=5, seed=i)])
        cache = analytics.GraphCache(size=2)
        graphs = [cache.get(store)[1] for store in stores]
        assert [g.number_of_nodes() for g in graphs] == [5, 6, 7]
        assert len(cache._entries) == 2
        assert cache.get(stores[2])[1] is graphs[2]
        assert cache.get(stores[0])[1] is not graphs[0]      # evicted, built again
    finally:
        for store in stores:
            store.close()


def test_cache_remembers_answers_per_graph(tmp_path):
    envs = envelopes(n_inst=25, n_ag=60, seed=4)
    store = SqliteStore(str(tmp_path / "node.db"))
    try:
        store.apply([load_envelope(e) for e in envs])
        cache = analytics.GraphCache()
        p, G = cache.get(store)
        got = cache.compute(store, PUBLIC, analytics.brokers, top=5)
        assert got == analytics.brokers(G, top=5)
        assert cache.compute(store, PUBLIC, analytics.brokers, top=5) is got
        assert cache.compute(store, PUBLIC, analytics.brokers, top=6) is not got
        some = got["rows"][0]["rid"]
        assert cache.compute(store, PUBLIC, analytics.summary, rid=some) == analytics.summary(p, some)
        assert cache.compute(store, PUBLIC, analytics.suggestions, rid=some, top=3) == \
            analytics.suggestions(G, some, top=3)
        with pytest.raises(errors.ValidationError):
            cache.compute(store, PUBLIC, analytics.communities, resolution=-1)
        with pytest.raises(errors.ValidationError):
            cache.compute(store, PUBLIC, analytics.brokers, top=[5])      # unhashable: still checked
        store.apply([load_envelope(make_envelope(
            rid=rid("institution"), version=1, hlc="1700000000000-0003", visibility="public",
            body={"name": {"en": "New"}, "country": "CN", "kind": "enterprise"}))])
        again = cache.compute(store, PUBLIC, analytics.brokers, top=5)
        assert again is not got and again["nodes"] == got["nodes"] + 1
    finally:
        store.close()
