"""Graph queries for analysts: who works with whom, and through whom.

    GET /api/v1/graph/neighbours/<id>      a record's neighbourhood (depth ≤ 3, kinds,
                                           countries, limit); ``format`` exports it
    GET /api/v1/graph/paths                the k shortest partnership paths between two
                                           institutions (through agreements)
    GET /api/v1/graph/brokers              institutions by betweenness centrality
    GET /api/v1/graph/communities          Louvain communities (seedable)
    GET /api/v1/graph/institutions/<rid>/suggestions   partners of partners
    GET /api/v1/graph/institutions/<rid>/summary       partners by country, agreements by
                                                       kind and year
    GET /api/v1/graph/export?format=       the whole graph (GraphML, GEXF, node-link, edges)

Neighbourhoods and paths are read natively by the store (Cypher on Neo4j); brokers,
communities and suggestions run networkx on the partnership graph, built once per store
state and reader scope (``analytics.GraphCache``). Anonymous callers see public records.
"""
from __future__ import annotations

import io

import marshmallow as ma
from flask import Response, current_app
from flask_smorest import Blueprint
from marshmallow import fields as mf, validate

from jembatan.graph import analytics
from jembatan.graph.projection import node_props
from jembatan.graph.store import Subgraph
from jembatan.network import vocab
from jembatan.network.ids import KINDS
from jembatan.network.schemas import Country, RidRef

from . import graph_export
from .auth import read_scope
from .records import ApiBlueprint, json_response, node_state, path_rid

NODE_KINDS = (*KINDS, "country", "field")


class _Args(ma.Schema):
    class Meta:
        unknown = ma.RAISE


class NeighbourArgs(_Args):
    depth = mf.Integer(load_default=1, validate=validate.Range(1, 3))
    limit = mf.Integer(load_default=500, validate=validate.Range(1, 10_000))
    kind = mf.List(mf.String(validate=validate.OneOf(NODE_KINDS)), load_default=list,
                   metadata={"description": "Keep only nodes of these kinds (repeatable)."})
    country = mf.List(Country(), load_default=list, metadata={
        "description": "Keep only institutions, events and countries in these countries."})
    format = mf.String(validate=validate.OneOf(("json", *graph_export.FORMATS)))


class PathArgs(_Args):
    from_ = RidRef("institution", data_key="from", required=True)
    to = RidRef("institution", required=True)
    k = mf.Integer(load_default=3, validate=validate.Range(1, 20))
    max_hops = mf.Integer(load_default=4, validate=validate.Range(1, 6),
                          metadata={"description": "The most agreements on a path."})

    @ma.validates_schema
    def _two(self, data, **kwargs):
        if data.get("from_") is not None and data.get("from_") == data.get("to"):
            raise ma.ValidationError("Must be another institution than from.", "to")


class BrokerArgs(_Args):
    top = mf.Integer(load_default=20, validate=validate.Range(1, analytics.MAX_TOP))
    sample = mf.Integer(load_default=100, validate=validate.Range(1, analytics.MAX_SAMPLE),
                        metadata={"description": "Source nodes sampled above exact_max."})
    exact_max = mf.Integer(load_default=2000, validate=validate.Range(0, analytics.MAX_EXACT),
                           metadata={"description": "Exact betweenness up to this many nodes."})
    seed = mf.Integer(load_default=0, validate=validate.Range(0, analytics.MAX_SEED))


class CommunityArgs(_Args):
    seed = mf.Integer(load_default=0, validate=validate.Range(0, analytics.MAX_SEED))
    resolution = mf.Float(load_default=1.0, validate=validate.Range(
        0, analytics.MAX_RESOLUTION, min_inclusive=False))
    top = mf.Integer(load_default=50, validate=validate.Range(1, analytics.MAX_TOP),
                     metadata={"description": "How many communities to list (largest first)."})


class TopArgs(_Args):
    top = mf.Integer(load_default=10, validate=validate.Range(1, analytics.MAX_TOP))


class ExportArgs(_Args):
    format = mf.String(required=True, validate=validate.OneOf(graph_export.FORMATS))


def node_id(value: str) -> str:
    """A rid, or a place node's id (``country:TH``, ``field:ict``); 400 otherwise."""
    kind, _, code = value.partition(":")
    if kind == "country" and code in vocab.countries():
        return value
    if kind == "field" and code in vocab.field_codes():
        return value
    return path_rid(value)


