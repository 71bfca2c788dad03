"""Graph exports (GraphML, GEXF, node-link JSON, CSV edge lists) of a demo node, parsed back.

The node is the generated demo alliance (``jembatan demo``) plus a few records imported
through ``jembatan import``: a private institution owning a public technology, an agreement
with a party never received, and a deleted technology. What every export must hold is
computed here independently from the stored envelopes and ``graph.projection.project``.
"""
from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import pytest
from click.testing import CliRunner

from jembatan.api.cli import GRAPH_FORMATS, cli
from jembatan.api.graph_export import (FORMATS, MEDIA_TYPES, display_name, subgraph_to_nx,
                                       whole_graph, write_graph)
from jembatan.api.node import load_node
from jembatan.graph import open_store
from jembatan.graph.projection import project
from jembatan.graph.store import ALLIANCE, LOCAL, PUBLIC
from jembatan.network.errors import BadRequest
from jembatan.network.ids import new_rid

GEXF_NS = "http://www.gexf.net/1.2draft"
GHOST = new_rid("far-away-node", "institution")   # a party this node never received


def _jsonl(path: Path, items: list[dict]) -> Path:
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    return path


def _invoke(runner: CliRunner, *args: str):
    result = runner.invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict:
    """A demo node with extras; returns its home and the rids the tests look at."""
    tmp = tmp_path_factory.mktemp("graph-export")
    home = tmp / "demo"
    runner = CliRunner()
    _invoke(runner, "demo", "--dir", str(home), "--no-serve")
    node_id = load_node(home).node_id
    store = open_store(load_node(home).store_url)
    try:
        envs = [r.envelope for r in store.iter_all(LOCAL)]
    finally:
        store.close()
    public_inst = next(e for e in envs if e["kind"] == "institution" and e["visibility"] == "public")
    # a public technology that a public agreement transfers: deleted, it stays as a stub
    techs = {e["rid"]: e for e in envs if e["kind"] == "technology" and e["visibility"] == "public"}
    doomed = next(e["body"]["technology"] for e in envs if e["kind"] == "agreement"
                  and e["visibility"] == "public" and e["body"].get("technology") in techs)

    private_inst, owned, ghost_deal = (new_rid(node_id, k) for k in ("institution", "technology", "agreement"))
    extras = [
        {"kind": "institution", "rid": private_inst, "visibility": "private", "body": {
            "name": {"zh-Hans": "保密研究所", "en": "Confidential Institute"},
            "kind": "research_institute", "country": "CN"}},
        {"kind": "technology", "rid": owned, "visibility": "public", "body": {
            "title": {"en": "Seaweed bioplastic"}, "owner": private_inst, "fields": ["new_materials"],
            "trl": 5, "transfer_modes": ["licence"], "stage": "registered"}},
        {"kind": "agreement", "rid": ghost_deal, "visibility": "public", "body": {
            "kind": "joint_rd", "title": {"id": "Riset bersama rumput laut"},
            "parties": [{"institution": public_inst["rid"], "role": "provider"},
                        {"institution": GHOST, "role": "recipient"}],
            "signed_on": "2025-06-30", "status": "active"}},
    ]
    _invoke(runner, "import", str(_jsonl(tmp / "extras.jsonl", extras)), "--dir", str(home))
    deleted = tmp / "delete.csv"
    deleted.write_text(f"rid,deleted\n{doomed},true\n", encoding="utf-8")
    _invoke(runner, "import", str(deleted), "--dir", str(home))
    return {"home": home, "tmp": tmp, "public_inst": public_inst, "private_inst": private_inst,
            "owned": owned, "ghost_deal": ghost_deal, "doomed": doomed}


@pytest.fixture
def store(demo):
    s = open_store(load_node(demo["home"]).store_url)
    yield s
    s.close()


