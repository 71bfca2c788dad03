"""Partnership paths on the SQLite store (``Store.paths``; the rules are in ``path_rules``).

The ends are looked up here; the search is ``paths_search``'s, over the PARTY_TO graph as
``sqlite_paths_graph`` reads it (nodes keyed by their number in ``nodes``, ids read only
for the candidates of a walk's steps).
"""
from __future__ import annotations

import sqlite3

from jembatan.network import errors

from .path_rules import check_paths
from .paths_search import search
from .sqlite_paths_graph import PartyGraph


def _institution(conn: sqlite3.Connection, rid: str, scope: frozenset[str], name: str) -> int:
    row = conn.execute("SELECT n.nid, r.kind, r.deleted, r.visibility FROM nodes n"
                       " JOIN records r ON r.id = n.nid WHERE n.id = ?", (rid,)).fetchone()
    if row is None or row[1] != "institution" or row[2] or row[3] not in scope:
        raise errors.NotFound(f"No such institution ({name}).")   # stubs, other scopes alike
    return row[0]


def paths(conn: sqlite3.Connection, src: str, dst: str, k: int, scope: frozenset[str],
          max_hops: int) -> list[list[str]]:
    check_paths(src, dst, k, max_hops)
    s, t = _institution(conn, src, scope, "src"), _institution(conn, dst, scope, "dst")
    graph = PartyGraph(conn, scope)
    graph.ids[s], graph.ids[t] = src, dst
    graph.visible[s] = graph.visible[t] = True
    try:
        found = search(graph, s, t, k, 2 * max_hops)
    finally:
        graph.close()
    return [[graph.ids[n] for n in path] for path in found]
