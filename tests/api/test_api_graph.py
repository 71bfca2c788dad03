"""Graph queries over the REST API on the demo alliance, checked against networkx computed
here directly from the envelopes the node holds."""
from __future__ import annotations

import io
from itertools import combinations

import networkx as nx
import pytest
from apikit import NODE_ID

from jembatan.graph.store import LOCAL, PUBLIC
from jembatan.network import demo


@pytest.fixture(scope="module")
def alliance(tmp_path_factory):
    from apikit import make_node

    node = make_node(tmp_path_factory.mktemp("graph") / "node")
    node.store.apply(list(demo.generate(1, origin=NODE_ID)), trusted=True)
    yield node
    node.app.extensions["jembatan"].close()


def held(node, scope) -> dict[str, dict]:
    return {r.rid: r.envelope for r in node.store.iter_all(scope) if not r.envelope["deleted"]}


def partnership_graph(envs: dict[str, dict]) -> nx.Graph:
    """Institutions joined when party to the same agreement (the reference, built here)."""
    G = nx.Graph()
    G.add_nodes_from(rid for rid, e in envs.items() if e["kind"] == "institution")
    for e in envs.values():
        if e["kind"] == "agreement":
            parties = [p["institution"] for p in e["body"]["parties"] if p["institution"] in G]
            G.add_edges_from(combinations(parties, 2))
    return G


def get(node, path, role=None, **params):
    return node.client.get(path, query_string=params, headers=node.headers(role))


def test_a_neighbourhood_is_the_stores(alliance):
    inst = next(e for e in held(alliance, PUBLIC).values() if e["kind"] == "institution")
    doc = get(alliance, f"/api/v1/graph/neighbours/{inst['rid']}", depth=2).get_json()
    sub = alliance.store.neighbours(inst["rid"], 2, PUBLIC, 500)
    assert [n["id"] for n in doc["nodes"]] == [n.id for n in sub.nodes]
    assert {(e["src"], e["type"], e["dst"]) for e in doc["edges"]} == {
        (e.src, e.type, e.dst) for e in sub.edges}
    narrowed = get(alliance, f"/api/v1/graph/neighbours/{inst['rid']}", depth=3,
                   kind=["institution", "agreement"]).get_json()
    assert {n["label"] for n in narrowed["nodes"]} <= {"Institution", "Agreement"}
    country = get(alliance, "/api/v1/graph/neighbours/country:TH").get_json()
    assert country["nodes"][0]["id"] == "country:TH" and len(country["nodes"]) > 1


def test_a_neighbourhood_as_gexf(alliance):
    inst = next(e for e in held(alliance, PUBLIC).values() if e["kind"] == "institution")
    resp = get(alliance, f"/api/v1/graph/neighbours/{inst['rid']}", format="gexf")
    assert resp.status_code == 200 and "gexf" in resp.mimetype
    G = nx.read_gexf(io.BytesIO(resp.data))
    assert inst["rid"] in G and G.number_of_nodes() == len(
        get(alliance, f"/api/v1/graph/neighbours/{inst['rid']}").get_json()["nodes"])


