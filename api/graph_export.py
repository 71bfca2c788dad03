"""The partnership graph as files for Gephi, yEd, networkx and pandas: GraphML, GEXF 1.2,
node-link JSON and a CSV edge list, all written by networkx (CSV by the csv module).

Two ways in, one way out::

    whole_graph(store, scope)  every node and edge the scope may see
    subgraph_to_nx(sub)        a query's result (a neighbourhood, a path, …)
    write_graph(G, fmt, out)   G in one of FORMATS, to a binary stream

Nodes carry scalar attributes only, because GraphML and GEXF have no lists or maps:
``label`` (the display name), ``kind`` (the graph label: Institution, Country, …), ``stub``
and, when the record has them, ``country``, ``subkind``, ``trl``, ``stage``, ``status``,
``signed_on``, ``starts_on``, ``visibility`` and one ``name_<lang>`` per language of its
name or title. Edges carry ``type`` (OWNS, PARTY_TO, …) and its properties (``role``,
``version``); the graph is a ``MultiDiGraph`` keyed by ``type``, so two records linked in
two ways (organised and took part in an event) keep both edges.

Visibility follows the store's graph reads (``graph.sqlite_graph``): a node is visible when
it is a live record within the scope, a stub (never received, or a tombstone) or a Country
or Field; every edge touches the record that owns it, and an edge to an invisible node is
dropped with it.
"""
from __future__ import annotations

import csv
import json
from typing import IO, Any

import networkx as nx

from jembatan.graph import open_store
from jembatan.graph.projection import label_of, project
from jembatan.graph.store import LOCAL, GraphEdge, GraphNode, Store, Subgraph
from jembatan.network.errors import BadRequest

from .exporter import _output
from .node import NodeConfig

MEDIA_TYPES = {
    "graphml": "application/graphml+xml",
    "gexf": "application/gexf+xml",      # the type the GEXF specification gives for HTTP
    "nodelink": "application/json",
    "edges": "text/csv",
}
FORMATS = tuple(MEDIA_TYPES)
EXTENSIONS = {"graphml": "graphml", "gexf": "gexf", "nodelink": "json", "edges": "csv"}

#: record properties copied onto a node as they are (all scalars in ``node_props``)
NODE_ATTRS = ("country", "subkind", "trl", "stage", "status", "signed_on", "starts_on", "visibility")
#: the edge list's first columns; properties other than these follow, sorted
EDGE_COLUMNS = ("source", "target", "type", "role", "version")
PLACES = ("Country", "Field")


def display_name(name: Any) -> str | None:
    """A multilingual name's English text, else its Simplified Chinese, else its first language's."""
    if isinstance(name, str):
        return name or None
    if not isinstance(name, dict) or not name:
        return None
    for lang in ("en", "zh-Hans"):
        if name.get(lang):
            return name[lang]
    return next(iter(name.values()))


def node_attrs(node: GraphNode) -> dict[str, Any]:
    """The scalar attributes a graph node is exported with."""
    if node.label in PLACES:
        code = node.props.get("code") or node.id.split(":", 1)[1]
        return {"label": code, "kind": node.label, "stub": False, "code": code}
    if node.stub:
        return {"label": node.id, "kind": node.label, "stub": True}
    props = node.props
    attrs: dict[str, Any] = {"label": display_name(props.get("name")) or node.id,
                             "kind": node.label, "stub": False}
    for key in NODE_ATTRS:
        value = props.get(key)
        if isinstance(value, (str, int, float, bool)):
            attrs[key] = value
    if isinstance(props.get("name"), dict):
        for lang, text in props["name"].items():
            attrs[f"name_{lang}"] = text
    return attrs


def _stub(node_id: str) -> GraphNode:
    try:
        label = label_of(node_id)
    except (ValueError, KeyError):   # not a rid we can read: still a node, of no known kind
        label = "Unknown"
    return GraphNode(node_id, label, label not in PLACES, {})


def _add_edge(G: nx.MultiDiGraph, edge: GraphEdge) -> None:
    # keyed by type: the same edge named twice (a repeated list entry) is one edge
    G.add_edge(edge.src, edge.dst, key=edge.type, type=edge.type,
               **{k: v for k, v in edge.props.items() if v is not None})


def subgraph_to_nx(sub: Subgraph) -> nx.MultiDiGraph:
    """A query's result as a graph; an edge's end the result does not list becomes a stub."""
    G = nx.MultiDiGraph()
    for node in sub.nodes:
        G.add_node(node.id, **node_attrs(node))
    for edge in sub.edges:
        for end in (edge.src, edge.dst):
            if end not in G:
                G.add_node(end, **node_attrs(_stub(end)))
        _add_edge(G, edge)
    return G


