"""The partnership graph on the SQLite store as ``paths_search`` reads it (``PathGraph``):
PARTY_TO adjacency, visibility and ids, each read once per search and only for the nodes
that need it.

Adjacency is read raw, from the edges' primary key (institution → its agreements) and
``edges_dst`` (agreement → its parties) alone, one JSON array per node, without looking at
``records`` or ``nodes``: a join per edge costs ~10 times the edge itself, and a hub has tens
of thousands of agreements. A PARTY_TO edge only exists while its agreement is live (the
agreement owns it), but the agreement may be outside the scope and the institution may be a
stub, a tombstone or outside the scope, so distances over this graph are lower bounds of the
visible ones; the walks check the visibility of the nodes they actually step on.

Ids (for the order of paths) are read for the candidates of a step only: a few are sorted in
Python, many are read through the ``nodes`` id index in order and only as far as needed.
"""
from __future__ import annotations

import json
import sqlite3

from .path_graph import IdOrder, Sorted

_CHUNK = 5000
#: candidates sorted in Python up to this many; more are read in id order through the index
SORT_MAX = 3000
#: an institution with more agreements than this is a hub: its agreements are first found by
#: walking the id index and probing the edges (no list to read), ...
HUB = 10_000
#: ... and after this many through its list, read then (a probe tests every id of the index)
PROBED_MAX = 256

_AGREEMENTS = ("SELECT j.value, (SELECT json_group_array(e.dst) FROM edges e"
               " WHERE e.src = j.value AND e.type = 'PARTY_TO') FROM json_each(?) j")
_PARTIES = ("SELECT j.value, (SELECT json_group_array(e.src) FROM edges e"
            " WHERE e.dst = j.value AND e.type = 'PARTY_TO') FROM json_each(?) j")
# the number of agreements of a set of institutions, counted up to a cap (a hub's count
# alone reads its whole index range)
_DEGREES = ("SELECT count(*) FROM (SELECT 1 FROM edges e WHERE e.src IN"
            " (SELECT value FROM json_each(?)) AND e.type = 'PARTY_TO' LIMIT ?)")
_VISIBLE = ("SELECT id FROM records WHERE id IN (SELECT value FROM json_each(?))"
            " AND deleted = 0 AND visibility IN ({marks})")
_IDS = "SELECT nid, id FROM nodes WHERE nid IN (SELECT value FROM json_each(?))"
# the unary + keeps SQLite from looking the set up by rowid: it walks the id index in order
# and tests each entry against the set, so the first rows come without sorting them all
_IN_ID_ORDER = ("SELECT n.nid, n.id FROM nodes n WHERE n.id > ?"
                " AND +n.nid IN (SELECT value FROM json_each(?)) ORDER BY n.id")
_AGREEMENTS_IN_ID_ORDER = ("SELECT n.nid, n.id FROM nodes n WHERE n.id > ? AND EXISTS"
                           " (SELECT 1 FROM edges e WHERE e.src = ? AND e.type = 'PARTY_TO'"
                           " AND e.dst = n.nid) ORDER BY n.id")


class PartyGraph:
    """What one search has read of the PARTY_TO graph (institutions ↔ agreements)."""

    def __init__(self, conn: sqlite3.Connection, scope: frozenset[str]):
        self.conn = conn
        vis = sorted(scope)
        self._vis_args = vis
        self._visible_sql = _VISIBLE.format(marks=",".join("?" * len(vis)))
        self.adj: dict[int, list[int]] = {}
        self.visible: dict[int, bool] = {}
        self.ids: dict[int, str] = {}
        self._cursors: list[sqlite3.Cursor] = []

    def load(self, nids: list[int], institutions: bool) -> None:
        """Read the neighbours of the nodes not read yet: agreements of institutions, or
        parties of agreements."""
        todo = [n for n in nids if n not in self.adj]
        sql = _AGREEMENTS if institutions else _PARTIES
        loads = json.loads
        for i in range(0, len(todo), _CHUNK):
            for n, array in self.conn.execute(sql, (json.dumps(todo[i:i + _CHUNK]),)):
                self.adj[n] = loads(array)

    def neighbours(self, nid: int, institution: bool) -> list[int]:
        if nid not in self.adj:
            self.load([nid], institution)
        return self.adj[nid]

    def degree_sum(self, institutions: list[int], cap: int) -> int:
        """The number of agreements of the institutions, or ``cap`` if it is more."""
        total = sum(len(self.adj[n]) for n in institutions if n in self.adj)
        todo = [n for n in institutions if n not in self.adj]
        if todo and total < cap:
            total += self.conn.execute(_DEGREES, (json.dumps(todo), cap - total)).fetchone()[0]
        return min(total, cap)

    def check_visible(self, nids: list[int]) -> None:
        """Learn whether each node is a live record within the scope (stubs are not)."""
        todo = [n for n in nids if n not in self.visible]
        for i in range(0, len(todo), _CHUNK):
            part = todo[i:i + _CHUNK]
            seen = {n for (n,) in self.conn.execute(
                self._visible_sql, (json.dumps(part), *self._vis_args))}
            for n in part:
                self.visible[n] = n in seen

    def fetch_ids(self, nids: list[int]) -> None:
        todo = [n for n in nids if n not in self.ids]
        for i in range(0, len(todo), _CHUNK):
            self.ids.update(self.conn.execute(_IDS, (json.dumps(todo[i:i + _CHUNK]),)))

    def in_id_order(self, nids: list[int]) -> IdOrder:
        """A few nodes sorted here, their ids read at once; many through the id index."""
        if len(nids) <= SORT_MAX:
            self.fetch_ids(nids)
            return Sorted(sorted(nids, key=self.ids.__getitem__))
        return _Rows(self, self._in_id_order(nids))

    def agreements_in_id_order(self, institution: int) -> IdOrder:
        """Every agreement of an institution (a hub's without reading its list first)."""
        if institution in self.adj or self.degree_sum([institution], HUB + 1) <= HUB:
            return self.in_id_order(self.neighbours(institution, True))
        return _Rows(self, self._open(_AGREEMENTS_IN_ID_ORDER, ("", institution)), institution)

    def _in_id_order(self, nids: list[int], after: str = "") -> sqlite3.Cursor:
        """A cursor over (nid, id) of the nodes with an id past ``after``, in id order, read
        as far as it is fetched."""
        return self._open(_IN_ID_ORDER, (after, json.dumps(nids)))

    def _open(self, sql: str, args: tuple) -> sqlite3.Cursor:
        cur = self.conn.execute(sql, args)
        self._cursors.append(cur)
        return cur

    def close(self) -> None:
        for cur in self._cursors:
            cur.close()
        self._cursors.clear()


class _Rows:
    """Nodes in id order from a cursor over (nid, id) rows, their ids kept. A hub's cursor
    probes the edges for each id of the index; after ``PROBED_MAX`` rows its list is read and
    the rest come through the index as for any set."""

    def __init__(self, graph: PartyGraph, cursor: sqlite3.Cursor, hub: int | None = None):
        self.graph, self._cursor, self._hub, self._probed = graph, cursor, hub, 0

    def take(self, n: int) -> list[int]:
        rows = self._cursor.fetchmany(n)
        g = self.graph
        g.ids.update(rows)
        if self._hub is not None and rows:
            self._probed += len(rows)
            if self._probed >= PROBED_MAX:
                hub, self._hub = self._hub, None
                self._cursor = g._in_id_order(g.neighbours(hub, True), after=rows[-1][1])
        return [nid for nid, _ in rows]
