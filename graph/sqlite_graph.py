"""Graph reads on the SQLite store: breadth-first neighbourhoods.

A node is visible to a caller when it is a live record within the caller's scope, a stub
(no live record: never received, or a tombstone) or a Country/Field node. Invisible nodes
are neither returned nor traversed; every edge touches the record that owns it, so an
invisible record's edges disappear with it.

Filters narrow the walk the same way: a node whose kind is not asked for, or whose own
country (an institution's, an event's, a Country node's code) is not among the countries
asked for, is neither returned nor traversed. Nodes without a country of their own pass
the country filter. The start node is always returned and walked from.
"""
from __future__ import annotations

import json
import sqlite3

from jembatan.network import errors, vocab
from jembatan.network.ids import KINDS

from .projection import label_of, node_props
from .store import GraphEdge, GraphNode, Subgraph

MAX_NEIGHBOURS = 10_000
MAX_DEPTH = 3
#: what ``kinds`` may name: the record kinds and the two kinds of place nodes
NODE_KINDS = KINDS + ("country", "field")


def _visible(alias: str, scope: list[str]) -> str:
    marks = ",".join("?" * len(scope))
    return f"({alias}.id IS NULL OR {alias}.deleted = 1 OR {alias}.visibility IN ({marks}))"


def _problem(field: str, message: str, detail: str) -> errors.ValidationError:
    return errors.ValidationError(message, errors=[{"field": field, "detail": detail}])


def _codes(value, field: str, allowed, what: str) -> tuple[str, ...]:
    # a bare string is a sequence of characters, never what the caller meant
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list, set, frozenset)):
        raise _problem(field, f"Invalid {field}.", f"Must be a list of {what}.")
    for item in value:
        if not isinstance(item, str) or item not in allowed:
            raise _problem(field, f"Invalid {field}.", f"Each must be one of the {what}.")
    return tuple(sorted(set(value)))


def check_neighbourhood(depth, limit, kinds=(), countries=()) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Raise ValidationError naming the first bad argument; return (kinds, countries)
    sorted and without repeats."""
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
        raise _problem("depth", "Invalid depth.", f"Must be 1, 2 or {MAX_DEPTH}.")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_NEIGHBOURS:
        raise _problem("limit", "Invalid limit.", f"Must be an integer from 1 to {MAX_NEIGHBOURS}.")
    kinds = _codes(kinds, "kinds", NODE_KINDS, f"node kinds ({', '.join(NODE_KINDS)})")
    countries = _codes(countries, "countries", vocab.countries(),
                       "ISO 3166-1 alpha-2 country codes known to CLDR")
    return kinds, countries


def node_kind(node_id: str) -> str | None:
    """The kind of a node id ("institution" … "event", "country", "field"); None if it has none."""
    try:
        return label_of(node_id).lower()
    except (ValueError, KeyError):
        return None


def _step_query(vis: list[str], kinds: tuple[str, ...], countries: tuple[str, ...]) -> tuple[str, list]:
    """One hop from a frontier, both directions: (sql, parameters after each frontier).

    Records are filtered in SQL; for a node without a record (a stub never received, a
    Country or Field) the row carries its id and the filters are applied in Python."""
    where, params = [_visible("r", vis)], list(vis)
    if kinds:
        record_kinds = [k for k in kinds if k in KINDS]
        where.append(f"(r.id IS NULL OR r.kind IN ({','.join('?' * len(record_kinds))}))")
        params += record_kinds
    if countries:
        where.append("(r.id IS NULL OR r.deleted = 1 OR r.country IS NULL"
                     f" OR r.country IN ({','.join('?' * len(countries))}))")
        params += countries
    cond = " AND ".join(where)
    if kinds or countries:
        side = ("SELECT e.{0}, CASE WHEN r.id IS NULL THEN (SELECT id FROM nodes WHERE nid = e.{0}) END"
                " FROM edges e LEFT JOIN records r ON r.id = e.{0}"
                " WHERE e.{1} IN (SELECT value FROM json_each(?)) AND {2}")
    else:
        side = ("SELECT e.{0}, NULL FROM edges e LEFT JOIN records r ON r.id = e.{0}"
                " WHERE e.{1} IN (SELECT value FROM json_each(?)) AND {2}")
    return side.format("dst", "src", cond) + " UNION ALL " + side.format("src", "dst", cond), params


def _passes(node_id: str | None, kinds: tuple[str, ...], countries: tuple[str, ...]) -> bool:
    """The filters on a node without a record (``node_id``; None: a record, already filtered)."""
    if node_id is None:
        return True
    if kinds and node_kind(node_id) not in kinds:
        return False
    if countries and node_id.startswith("country:") and node_id[8:] not in countries:
        return False
    return True


def neighbours(conn: sqlite3.Connection, rid: str, depth: int, scope: frozenset[str],
               limit: int, kinds: tuple[str, ...] = (), countries: tuple[str, ...] = ()) -> Subgraph:
    kinds, countries = check_neighbourhood(depth, limit, kinds, countries)
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
    step, params = _step_query(vis, kinds, countries)
    for _ in range(depth):
        if len(order) >= limit or not frontier:
            break
        ids = json.dumps(frontier)
        cur = conn.execute(step, (ids, *params, ids, *params))
        found: list[int] = []
        try:
            # streamed: a hub (a country, a large institution) stops being read at the limit
            for nid, node_id in cur:
                if nid not in seen:
                    seen.add(nid)   # a node filtered out stays out, however it is reached
                    if not _passes(node_id, kinds, countries):
                        continue
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