def expected(store, scope: frozenset[str]) -> tuple[set[str], set[tuple[str, str, str]]]:
    """The nodes and (source, target, type) edges ``scope`` may see, from the envelopes."""
    recs = {r.rid: r.envelope for r in store.iter_all(LOCAL)}

    def visible(node_id: str) -> bool:
        env = recs.get(node_id)
        return (node_id.startswith(("country:", "field:")) or env is None or env["deleted"]
                or env["visibility"] in scope)

    nodes = {rid for rid, env in recs.items() if env["visibility"] in scope}
    edges = set()
    for env in recs.values():
        if env["deleted"] or env["visibility"] not in scope:
            continue
        for e in project(env)[1]:
            if visible(e.src) and visible(e.dst):
                edges.add((e.src, e.dst, e.type))
                nodes |= {e.src, e.dst}
    return nodes, edges


def edge_set(G: nx.Graph, type_attr: str = "type") -> set[tuple[str, str, str]]:
    return {(u, v, d[type_attr]) for u, v, d in G.edges(data=True)}


def export(demo, fmt: str) -> Path:
    out = demo["tmp"] / f"graph.{fmt}"
    result = CliRunner().invoke(cli, ["export", "--dir", str(demo["home"]), "--format", fmt, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "nodes and" in result.stderr and "edges exported" in result.stderr
    return out


def read_back(fmt: str, data: bytes) -> nx.MultiDiGraph:
    if fmt == "graphml":
        return nx.read_graphml(io.BytesIO(data), force_multigraph=True)
    if fmt == "gexf":
        return nx.read_gexf(io.BytesIO(data))
    assert fmt == "nodelink"
    return nx.node_link_graph(json.loads(data), edges="edges")


def csv_edges(data: bytes) -> tuple[list[str], list[dict]]:
    reader = csv.DictReader(io.StringIO(data.decode("utf-8")))
    rows = list(reader)
    return reader.fieldnames, rows


# -- the whole graph through the CLI --------------------------------------------------------

def test_cli_choices_are_the_module_formats():
    assert set(GRAPH_FORMATS) == set(FORMATS) == set(MEDIA_TYPES)
    assert MEDIA_TYPES["gexf"] == "application/gexf+xml" and MEDIA_TYPES["edges"] == "text/csv"


@pytest.mark.parametrize("fmt", ["graphml", "gexf", "nodelink"])
def test_export_parses_back_with_the_stores_graph(demo, store, fmt):
    G = read_back(fmt, export(demo, fmt).read_bytes())
    nodes, edges = expected(store, LOCAL)
    assert set(G.nodes) == nodes
    assert G.number_of_edges() == len(edges)
    assert edge_set(G, "label" if fmt == "gexf" else "type") == edges

    # labels and attributes survive
    inst = demo["public_inst"]
    attrs = G.nodes[inst["rid"]]
    assert attrs["label"] == display_name(inst["body"]["name"]) and attrs["label"]
    assert attrs["kind"] == "Institution" and attrs["stub"] is False
    assert attrs["country"] == inst["body"]["country"] and attrs["subkind"] == inst["body"]["kind"]
    assert attrs["visibility"] == "public"
    for lang, text in inst["body"]["name"].items():
        assert attrs[f"name_{lang}"] == text
    deal = demo["ghost_deal"]
    assert G.nodes[deal]["name_id"] == "Riset bersama rumput laut" == G.nodes[deal]["label"]
    assert G.nodes[deal]["signed_on"] == "2025-06-30" and G.nodes[deal]["status"] == "active"
    roles = {u: d.get("role") for u, v, d in G.in_edges(deal, data=True)}
    assert roles == {inst["rid"]: "provider", GHOST: "recipient"}
    # a party never received, a deleted record, places
    assert G.nodes[GHOST]["stub"] is True and G.nodes[GHOST]["label"] == GHOST
    assert G.nodes[GHOST]["kind"] == "Institution"
    assert G.nodes[demo["doomed"]]["stub"] is True and G.nodes[demo["doomed"]]["kind"] == "Technology"
    assert G.in_degree(demo["doomed"]) >= 1   # still transferred by an agreement
    country = f"country:{inst['body']['country']}"
    assert G.nodes[country]["kind"] == "Country" and G.nodes[country]["label"] == inst["body"]["country"]
    # LOCAL: the private institution and its technology's OWNS edge are there
    assert G.nodes[demo["private_inst"]]["label"] == "Confidential Institute"
    assert G.has_edge(demo["private_inst"], demo["owned"])
    assert {G.nodes[n]["kind"] for n in G} >= {"Institution", "Technology", "Demand", "Agreement",
                                                "Endorsement", "Event", "Country", "Field"}


def test_trl_and_version_keep_their_types(demo, store):
    for fmt in ("graphml", "gexf", "nodelink"):
        G = read_back(fmt, export(demo, fmt).read_bytes())
        tech = G.nodes[demo["owned"]]
        assert tech["trl"] == 5 and tech["stage"] == "registered", fmt
        versions = [d["version"] for _, _, d in G.edges(data=True) if "version" in d]
        assert versions and all(isinstance(v, int) for v in versions), fmt


def test_edges_csv_one_row_per_edge(demo, store):
    header, rows = csv_edges(export(demo, "edges").read_bytes())
    assert header[:5] == ["source", "target", "type", "role", "version"]
    _, edges = expected(store, LOCAL)
    assert len(rows) == len(edges)
    assert {(r["source"], r["target"], r["type"]) for r in rows} == edges
    parties = {r["source"]: r["role"] for r in rows if r["target"] == demo["ghost_deal"]}
    assert parties == {demo["public_inst"]["rid"]: "provider", GHOST: "recipient"}
    endorsements = [r for r in rows if r["type"] == "ENDORSES"]
    assert endorsements and all(int(r["version"]) >= 1 and r["role"] == "" for r in endorsements)


def test_edges_csv_of_an_empty_graph_has_its_header():
    out = io.BytesIO()
    write_graph(nx.MultiDiGraph(), "edges", out)
    assert out.getvalue().decode("utf-8").splitlines() == ["source,target,type,role,version"]


def test_export_to_stdout(demo, store):
    result = CliRunner().invoke(cli, ["export", "--dir", str(demo["home"]), "--format", "nodelink"])
    assert result.exit_code == 0, result.output
    G = nx.node_link_graph(json.loads(result.stdout), edges="edges")
    assert G.graph["name"] == load_node(demo["home"]).node_id
    assert set(G.nodes) == expected(store, LOCAL)[0]


def test_kind_is_refused_with_graph_formats(demo):
    before = sorted(p.name for p in demo["tmp"].iterdir())
    result = CliRunner().invoke(cli, ["export", "--dir", str(demo["home"]), "--format", "gexf",
                                      "--kind", "institution", "-o", str(demo["tmp"] / "no.gexf")])
    assert result.exit_code == 2 and "--kind" in result.stderr and "Traceback" not in result.output
    assert sorted(p.name for p in demo["tmp"].iterdir()) == before


def test_unknown_format_names_the_field():
    out = io.BytesIO()
    with pytest.raises(BadRequest) as info:
        write_graph(nx.MultiDiGraph(), "dot", out)
    assert info.value.errors[0]["field"] == "format" and "gexf" in info.value.errors[0]["detail"]
    assert out.getvalue() == b""


# -- GEXF as Gephi reads it -----------------------------------------------------------------

def test_gexf_has_the_schemas_required_structure(demo):
    root = ET.parse(export(demo, "gexf")).getroot()
    q = lambda tag: f"{{{GEXF_NS}}}{tag}"  # noqa: E731
    assert root.tag == q("gexf") and root.get("version") == "1.2"
    graphs = root.findall(q("graph"))
    assert len(graphs) == 1
    graph = graphs[0]
    assert graph.get("defaultedgetype") in ("directed", "undirected", "mutual")
    assert graph.get("mode") in (None, "static", "dynamic")

    declared: dict[str, dict[str, str]] = {"node": {}, "edge": {}}
    for attributes in graph.findall(q("attributes")):
        cls = attributes.get("class")
        assert cls in declared
        for attribute in attributes.findall(q("attribute")):
            assert attribute.get("id") is not None and attribute.get("title")
            assert attribute.get("type") in ("integer", "long", "double", "float", "boolean",
                                             "liststring", "string", "anyURI")
            declared[cls][attribute.get("id")] = attribute.get("title")

    def check_attvalues(element, cls: str) -> None:
        for attvalues in element.findall(q("attvalues")):
            for attvalue in attvalues.findall(q("attvalue")):
                assert attvalue.get("for") in declared[cls], attvalue.attrib
                assert attvalue.get("value") is not None

    [nodes] = graph.findall(q("nodes"))
    node_ids = []
    for node in nodes.findall(q("node")):
        assert node.get("id") and node.get("label")
        node_ids.append(node.get("id"))
        check_attvalues(node, "node")
    assert len(node_ids) == len(set(node_ids)) > 500

    [edges] = graph.findall(q("edges"))
    edge_ids, known = [], set(node_ids)
    for edge in edges.findall(q("edge")):
        assert edge.get("id") is not None
        assert edge.get("source") in known and edge.get("target") in known
        # the schema's edge type is an enumeration; relationships are edge labels
        assert edge.get("type") in (None, "directed", "undirected", "mutual")
        assert edge.get("label")
        edge_ids.append(edge.get("id"))
        check_attvalues(edge, "edge")
    assert len(edge_ids) == len(set(edge_ids)) > 1000
    assert "role" in declared["edge"].values() and "country" in declared["node"].values()


def test_graphml_edge_ids_are_unique(demo):
    root = ET.parse(export(demo, "graphml")).getroot()
    ids = [e.get("id") for e in root.iter("{http://graphml.graphdrawing.org/xmlns}edge")]
    assert ids and len(ids) == len(set(ids))


# -- scopes: what a public or alliance reader may see ---------------------------------------

@pytest.mark.parametrize("scope", [PUBLIC, ALLIANCE, LOCAL], ids=["public", "alliance", "local"])
def test_whole_graph_follows_the_scope(demo, store, scope):
    G = whole_graph(store, scope)
    nodes, edges = expected(store, scope)
    assert set(G.nodes) == nodes
    assert G.number_of_edges() == len(edges) and edge_set(G) == edges


def test_public_graph_hides_private_records_and_their_edges(demo, store):
    G = whole_graph(store, PUBLIC)
    hidden = [r.rid for r in store.iter_all(LOCAL)
              if r.envelope["visibility"] != "public" and not r.envelope["deleted"]]
    assert demo["private_inst"] in hidden and len(hidden) > 10
    assert not set(hidden) & set(G.nodes)
    assert {G.nodes[n]["visibility"] for n in G if "visibility" in G.nodes[n]} == {"public"}
    # the public technology of the private institution stays, without its OWNS edge
    assert G.nodes[demo["owned"]]["stub"] is False and G.in_degree(demo["owned"]) == 0
    # stubs and places stay
    assert G.nodes[GHOST]["stub"] is True and G.nodes[demo["doomed"]]["stub"] is True
    assert G.has_edge(GHOST, demo["ghost_deal"])

    L = whole_graph(store, LOCAL)
    assert demo["private_inst"] in L and L.has_edge(demo["private_inst"], demo["owned"])
    assert L.number_of_nodes() > G.number_of_nodes() and L.number_of_edges() > G.number_of_edges()


def test_whole_graph_agrees_with_the_stores_neighbourhoods(demo, store):
    G = whole_graph(store, PUBLIC)
    rid = demo["public_inst"]["rid"]
    for depth in (1, 2):
        sub = store.neighbours(rid, depth, PUBLIC, limit=10_000)
        members = {n.id for n in sub.nodes}
        if depth == 1:
            assert members == {rid} | set(G.predecessors(rid)) | set(G.successors(rid))
        assert members <= set(G.nodes)
        assert {(e.src, e.dst, e.type) for e in sub.edges} == edge_set(G.subgraph(members))
        assert {n.id: n.stub for n in sub.nodes} == {n: G.nodes[n]["stub"] for n in members}


# -- a query's result -----------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_a_neighbourhood_round_trips(demo, store, fmt):
    sub = store.neighbours(demo["ghost_deal"], 2, PUBLIC, limit=10_000)
    H = subgraph_to_nx(sub)
    assert H.number_of_nodes() == len(sub.nodes) and H.number_of_edges() == len(sub.edges) > 2
    out = io.BytesIO()
    write_graph(H, fmt, out)
    if fmt == "edges":
        header, rows = csv_edges(out.getvalue())
        assert {(r["source"], r["target"], r["type"]) for r in rows} == edge_set(H)
        return
    back = read_back(fmt, out.getvalue())
    assert set(back.nodes) == set(H.nodes)
    assert edge_set(back, "label" if fmt == "gexf" else "type") == edge_set(H)
    assert back.nodes[demo["ghost_deal"]]["label"] == "Riset bersama rumput laut"
    assert back.nodes[GHOST]["stub"] is True


def test_subgraph_edge_ends_missing_from_the_result_become_stubs():
    from jembatan.graph.store import GraphEdge, GraphNode, Subgraph

    tech = new_rid("node-x", "technology")
    inst = new_rid("node-y", "institution")
    sub = Subgraph([GraphNode(tech, "Technology", False, {"name": {"th": "เครื่องอบ"}, "trl": 4})],
                   [GraphEdge(inst, "OWNS", tech, {}), GraphEdge(tech, "IN_FIELD", "field:ict", {})])
    H = subgraph_to_nx(sub)
    assert H.nodes[tech]["label"] == "เครื่องอบ" and H.nodes[tech]["trl"] == 4
    assert H.nodes[inst] == {"label": inst, "kind": "Institution", "stub": True}
    assert H.nodes["field:ict"] == {"label": "ict", "kind": "Field", "stub": False, "code": "ict"}


def test_two_relationships_stay_two_edges_and_a_repeated_one_is_one():
    from jembatan.graph.store import GraphEdge, GraphNode, Subgraph

    inst, event = new_rid("node-x", "institution"), new_rid("node-x", "event")
    sub = Subgraph([GraphNode(inst, "Institution", True), GraphNode(event, "Event", True)],
                   [GraphEdge(inst, "ORGANISED", event), GraphEdge(inst, "PARTICIPATED_IN", event),
                    GraphEdge(inst, "ORGANISED", event)])
    H = subgraph_to_nx(sub)
    assert edge_set(H) == {(inst, event, "ORGANISED"), (inst, event, "PARTICIPATED_IN")}
    assert H.number_of_edges() == 2
    for fmt in ("graphml", "gexf", "nodelink"):
        out = io.BytesIO()
        write_graph(H, fmt, out)
        assert read_back(fmt, out.getvalue()).number_of_edges() == 2, fmt


def test_display_name_prefers_en_then_simplified_chinese():
    assert display_name({"th": "ก", "zh-Hans": "中", "en": "E"}) == "E"
    assert display_name({"th": "ก", "zh-Hans": "中"}) == "中"
    assert display_name({"th": "ก", "vi": "V"}) == "ก"
    assert display_name({}) is None and display_name(None) is None


# -- a record narrowed to private: its shadow tombstone is no stub ---------------------------

def test_a_narrowed_record_is_hidden_not_a_stub(node):
    from apikit import body

    inst = node.created("institution")["rid"]
    tech = node.created("technology", body("technology", owner=inst))["rid"]
    resp = node.put("institution", inst, body("institution"), visibility="private", **{"If-Match": "*"})
    assert resp.status_code == 200, resp.get_json()
    shadow = node.store.get(inst, PUBLIC)
    assert shadow is not None and shadow.envelope["deleted"]   # public readers get the tombstone

    G = whole_graph(node.store, PUBLIC)
    assert inst not in G and tech in G and G.in_degree(tech) == 0
    neighbourhood = node.store.neighbours(tech, 1, PUBLIC)
    assert {n.id for n in neighbourhood.nodes} == {tech} | set(G.successors(tech))
    L = whole_graph(node.store, LOCAL)
    assert L.nodes[inst]["visibility"] == "private" and L.has_edge(inst, tech)
