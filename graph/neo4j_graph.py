"""Graph reads on the Neo4j store: breadth-first neighbourhoods, with the SQLite store's rules.

A node is visible to a caller when it is a live record within the caller's scope, a stub
(no live record: never received, or a tombstone) or a Country/Field node. Invisible nodes
are neither returned nor traversed; every edge touches the record that owns it, so an
invisible record's edges disappear with it. The kind and country filters narrow the walk
the same way (see ``sqlite_graph``). A traversal is one statement in one read transaction.
"""
from __future__ import annotations

import json

from jembatan.network import errors
from jembatan.network.vocab import VISIBILITIES

from .neo4j_schema import EDGE_PROPS
from .projection import LABELS, label_of
from .sqlite_graph import check_neighbourhood
from .store import GraphEdge, GraphNode, Subgraph

_VISIBLE = "(NOT b:Record OR b.deleted OR b.visibility IN $scope)"
# stubs carry their kind's label too, so one label test covers records and stubs
_KINDS = "any(label IN labels(b) WHERE label IN $labels)"
# a tombstone's country is removed with its body, so only live records have one
_COUNTRIES = ("CASE WHEN b:Country THEN substring(b.id, 8) IN $countries"
              " ELSE b.country IS NULL OR b.country IN $countries END")


def _hop(source: str) -> str:
    """The distinct nodes one hop from ``source`` (a node, or a list UNWOUND as ``a``),
    outgoing edges first (the SQLite store's order), at most ``$limit`` of them: a hub
    (a country, a large institution) sends no more rows than can be kept."""
    start = "(s)" if source == "s" else "(a)"
    unwind = "" if source == "s" else f"UNWIND {source} AS a "
    return (f"CALL ({source}) {{\n"
            f"    {unwind}MATCH {start}-->(b) WHERE {{keep}} RETURN b\n"
            f"    UNION ALL\n"
            f"    {unwind}MATCH {start}<--(b) WHERE {{keep}} RETURN b\n"
            f"  }}\n"
            f"  WITH DISTINCT b LIMIT $limit")


# The whole neighbourhood in one statement (a round trip costs more than most of the work).
# Each hop keeps at most $limit distinct nodes: among them at most as many as were already
# taken can be old, so the new ones still fill what is left of the limit. The start is looked
# up by a seek: plans are cached, and one made while the database was empty would scan the
# id index.
_NEIGHBOURS = """
MATCH (s:Node {id: $id}) USING INDEX SEEK s:Node(id)
WHERE $place OR (s:Record AND NOT s.deleted AND s.visibility IN $scope)
CALL (s) {
  HOP_S
  RETURN collect(b) AS step1
}
WITH s, [b IN step1 WHERE b <> s][..$limit - 1] AS hop1
CALL (hop1) {
  WITH hop1 WHERE $depth >= 2 AND size(hop1) > 0 AND size(hop1) < $limit - 1
  HOP_1
  RETURN collect(b) AS step2
}
WITH s, hop1, [b IN step2 WHERE b <> s AND NOT b IN hop1][..$limit - 1 - size(hop1)] AS hop2
CALL (hop2, hop1) {
  WITH hop2, hop1 WHERE $depth >= 3 AND size(hop2) > 0 AND 1 + size(hop1) + size(hop2) < $limit
  HOP_2
  RETURN collect(b) AS step3
}
WITH [s] + hop1 + hop2
     + [b IN step3 WHERE b <> s AND NOT b IN hop1 AND NOT b IN hop2]
       [..$limit - 1 - size(hop1) - size(hop2)] AS members
WITH members, [n IN members | n.id] AS ids
CALL (members, ids) {
  UNWIND members AS a MATCH (a)-[e]->(b) WHERE b.id IN ids
  RETURN collect([a.id, type(e), b.id, EDGE_PROPS]) AS edges
}
RETURN [n IN members | [n.id, CASE WHEN n:Record AND NOT n.deleted THEN n.props END]] AS nodes,
       edges
""".replace("HOP_S", _hop("s")).replace("HOP_1", _hop("hop1")).replace("HOP_2", _hop("hop2"))
# an edge brings only the properties it can have
_PROPS = sorted({key for keys in EDGE_PROPS.values() for key in keys})
_PLACE_LABELS = {"country": "Country", "field": "Field"}


def _statement(all_scopes: bool, kinds: bool, countries: bool) -> str:
    # seeing every visibility: no property read; no filter: no predicate at all
    keep = " AND ".join(["true" if all_scopes else _VISIBLE]
                        + ([_KINDS] if kinds else []) + ([_COUNTRIES] if countries else []))
    return (_NEIGHBOURS.replace("{keep}", keep)
            .replace("EDGE_PROPS", ", ".join(f"e.{k}" for k in _PROPS)))


_STATEMENTS = {(a, k, c): _statement(a, k, c)
               for a in (False, True) for k in (False, True) for c in (False, True)}


def neighbours(tx, rid: str, depth: int, scope: frozenset[str], limit: int,
               kinds: tuple[str, ...] = (), countries: tuple[str, ...] = ()) -> Subgraph:
    """Run inside a read transaction ``tx``."""
    kinds, countries = check_neighbourhood(depth, limit, kinds, countries)
    vis = sorted(scope)
    if not isinstance(rid, str):
        raise errors.NotFound("No such record.")
    query = _STATEMENTS[set(vis) >= set(VISIBILITIES), bool(kinds), bool(countries)]
    labels = [LABELS.get(k) or _PLACE_LABELS[k] for k in kinds]
    members = tx.run(query, {"id": rid, "place": rid.startswith(("country:", "field:")),
                             "scope": vis, "depth": depth, "limit": limit, "labels": labels,
                             "countries": list(countries)}).single()
    if members is None:
        raise errors.NotFound("No such record.")  # stubs, tombstones, other scopes alike
    nodes = []
    for node_id, shown in members["nodes"]:
        label = label_of(node_id)
        if label in ("Country", "Field"):
            nodes.append(GraphNode(node_id, label, False, {"code": node_id.split(":", 1)[1]}))
        elif shown is None:
            nodes.append(GraphNode(node_id, label, True, {}))
        else:
            nodes.append(GraphNode(node_id, label, False, json.loads(shown)))
    edges, seen_edges = [], set()
    for src, typ, dst, *values in members["edges"]:
        key = (src, typ, dst)
        if key not in seen_edges:
            seen_edges.add(key)
            edges.append(GraphEdge(src, typ, dst, {k: v for k, v in zip(_PROPS, values)
                                                   if v is not None}))
    return Subgraph(nodes, edges)
