"""Graph reads on the SQLite store: breadth-first neighbourhoods.

A node is visible to a caller when it is a live record within the caller's scope, a stub
(no live record: never received, or a tombstone) or a Country/Field node. Invisible nodes
are neither returned nor traversed; every edge touches the record that owns it, so an
invisible record's edges disappear with it.
"""
from __future__ import annotations

import json
import sqlite3

from jembatan.network import errors

from .projection import label_of, node_props
from .store import GraphEdge, GraphNode, Subgraph

MAX_NEIGHBOURS = 10_000


def _visible(alias: str, scope: list[str]) -> str:
    marks = ",".join("?" * len(scope))
    return f"({alias}.id IS NULL OR {alias}.deleted = 1 OR {alias}.visibility IN ({marks}))"


def _check(depth, limit) -> None:
    if depth not in (1, 2) or isinstance(depth, bool):
        raise errors.ValidationError("Invalid depth.", errors=[{"field": "depth", "detail": "Must be 1 or 2."}])
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_NEIGHBOURS:
        raise errors.ValidationError("Invalid limit.", errors=[
            {"field": "limit", "detail": f"Must be an integer from 1 to {MAX_NEIGHBOURS}."}])


def neighbours(conn: sqlite3.Connection, rid: str, depth: int, scope: frozenset[str],
               limit: int) -> Subgraph:
    _check(depth, limit)
    vis = sorted(scope)
    row = conn.execute("SELECT n.nid, r.deleted, r.visibility FROM nodes n"
                       " LEFT JOIN records r ON r.id = n.nid WHERE n.id = ?", (rid,)).fetchone()
    if row is None:
        raise errors.NotFound("No such record.")
    start, deleted, visibility = row
    is_place = isinstance(rid, str) and rid.startswith(("country:", "field:"))
    if not is_place and (deleted is None or deleted or visibility not in scope):
        raise errors.NotFound("No such record.")  # stubs, tombstones, other scopes alike

    order, seen, frontier = [start], {start}, [start]
    step = (
        "SELECT e.dst FROM edges e LEFT JOIN records r ON r.id = e.dst"
        f" WHERE e.src IN (SELECT value FROM json_each(?)) AND {_visible('r', vis)}"
        " UNION ALL "
        "SELECT e.src FROM edges e LEFT JOIN records r ON r.id = e.src"
        f" WHERE e.dst IN (SELECT value FROM json_each(?)) AND {_visible('r', vis)}")
    for _ in range(depth):
        if len(order) >= limit or not frontier:
            break
        ids = json.dumps(frontier)
        cur = conn.execute(step, (ids, *vis, ids, *vis))
        found: list[int] = []
        try:
            # streamed: a hub (a country, a large institution) stops being read at the limit
            for (nid,) in cur:
                if nid not in seen:
                    seen.add(nid)
                    order.append(nid)
                    found.append(nid)
                    if len(order) >= limit:
                        break
        finally:
            cur.close()
        frontier = found

    members = json.dumps(order)
    info = {nid: (node_id, dead, env) for nid, node_id, dead, env in conn.execute(
        "SELECT n.nid, n.id, r.deleted, r.envelope FROM nodes n LEFT JOIN records r ON r.id = n.nid"
        " WHERE n.nid IN (SELECT value FROM json_each(?))", (members,))}
    nodes = []
    for nid in order:
        node_id, dead, env = info[nid]
        label = label_of(node_id)
        if label in ("Country", "Field"):
            nodes.append(GraphNode(node_id, label, False, {"code": node_id.split(":", 1)[1]}))
        elif dead is None or dead:
            nodes.append(GraphNode(node_id, label, True, {}))
        else:
            nodes.append(GraphNode(node_id, label, False, node_props(json.loads(env))))
    edges, seen_edges = [], set()
    for src, typ, dst, props in conn.execute(
            "SELECT src, type, dst, props FROM edges WHERE src IN (SELECT value FROM json_each(?))"
            " AND dst IN (SELECT value FROM json_each(?))", (members, members)):
        if (src, typ, dst) not in seen_edges:
            seen_edges.add((src, typ, dst))
            edges.append(GraphEdge(info[src][0], typ, info[dst][0], json.loads(props) if props else {}))
    return Subgraph(nodes, edges)
