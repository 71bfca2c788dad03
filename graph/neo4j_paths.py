"""Partnership paths on the Neo4j store (``Store.paths``; the rules are in ``path_rules``).

The search is ``paths_search``'s, the SQLite store's too, so both stores give the same
answers; it reads the graph through ``neo4j_paths_graph``, and every read is a Cypher
statement in the caller's read transaction. It is not one ``SHORTEST k GROUPS`` statement:
between two hubs (institutions with tens of thousands of agreements) millions of paths tie
for the shortest length, a group holds every one of them, and the statement runs out of the
server's transaction memory (``MemoryPoolOutOfMemoryError``) on an alliance of 10^6
agreements, where this search reads a few batches of nodes.
"""
from __future__ import annotations

from jembatan.network import errors

from .neo4j_paths_graph import NeoPartyGraph
from .path_rules import check_paths
from .paths_search import search


def paths(tx, src: str, dst: str, k: int, scope: frozenset[str], max_hops: int) -> list[list[str]]:
    """Run inside a read transaction ``tx``."""
    check_paths(src, dst, k, max_hops)
    graph = NeoPartyGraph(tx, scope)
    seen = graph.ends([src, dst])
    for rid, name in ((src, "src"), (dst, "dst")):
        if not seen.get(rid):
            raise errors.NotFound(f"No such institution ({name}).")   # stubs, other scopes alike
    try:
        return search(graph, src, dst, k, 2 * max_hops)
    finally:
        graph.close()
