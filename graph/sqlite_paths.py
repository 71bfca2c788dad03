"""Partnership paths on the SQLite store (``Store.paths``; the rules are in ``path_rules``).

The graph walked is institutions and agreements joined by PARTY_TO edges, both directions,
through live records within the caller's scope only. Two phases:

1. a bidirectional breadth-first search, level by level from whichever side has the smaller
   frontier, finds the length ``d`` of the shortest path and leaves exact distances from
   ``src`` (``fd``) and to ``dst`` (``bd``) within the radii searched;
2. a depth-first walk from ``src`` that tries neighbours in id order, so the paths of one
   length come out already in the result order; it stops after ``k`` paths. The distances
   prune it: for the shortest length every node must lie on a shortest path (known exactly
   from both searches), for longer ones a node must still be able to reach ``dst`` in the
   steps left (``bd``, a lower bound past the radius searched).

Positions and distances count edges: an institution sits at an even one, an agreement at an
odd one. Neighbours are read a frontier at a time (``json_each``) through the edges' primary
key (institution → agreement) and ``edges_dst`` (agreement → parties), and kept for the
rest of the search.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Callable

from jembatan.network import errors

from .path_rules import PATH_ROWS, check_paths

#: the most nodes the search to ``dst`` grows to for longer paths (past it the bound is looser)
BALL_NODES = 50_000
#: the most neighbours the depth-first walk looks at: past it, the paths found so far are
#: the answer (each of them in its right place, but fewer than asked or missing longer ones)
WALK_STEPS = 50 * PATH_ROWS
_CHUNK = 5000
_FAR = 1 << 30

# (from, to, to's id) for a frontier of institutions (their agreements) or of agreements
# (their parties); only live records within the scope are reached
_NEXT = {
    True: "SELECT e.src, e.dst, n.id FROM edges e JOIN records r ON r.id = e.dst"
          " JOIN nodes n ON n.nid = e.dst WHERE e.src IN (SELECT value FROM json_each(?))"
          " AND e.type = 'PARTY_TO' AND r.deleted = 0 AND r.visibility IN ({marks})",
    False: "SELECT e.dst, e.src, n.id FROM edges e JOIN records r ON r.id = e.src"
           " JOIN nodes n ON n.nid = e.src WHERE e.dst IN (SELECT value FROM json_each(?))"
           " AND e.type = 'PARTY_TO' AND r.deleted = 0 AND r.visibility IN ({marks})",
}


class _Partners:
    """The visible PARTY_TO neighbours of the nodes asked for, read once and kept."""

    def __init__(self, conn: sqlite3.Connection, scope: frozenset[str]):
        self.conn, self.vis = conn, sorted(scope)
        self.sql = {inst: sql.format(marks=",".join("?" * len(self.vis)))
                    for inst, sql in _NEXT.items()}
        self.adj: dict[int, list[int]] = {}
        self.ids: dict[int, str] = {}
        self._sorted: set[int] = set()

    def load(self, nids: list[int], institutions: bool) -> None:
        todo = [n for n in nids if n not in self.adj]
        for n in todo:
            self.adj[n] = []
        for i in range(0, len(todo), _CHUNK):
            for frm, to, to_id in self.conn.execute(
                    self.sql[institutions], (json.dumps(todo[i:i + _CHUNK]), *self.vis)):
                self.adj[frm].append(to)
                self.ids[to] = to_id

    def ordered(self, nid: int, institution: bool) -> list[int]:
        """The neighbours of ``nid`` in id order."""
        if nid not in self.adj:
            self.load([nid], institution)
        if nid not in self._sorted:
            self.adj[nid].sort(key=self.ids.__getitem__)
            self._sorted.add(nid)
        return self.adj[nid]


class _Ball:
    """One side of the bidirectional search: exact distances within ``radius``."""

    def __init__(self, start: int):
        self.dist = {start: 0}
        self.levels = [[start]]
        self.radius = 0
        self.exhausted = False   # every node reachable from the start is in ``dist``

    @property
    def frontier(self) -> list[int]:
        return self.levels[-1]

    def grow(self, graph: _Partners, other: dict[int, int] | None = None) -> int | None:
        """Add the next level; the shortest start-to-start length through a node of it
        that ``other`` has reached, if any."""
        frontier = self.frontier
        graph.load(frontier, institutions=self.radius % 2 == 0)
        level, dist, met = self.radius + 1, self.dist, None
        nxt = []
        for x in frontier:
            for y in graph.adj[x]:
                if y not in dist:
                    dist[y] = level
                    nxt.append(y)
                    if other is not None and y in other:
                        length = level + other[y]
                        met = length if met is None else min(met, length)
        self.levels.append(nxt)
        self.radius = level
        self.exhausted = not nxt
        return met

    def bound(self, nid: int) -> int:
        """A lower bound of the distance from ``nid`` to the start."""
        if nid in self.dist:
            return self.dist[nid]
        return _FAR if self.exhausted else self.radius + 1


def _institution(conn: sqlite3.Connection, rid: str, scope: frozenset[str], name: str) -> int:
    row = conn.execute("SELECT n.nid, r.kind, r.deleted, r.visibility FROM nodes n"
                       " JOIN records r ON r.id = n.nid WHERE n.id = ?", (rid,)).fetchone()
    if row is None or row[1] != "institution" or row[2] or row[3] not in scope:
        raise errors.NotFound(f"No such institution ({name}).")   # stubs, other scopes alike
    return row[0]


class _Budget(Exception):
    pass


def paths(conn: sqlite3.Connection, src: str, dst: str, k: int, scope: frozenset[str],
          max_hops: int) -> list[list[str]]:
    check_paths(src, dst, k, max_hops)
    s, t = _institution(conn, src, scope, "src"), _institution(conn, dst, scope, "dst")
    graph = _Partners(conn, scope)
    graph.ids[s], graph.ids[t] = src, dst
    longest = 2 * max_hops
    fwd, bwd = _Ball(s), _Ball(t)
    shortest = None
    while shortest is None and fwd.radius + bwd.radius < longest:
        if fwd.exhausted or bwd.exhausted:
            return []
        if len(fwd.frontier) <= len(bwd.frontier):
            shortest = fwd.grow(graph, bwd.dist)
        else:
            shortest = bwd.grow(graph, fwd.dist)
    if shortest is None:
        return []

    # the nodes of the forward levels that lead to dst along shortest paths
    meet = [x for x in fwd.frontier if bwd.dist.get(x) == bwd.radius]
    on_shortest = set(meet)
    for level in range(fwd.radius - 1, -1, -1):
        for x in fwd.levels[level]:
            if any(y in on_shortest and fwd.dist[y] == level + 1 for y in graph.adj[x]):
                on_shortest.add(x)
    rf = fwd.radius

    def shortest_rule(y: int, j: int) -> bool:
        if j <= rf and not (fwd.dist.get(y) == j and y in on_shortest):
            return False
        return j < rf or bwd.dist.get(y) == shortest - j

    def longer_rule(length: int) -> Callable[[int, int], bool]:
        return lambda y, j: (y != t or j == length) and bwd.bound(y) <= length - j

    found: list[list[int]] = []
    steps = [0]
    try:
        for length in range(shortest, longest + 1, 2):
            if length == shortest:
                rule = shortest_rule
            else:
                # a tighter bound for the positions past the first
                while bwd.radius < length - 1 and not bwd.exhausted and len(bwd.dist) < BALL_NODES:
                    bwd.grow(graph)
                rule = longer_rule(length)
            _walk(graph, s, t, length, k - len(found), rule, found, steps)
            if len(found) >= k:
                break
    except _Budget:
        pass
    return [[graph.ids[n] for n in path] for path in found]


def _walk(graph: _Partners, s: int, t: int, length: int, want: int,
          rule: Callable[[int, int], bool], found: list[list[int]], steps: list[int]) -> None:
    """Append to ``found`` the first ``want`` simple paths of ``length`` edges in id order."""
    path, on_path, goal = [s], {s}, len(found) + want

    def visit(x: int, j: int) -> bool:   # x sits at position j; True: enough found
        if j == length:
            if x == t:
                found.append(list(path))
            return len(found) >= goal
        for y in graph.ordered(x, j % 2 == 0):
            steps[0] += 1
            if steps[0] > WALK_STEPS:
                raise _Budget
            if y in on_path or not rule(y, j + 1):
                continue
            path.append(y)
            on_path.add(y)
            done = visit(y, j + 1)
            path.pop()
            on_path.discard(y)
            if done:
                return True
        return False

    visit(s, 0)
