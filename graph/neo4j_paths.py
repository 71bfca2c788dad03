"""Partnership paths on the Neo4j store (``Store.paths``; the rules are in ``path_rules``).

One statement finds both ends and the paths between them with Cypher's ``SHORTEST k
GROUPS``: every path of the k shortest lengths, through live records within the caller's
scope along PARTY_TO edges. Cypher's paths may repeat a node (only relationships must
differ), so the statement drops those, orders the rest by length and ids, and returns the
first k; a path of each length exists, so k groups hold at least k paths unless some lengths
only have paths that repeat a node — then one more statement asks for every length up to
``max_hops``. At most ``PATH_ROWS`` paths are read per statement: Neo4j yields them
shortest first, so only ties of the longest length read can be cut, and then which of them
are returned may differ from the SQLite store's (which finds the first in id order exactly).
"""
from __future__ import annotations

from jembatan.network import errors

from .path_rules import PATH_ROWS, check_paths, sort_key

_END = ("OPTIONAL MATCH ({0}:Node {{id: ${0}}}) USING INDEX SEEK {0}:Node(id)"
        " WHERE {0}:Institution AND {0}:Record AND NOT {0}.deleted AND {0}.visibility IN $scope")
# The group count and the hop bound cannot be parameters in Cypher 5; both are integers
# the caller's arguments were checked to be.
_PATHS = _END.format("src") + "\n" + _END.format("dst") + """
CALL (src, dst) {
  WITH src, dst WHERE src IS NOT NULL AND dst IS NOT NULL
  MATCH p = SHORTEST GROUP_COUNT GROUPS (src)
            (()-[:PARTY_TO]-(x:Record WHERE NOT x.deleted AND x.visibility IN $scope)){2,EDGE_COUNT}
            (dst)
  WITH p LIMIT $rows
  WITH [n IN nodes(p) | n.id] AS ids
  WITH ids, all(i IN range(0, size(ids) - 2) WHERE NOT ids[i] IN ids[i + 1..]) AS simple
  ORDER BY size(ids), ids
  RETURN count(*) AS read, count(DISTINCT size(ids)) AS lengths,
         collect(CASE WHEN simple THEN ids END)[..$k] AS best
}
RETURN src IS NOT NULL AS src_found, dst IS NOT NULL AS dst_found, read, lengths, best
"""


def _statement(groups: int, max_hops: int) -> str:
    return _PATHS.replace("GROUP_COUNT", str(int(groups))).replace("EDGE_COUNT", str(2 * int(max_hops)))


def paths(tx, src: str, dst: str, k: int, scope: frozenset[str], max_hops: int) -> list[list[str]]:
    """Run inside a read transaction ``tx``."""
    check_paths(src, dst, k, max_hops)
    params = {"src": src, "dst": dst, "scope": sorted(scope), "rows": PATH_ROWS, "k": k}
    groups = min(k, max_hops)
    while True:
        row = tx.run(_statement(groups, max_hops), params).single()
        if not row["src_found"]:
            raise errors.NotFound("No such institution (src).")   # stubs, other scopes alike
        if not row["dst_found"]:
            raise errors.NotFound("No such institution (dst).")
        best = sorted((list(ids) for ids in row["best"]), key=sort_key)
        # fewer than k, yet as many lengths as asked for: longer ones may hold more
        if (len(best) >= k or row["read"] >= PATH_ROWS or row["lengths"] < groups
                or groups >= max_hops):
            return best[:k]
        groups = max_hops