def subgraph_doc(sub: Subgraph) -> dict:
    return {"nodes": [{"id": n.id, "label": n.label, "stub": n.stub, "props": n.props}
                      for n in sub.nodes],
            "edges": [{"src": e.src, "type": e.type, "dst": e.dst, "props": e.props}
                      for e in sub.edges]}


def graph_response(G, fmt: str, name: str) -> Response:
    out = io.BytesIO()
    graph_export.write_graph(G, fmt, out)
    filename = f"{name}.{graph_export.EXTENSIONS[fmt]}"
    return current_app.response_class(out.getvalue(), mimetype=graph_export.MEDIA_TYPES[fmt],
                                      headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def paths_doc(store, scope: frozenset[str], src: str, dst: str, k: int, max_hops: int) -> dict:
    """The paths, each a list of node ids, and what each node on them is."""
    paths = store.paths(src, dst, k, scope, max_hops)
    nodes = {}
    for rid in dict.fromkeys(r for path in paths for r in path):
        stored = store.get(rid, scope)
        nodes[rid] = node_props(stored.envelope) if stored is not None else {}
    return {"from": src, "to": dst, "k": k, "max_hops": max_hops,
            "paths": [{"agreements": len(path) // 2, "nodes": path} for path in paths],
            "nodes": nodes}


def graph_blueprint() -> Blueprint:
    blp = ApiBlueprint("graph", __name__, url_prefix="/api/v1/graph",
                       description="The partnership graph: neighbourhoods, paths, brokers, "
                       "communities, suggestions and exports.")
    cache = analytics.GraphCache()

    @blp.route("/neighbours/<rid>", endpoint="neighbours")
    @blp.arguments(NeighbourArgs, location="query")
    @blp.response(200, description="The record's node and everything within depth hops, "
                  "either direction; with format, the same as a graph file.")
    def neighbours(args: dict, rid: str) -> Response:
        sub = node_state().store.neighbours(
            node_id(rid), args["depth"], read_scope(), args["limit"],
            tuple(dict.fromkeys(args["kind"])), tuple(dict.fromkeys(args["country"])))
        fmt = args.get("format", "json")
        if fmt != "json":
            return graph_response(graph_export.subgraph_to_nx(sub), fmt, "neighbourhood")
        return json_response(subgraph_doc(sub))

    @blp.route("/paths", endpoint="paths")
    @blp.arguments(PathArgs, location="query")
    @blp.response(200, description="The k shortest partnership paths (institution, "
                  "agreement, institution, …), shortest first, ties in id order.")
    def paths(args: dict) -> Response:
        return json_response(paths_doc(node_state().store, read_scope(), args["from_"],
                                       args["to"], args["k"], args["max_hops"]))

    @blp.route("/brokers", endpoint="brokers")
    @blp.arguments(BrokerArgs, location="query")
    @blp.response(200, description="Institutions by betweenness centrality; exact on small "
                  "graphs, estimated from a seeded sample above exact_max (sample says how many).")
    def brokers(args: dict) -> Response:
        return json_response(cache.compute(node_state().store, read_scope(), analytics.brokers, **args))

    @blp.route("/communities", endpoint="communities")
    @blp.arguments(CommunityArgs, location="query")
    @blp.response(200, description="Louvain communities of the partnership graph, largest first.")
    def communities(args: dict) -> Response:
        top = args.pop("top")
        doc = cache.compute(node_state().store, read_scope(), analytics.communities, **args)
        return json_response({**doc, "total": len(doc["communities"]),
                              "communities": doc["communities"][:top]})

    @blp.route("/institutions/<rid>/suggestions", endpoint="suggestions")
    @blp.arguments(TopArgs, location="query")
    @blp.response(200, description="Partners of partners that are not partners yet, most "
                  "common partners first (then Adamic–Adar).")
    def suggestions(args: dict, rid: str) -> Response:
        rows = cache.compute(node_state().store, read_scope(), analytics.suggestions,
                             rid=path_rid(rid), top=args["top"])
        return json_response({"rid": rid, "suggestions": rows})

    @blp.route("/institutions/<rid>/summary", endpoint="summary")
    @blp.response(200, description="Partners by country, agreements by kind and year.")
    def summary(rid: str) -> Response:
        return json_response(cache.compute(node_state().store, read_scope(), analytics.summary,
                                           rid=path_rid(rid)))

    @blp.route("/export", endpoint="export")
    @blp.arguments(ExportArgs, location="query")
    @blp.response(200, description="The whole graph the caller may see, as a file.")
    def export(args: dict) -> Response:
        G = graph_export.whole_graph(node_state().store, read_scope())
        return graph_response(G, args["format"], "jembatan-graph")

    return blp