def test_paths_run_through_agreements(alliance):
    envs = held(alliance, PUBLIC)
    G = partnership_graph(envs)
    a, b = next((u, v) for u, v in combinations(sorted(G), 2)
                if nx.has_path(G, u, v) and nx.shortest_path_length(G, u, v) == 2)
    doc = get(alliance, "/api/v1/graph/paths", **{"from": a, "to": b, "k": 3}).get_json()
    assert doc["paths"][0]["agreements"] == 2
    assert [p["nodes"] for p in doc["paths"]] == alliance.store.paths(a, b, 3, PUBLIC, 4)
    for path in doc["paths"]:
        assert path["nodes"][0] == a and path["nodes"][-1] == b
        assert [envs[r]["kind"] for r in path["nodes"]] == ["institution", "agreement"] * (
            len(path["nodes"]) // 2) + ["institution"]
        for rid in path["nodes"]:
            assert doc["nodes"][rid]["kind"] == envs[rid]["kind"]


def test_brokers_are_networkx_betweenness(alliance):
    G = partnership_graph(held(alliance, PUBLIC))
    expected = nx.betweenness_centrality(G, normalized=True)
    doc = get(alliance, "/api/v1/graph/brokers", top=5).get_json()
    assert doc["exact"] is True and doc["sample"] is None and doc["nodes"] == G.number_of_nodes()
    best = sorted(expected.items(), key=lambda item: (-item[1], item[0]))[:5]
    assert [(r["rid"], pytest.approx(r["score"])) for r in doc["rows"]] == [
        (rid, pytest.approx(score)) for rid, score in best]
    sampled = get(alliance, "/api/v1/graph/brokers", exact_max=10, sample=20, seed=7).get_json()
    assert sampled["exact"] is False and sampled["sample"] == 20
    assert sampled == get(alliance, "/api/v1/graph/brokers", exact_max=10, sample=20, seed=7).get_json()


def test_communities_partition_the_graph_and_repeat_with_the_seed(alliance):
    G = partnership_graph(held(alliance, LOCAL))
    doc = get(alliance, "/api/v1/graph/communities", "viewer", seed=3, top=1000).get_json()
    members = [m for c in doc["communities"] for m in c["members"]]
    assert sorted(members) == sorted(G) and doc["total"] == len(doc["communities"])
    assert doc == get(alliance, "/api/v1/graph/communities", "viewer", seed=3, top=1000).get_json()


def test_suggestions_and_summary(alliance):
    envs = held(alliance, PUBLIC)
    G = partnership_graph(envs)
    rid = max(sorted(G), key=G.degree)
    rows = get(alliance, f"/api/v1/graph/institutions/{rid}/suggestions").get_json()["suggestions"]
    assert rows
    for row in rows:
        assert row["rid"] not in G[rid] and row["rid"] != rid
        assert row["via"] == sorted(set(G[rid]) & set(G[row["rid"]]))
    summary = get(alliance, f"/api/v1/graph/institutions/{rid}/summary").get_json()
    mine = [e for e in envs.values() if e["kind"] == "agreement"
            and rid in {p["institution"] for p in e["body"]["parties"]}]
    assert summary["agreements"] == len(mine) and summary["partners"] == G.degree(rid)


def test_a_private_institution_is_not_there_for_anonymous_callers(alliance):
    private = alliance.created("institution", visibility="private")
    url = f"/api/v1/graph/institutions/{private['rid']}/summary"
    assert get(alliance, url).status_code == 404
    assert get(alliance, url, "viewer").status_code == 200
    assert get(alliance, f"/api/v1/graph/neighbours/{private['rid']}").status_code == 404


def test_the_whole_graph_exports(alliance):
    resp = get(alliance, "/api/v1/graph/export", format="graphml")
    assert resp.status_code == 200
    G = nx.read_graphml(io.BytesIO(resp.data))
    public = held(alliance, PUBLIC)
    assert set(public) <= set(G)
    assert not set(held(alliance, LOCAL)) - set(public) & set(G)


@pytest.mark.parametrize("path, params, status, field", [
    ("/api/v1/graph/neighbours/{inst}", {"depth": 4}, 422, "depth"),
    ("/api/v1/graph/neighbours/{inst}", {"kind": "planet"}, 422, "kind"),
    ("/api/v1/graph/neighbours/{inst}", {"country": "XX"}, 422, "country"),
    ("/api/v1/graph/neighbours/{inst}", {"format": "pdf"}, 422, "format"),
    ("/api/v1/graph/neighbours/not-a-rid", {}, 400, "rid"),
    ("/api/v1/graph/paths", {"from": "{inst}"}, 422, "to"),
    ("/api/v1/graph/paths", {"from": "{inst}", "to": "{inst}"}, 422, "to"),
    ("/api/v1/graph/paths", {"from": "{inst}", "to": "{other}", "max_hops": 7}, 422, "max_hops"),
    ("/api/v1/graph/brokers", {"sample": 0}, 422, "sample"),
    ("/api/v1/graph/communities", {"resolution": 0}, 422, "resolution"),
    ("/api/v1/graph/institutions/{tech}/summary", {}, 404, None),
    ("/api/v1/graph/export", {}, 422, "format"),
])
def test_bad_graph_requests(alliance, path, params, status, field):
    envs = held(alliance, PUBLIC)
    inst, other = [r for r, e in envs.items() if e["kind"] == "institution"][:2]
    tech = next(r for r, e in envs.items() if e["kind"] == "technology")
    fill = lambda s: s.format(inst=inst, other=other, tech=tech)  # noqa: E731
    resp = alliance.client.get(fill(path), query_string={k: fill(str(v)) for k, v in params.items()})
    assert resp.status_code == status and resp.mimetype == "application/problem+json"
    if field:   # a list's item is named with its index: kind.0
        assert any(e["field"].split(".")[0] == field for e in resp.get_json()["errors"])