def whole_graph(store: Store, scope: frozenset[str] = LOCAL) -> nx.MultiDiGraph:
    """Every record's node and edges that ``scope`` may see, in one pass over the store.

    An edge's far end that was never received, or is a tombstone, is a stub. Outside the
    ``LOCAL`` scope a node may also be a live record the scope does not include (a public
    agreement naming a private technology, or a narrowed record served as its shadow
    tombstone): the store is asked about each such node, and it goes with its edges.
    """
    G = nx.MultiDiGraph()
    unsure: list[str] = []   # tombstones that may be shadows of records outside the scope
    for rec in store.iter_all(scope):
        env = rec.envelope
        node, edges = project(env)
        if env["deleted"]:
            node = GraphNode(node.id, node.label, True, {})
            if scope != LOCAL:
                unsure.append(node.id)
        if node.id in G:   # met before as an edge's end, or changed while being read
            G.nodes[node.id].clear()
        G.add_node(node.id, **node_attrs(node))
        for edge in edges:
            _add_edge(G, edge)
    # ends of edges that no record of the scope described: add_edge made them bare
    unsure += [n for n, attrs in G.nodes(data=True) if not attrs]
    for node_id in dict.fromkeys(unsure):
        if node_id.startswith(("country:", "field:")):
            G.add_node(node_id, **node_attrs(_stub(node_id)))
            continue
        if scope != LOCAL:
            held = store.get(node_id, LOCAL)
            if held is not None and not held.envelope["deleted"]:
                G.remove_node(node_id)   # a live record this scope may not see
                continue
        if not G.nodes[node_id]:
            G.add_node(node_id, **node_attrs(_stub(node_id)))
    return G


# -- writers --------------------------------------------------------------------------------

def _for_xml(G: nx.MultiDiGraph, gexf: bool) -> nx.MultiDiGraph:
    """A copy whose edges have document-unique ids (``e0``, ``e1``, …).

    GEXF's edge ``type`` attribute is reserved (directed, undirected, mutual): there the
    relationship is the edge's ``label``, which is also what Gephi shows on an edge.
    """
    H = nx.MultiDiGraph(**G.graph)
    H.add_nodes_from(G.nodes(data=True))
    for n, (u, v, key, data) in enumerate(G.edges(keys=True, data=True)):
        data = dict(data, id=f"e{n}")
        if gexf:
            data["label"] = data.pop("type")
        H.add_edge(u, v, key=key, **data)
    return H


def _node_link(G: nx.MultiDiGraph) -> dict:
    try:
        return nx.node_link_data(G, edges="edges")
    except TypeError:   # networkx before 3.4 names the keyword ``link``
        return nx.node_link_data(G, link="edges")


class _Utf8:
    """Text in, UTF-8 bytes out: what ``csv.writer`` needs over any binary stream."""

    def __init__(self, out: IO[bytes]):
        self.out = out

    def write(self, text: str) -> int:
        return self.out.write(text.encode("utf-8"))


def write_edges_csv(G: nx.MultiDiGraph, out: IO[bytes]) -> None:
    """One row per edge: source, target, type, role, version, then any other property.

    No byte-order mark: the cells are rids and codes, ASCII, and pandas or Gephi read the
    file as it is.
    """
    extra = sorted({k for _, _, d in G.edges(data=True) for k in d} - set(EDGE_COLUMNS))
    columns = (*EDGE_COLUMNS, *extra)
    writer = csv.writer(_Utf8(out))
    writer.writerow(columns)
    for u, v, data in G.edges(data=True):
        row = {"source": u, "target": v, **data}
        writer.writerow([row.get(c, "") for c in columns])


def check_format(fmt: str) -> None:
    """Raise ``BadRequest`` naming the ``format`` field unless ``fmt`` is one of ``FORMATS``."""
    if fmt not in FORMATS:
        raise BadRequest(f"Unknown graph format {fmt!r}.", errors=[
            {"field": "format", "detail": f"Must be one of: {', '.join(FORMATS)}."}])


def write_graph(G: nx.MultiDiGraph, fmt: str, out: IO[bytes]) -> None:
    """Write ``G`` to the binary stream ``out`` as ``fmt`` (one of ``FORMATS``), in UTF-8."""
    check_format(fmt)
    if fmt == "graphml":
        nx.write_graphml(_for_xml(G, gexf=False), out, edge_id_from_attribute="id")
    elif fmt == "gexf":
        nx.write_gexf(_for_xml(G, gexf=True), out, version="1.2draft")
    elif fmt == "nodelink":
        out.write(json.dumps(_node_link(G), ensure_ascii=False).encode("utf-8"))
        out.write(b"\n")
    else:
        write_edges_csv(G, out)


def run_graph_export(cfg: NodeConfig, fmt: str, output: str) -> tuple[int, int]:
    """The node's whole graph (``LOCAL``: private records included) to ``output`` (a path,
    or ``-`` for stdout); the numbers of nodes and edges written."""
    check_format(fmt)
    store = open_store(cfg.store_url)
    try:
        G = whole_graph(store, LOCAL)
    finally:
        store.close()
    G.graph["name"] = cfg.node_id
    with _output(output, binary=True, bom=False) as out:
        write_graph(G, fmt, out)
    return G.number_of_nodes(), G.number_of_edges()
