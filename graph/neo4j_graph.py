"""Graph reads on the Neo4j store: breadth-first neighbourhoods, with the SQLite store's rules.

A node is visible to a caller when it is a live record within the caller's scope, a stub
(no live record: never received, or a tombstone) or a Country/Field node. Invisible nodes
are neither returned nor traversed; every edge touches the record that owns it, so an
invisible record's edges disappear with it. All reads of one traversal run in one read
transaction.
"""
from __future__ import annotations

import json

from jembatan.network import errors
from jembatan.network.vocab import VISIBILITIES

from .neo4j_schema import EDGE_PROPS
from .projection import label_of
from .sqlite_graph import _check
from .store import GraphEdge, GraphNode, Subgraph

_VISIBLE = "(NOT b:Record OR b.deleted OR b.visibility IN $scope)"
# The whole neighbourhood in one statement (a round trip costs more than most of the work).
# Each hop follows outgoing edges first (the SQLite store's order); DISTINCT and LIMIT bound
# the rows a hub (a country, a large institution) sends. The start is looked up by a seek:
# plans are cached, and one made while the database was empty would scan the id index.
_NEIGHBOURS = """
MATCH (s:Node {{id: $id}}) USING INDEX SEEK s:Node(id)
WHERE $place OR (s:Record AND NOT s.deleted AND s.visibility IN $scope)
CALL (s) {{
  CALL (s) {{
    MATCH (s)-->(b) WHERE {visible} RETURN b
    UNION ALL
    MATCH (s)<--(b) WHERE {visible} RETURN b
  }}
  WITH DISTINCT b LIMIT $limit
  RETURN collect(b) AS step1
}}
WITH s, [b IN step1 WHERE b <> s][..$limit - 1] AS hop1
CALL (hop1) {{
  WITH hop1 WHERE $depth = 2 AND size(hop1) < $limit - 1
  CALL (hop1) {{
    UNWIND hop1 AS a MATCH (a)-->(b) WHERE {visible} RETURN b
    UNION ALL
    UNWIND hop1 AS a MATCH (a)<--(b) WHERE {visible} RETURN b
  }}
  WITH DISTINCT b LIMIT $limit
  RETURN collect(b) AS step2
}}
WITH [s] + hop1 + [b IN step2 WHERE b <> s AND NOT b IN hop1][..$limit - 1 - size(hop1)] AS members
WITH members, [n IN members | n.id] AS ids
CALL (members, ids) {{
  UNWIND members AS a MATCH (a)-[e]->(b) WHERE b.id IN ids
  RETURN collect([a.id, type(e), b.id, {edge_props}]) AS edges
}}
RETURN [n IN members | [n.id, CASE WHEN n:Record AND NOT n.deleted THEN n.props END]] AS nodes,
       edges
"""
# an edge brings only the properties it can have
_PROPS = sorted({key for keys in EDGE_PROPS.values() for key in keys})
_SCOPED, _ALL = (_NEIGHBOURS.format(visible=visible, edge_props=", ".join(f"e.{k}" for k in _PROPS))
                 for visible in (_VISIBLE, "true"))   # seeing every visibility: no property read


def neighbours(tx, rid: str, depth: int, scope: frozenset[str], limit: int) -> Subgraph:
    """Run inside a read transaction ``tx``."""
    _check(depth, limit)
    vis = sorted(scope)
    if not isinstance(rid, str):
        raise errors.NotFound("No such record.")
    query = _ALL if set(vis) >= set(VISIBILITIES) else _SCOPED
    members = tx.run(query, {"id": rid, "place": rid.startswith(("country:", "field:")),
                             "scope": vis, "depth": depth, "limit": limit}).single()
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
