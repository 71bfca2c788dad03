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
from .projection import label_of, node_props
from .sqlite_graph import _check
from .store import GraphEdge, GraphNode, Subgraph

_VISIBLE = "(NOT b:Record OR b.deleted OR b.visibility IN $scope)"
# One hop from the frontier, outgoing edges first (the SQLite store's order). DISTINCT and
# LIMIT bound the rows a hub (a country, a large institution) sends: at most ``$n``
# distinct ids, of which no more than the already-seen ones can be old.
_STEP = """
CALL () {{
  UNWIND $ids AS id MATCH (:Node {{id: id}})-->(b) WHERE {visible} RETURN b.id AS id
  UNION ALL
  UNWIND $ids AS id MATCH (:Node {{id: id}})<--(b) WHERE {visible} RETURN b.id AS id
}}
WITH DISTINCT id LIMIT $n
RETURN collect(id) AS ids
"""
# a caller who may see every visibility sees every node: no property read per neighbour
_STEP_SCOPED, _STEP_ALL = _STEP.format(visible=_VISIBLE), _STEP.format(visible="true")
_START = ("MATCH (n:Node {id: $id}) RETURN n:Record AS rec, n.deleted AS deleted,"
          " n.visibility AS visibility")
# The members' display data and the edges among them, as one row of two lists (the driver
# pays per row, more than per value); an edge brings only the properties it can have.
_PROPS = sorted({key for keys in EDGE_PROPS.values() for key in keys})
_MEMBERS = f"""
UNWIND $ids AS id MATCH (n:Node {{id: id}})
WITH collect(n) AS members,
     collect([id, CASE WHEN n:Record AND NOT n.deleted THEN n.envelope END]) AS nodes
CALL (members) {{
  UNWIND members AS a MATCH (a)-[e]->(b) WHERE b.id IN $ids
  RETURN collect([a.id, type(e), b.id, {", ".join(f"e.{key}" for key in _PROPS)}]) AS edges
}}
RETURN nodes, edges
"""


def neighbours(tx, rid: str, depth: int, scope: frozenset[str], limit: int) -> Subgraph:
    """Run inside a read transaction ``tx``."""
    _check(depth, limit)
    vis = sorted(scope)
    if not isinstance(rid, str):
        raise errors.NotFound("No such record.")
    row = tx.run(_START, {"id": rid}).single()
    if row is None:
        raise errors.NotFound("No such record.")
    is_place = rid.startswith(("country:", "field:"))
    if not is_place and (not row["rec"] or row["deleted"] or row["visibility"] not in scope):
        raise errors.NotFound("No such record.")  # stubs, tombstones, other scopes alike

    order, seen, frontier = [rid], {rid}, [rid]
    for _ in range(depth):
        if len(order) >= limit or not frontier:
            break
        found: list[str] = []
        want = limit - len(order) + len(seen)
        step = _STEP_ALL if set(vis) >= set(VISIBILITIES) else _STEP_SCOPED
        for node_id in tx.run(step, {"ids": frontier, "scope": vis, "n": want}).single()["ids"]:
            if node_id not in seen:
                seen.add(node_id)
                order.append(node_id)
                found.append(node_id)
                if len(order) >= limit:
                    break
        frontier = found

    members = tx.run(_MEMBERS, {"ids": order}).single()
    envelopes = dict(members["nodes"])     # a live record's envelope; None: a stub or a place
    nodes = []
    for node_id in order:
        env = envelopes[node_id]
        label = label_of(node_id)
        if label in ("Country", "Field"):
            nodes.append(GraphNode(node_id, label, False, {"code": node_id.split(":", 1)[1]}))
        elif env is None:
            nodes.append(GraphNode(node_id, label, True, {}))
        else:
            nodes.append(GraphNode(node_id, label, False, node_props(json.loads(env))))
    edges, seen_edges = [], set()
    for src, typ, dst, *values in members["edges"]:
        key = (src, typ, dst)
        if key not in seen_edges:
            seen_edges.add(key)
            edges.append(GraphEdge(src, typ, dst, {k: v for k, v in zip(_PROPS, values)
                                                   if v is not None}))
    return Subgraph(nodes, edges)
