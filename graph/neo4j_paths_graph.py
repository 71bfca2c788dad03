"""The partnership graph on the Neo4j store as ``paths_search`` reads it (``PathGraph``):
PARTY_TO adjacency, visibility and degrees, in Cypher, inside the caller's read transaction.

Nodes are keyed by their rids, so the id order of candidates is the order of the keys and
costs no read. Every read is one statement for a whole batch of nodes (``UNWIND $ids``, each
looked up through the id index by a seek, as plans are cached and one made while the
database was empty would scan it): a statement is a round trip, costing more than most of
the work it does, so each one brings what the next steps are known to need:

* an institution's agreements come as one list, sorted by the server (walks take them in
  id order), and whether the institution itself is visible;
* an agreement's parties come with their visibility and their number of agreements (a party
  is the next candidate of a walk, and the next level of the search is priced by that
  number), and whether the agreement itself is visible;
* the ends are looked up with their number of agreements, and their agreements unless
  they have many.

Like the SQLite store's, the adjacency is every PARTY_TO edge whatever its ends' visibility
(an agreement owns its edges, but may lie outside the scope; a party may be a stub, a
tombstone or outside the scope): the search checks the visibility of the nodes it steps on.
"""
from __future__ import annotations

from .path_graph import IdOrder, Sorted

_SEEK = "UNWIND $ids AS x MATCH (n:Node {id: x}) USING INDEX SEEK n:Node(id) "
_VISIBLE = "({0}:Record AND NOT {0}.deleted AND {0}.visibility IN $scope)"
_AGREEMENTS = (_SEEK + "RETURN x, " + _VISIBLE.format("n") + ","
               " COLLECT { MATCH (n)-[:PARTY_TO]->(a) RETURN a.id AS a ORDER BY a }")
# the parties as parallel lists: the driver decodes each value in Python, lists of lists cost more
_PARTIES = (_SEEK + "WITH x, n, " + _VISIBLE.format("n") + " AS seen,"
            " COLLECT { MATCH (i)-[:PARTY_TO]->(n) RETURN i } AS parties"
            " RETURN x, seen, [i IN parties | i.id],"
            " [i IN parties | " + _VISIBLE.format("i") + "],"
            " [i IN parties | COUNT { (i)-[:PARTY_TO]->() }]")
_DEGREES = _SEEK + "RETURN x, COUNT { (n)-[:PARTY_TO]->() }"
_VISIBILITY = _SEEK + "RETURN x, " + _VISIBLE.format("n")
# the ends: institutions with a live record within the scope (stubs carry the label too),
# with their agreements unless they have many (the search reads those of at least one end)
_ENDS = (_SEEK + "WITH x, n, n:Institution AND " + _VISIBLE.format("n") + " AS ok,"
         " COUNT { (n)-[:PARTY_TO]->() } AS degree"
         " CALL (n, ok, degree) { WITH n WHERE ok AND degree <= $most"
         " MATCH (n)-[:PARTY_TO]->(a) WITH a.id AS a ORDER BY a RETURN collect(a) AS agreements }"
         " RETURN x, ok, degree, agreements")
#: the most agreements an end may have to be read with it
END_LIST = 500


class NeoPartyGraph:
    """What one search has read of the PARTY_TO graph (institutions ↔ agreements), keyed
    by rid; ``tx`` is a read transaction."""

    def __init__(self, tx, scope: frozenset[str]):
        self.tx = tx
        self.scope = sorted(scope)
        self.adj: dict[str, list[str]] = {}
        self.visible: dict[str, bool] = {}
        self.degree: dict[str, int] = {}

    def _run(self, cypher: str, ids: list[str], **params) -> list[list]:
        return self.tx.run(cypher, {"ids": ids, "scope": self.scope, **params}).values()

    def ends(self, rids: list[str]) -> dict[str, bool]:
        """Whether each rid is a visible institution (its agreements read unless many)."""
        seen = {}
        for rid, ok, degree, agreements in self._run(_ENDS, rids, most=END_LIST):
            seen[rid] = ok
            if ok:
                self.visible[rid], self.degree[rid] = True, degree
                if degree <= END_LIST:
                    self.adj[rid] = agreements
        return seen

    def load(self, nids: list[str], institutions: bool) -> None:
        todo = [n for n in nids if n not in self.adj]
        if not todo:
            return
        adj, visible = self.adj, self.visible
        if institutions:
            for n, seen, agreements in self._run(_AGREEMENTS, todo):
                adj[n], visible[n], self.degree[n] = agreements, seen, len(agreements)
        else:
            degree = self.degree
            for n, seen, parties, shown, degrees in self._run(_PARTIES, todo):
                adj[n], visible[n] = parties, seen
                visible.update(zip(parties, shown))
                degree.update(zip(parties, degrees))
        for n in todo:          # an unknown rid (none is expected): no neighbours, not visible
            if n not in adj:
                adj[n], visible[n] = [], False

    def neighbours(self, nid: str, institution: bool) -> list[str]:
        if nid not in self.adj:
            self.load([nid], institution)
        return self.adj[nid]

    def degree_sum(self, institutions: list[str], cap: int) -> int:
        degree = self.degree
        todo = [n for n in institutions if n not in degree]
        if todo:
            found = dict(self._run(_DEGREES, todo))
            for n in todo:
                degree[n] = found.get(n, 0)
        return min(sum(degree[n] for n in institutions), cap)

    def check_visible(self, nids: list[str]) -> None:
        todo = [n for n in nids if n not in self.visible]
        if todo:
            found = dict(self._run(_VISIBILITY, todo))
            for n in todo:
                self.visible[n] = bool(found.get(n))

    def in_id_order(self, nids: list[str]) -> IdOrder:
        return Sorted(sorted(nids))    # mostly sorted already: the lists come sorted

    def agreements_in_id_order(self, institution: str) -> IdOrder:
        return Sorted(self.neighbours(institution, True))

    def close(self) -> None:
        """Nothing is held open: each statement's result is read whole."""
