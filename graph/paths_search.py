"""The search behind ``Store.paths`` (the rules are in ``path_rules``), over any store's
partnership graph as ``path_graph.PathGraph`` offers it (``sqlite_paths_graph``,
``neo4j_paths_graph``).

The graph walked is institutions and agreements joined by PARTY_TO edges, both directions,
through live records within the caller's scope only. Positions and distances count edges:
an institution sits at an even one, an agreement at an odd one. The adjacency is read raw
(every PARTY_TO edge, whatever its ends' visibility): distances over it are lower bounds of
the visible ones, and the walks check the visibility of each node they step on.

1. A bidirectional breadth-first search grows, level by level, whichever side is cheaper to
   grow next: an agreement's parties are a few rows, an institution's agreements are as many
   as it has, and a hub has tens of thousands. Each side reaches the other end but never
   passes through it, as no path does. The search stops when the sides meet (the length of
   the shortest path is known, with exact distances from ``src`` and to ``dst`` within the
   radii searched) or when both next levels are expensive (then walks find the length).
2. Depth-first walks from ``src`` try neighbours in id order, so the paths of one length come
   out already in the result order; they stop after ``k`` paths. For the shortest length
   every node must lie on a shortest path, known exactly from both searches; for other
   lengths a node must still be able to reach ``dst`` in the steps left (its distance to
   ``dst``, a lower bound past the radius searched), and an agreement is only stepped on if
   one of its other parties can. The search around ``dst`` grows first while its next level
   is cheap; a walk with a loose bound is then given a few steps only, and when it needs
   more, the search grows one level (unless that is too expensive) and it starts again.

Walks read a step's candidates only: the neighbours that pass the rule, then their
visibility, in id order and only as far as the walk goes (``Ordered``).

Answers equal an exhaustive search's unless the walks run out of ``WALK_STEPS``; then the
paths found so far are returned, a prefix of the full answer.
"""
from __future__ import annotations

from typing import Callable

from .path_graph import IdOrder, Key, PathGraph


class OverBudget(Exception):
    """A walk looked at more nodes than it may."""


class Budget:
    """The nodes a walk may look at: candidates read (whether they fit or not) and steps."""

    def __init__(self, limit: int):
        self.limit, self.used = limit, 0

    def spend(self, n: int = 1) -> None:
        self.used += n
        if self.used > self.limit:
            raise OverBudget


class Ordered:
    """The visible nodes of a set in id order, found as far as they are asked for.

    ``parties``: the nodes are agreements whose parties the walk will want next; they are
    read along, one read per batch instead of one per agreement. ``keep``: a test of the
    nodes (their parties read) that saves looking at the others further. Every node read is
    spent from ``budget``.
    """

    def __init__(self, graph: PathGraph, budget: Budget, order: IdOrder, parties: bool = False,
                 keep: Callable[[Key], bool] | None = None):
        self.graph, self.budget, self.parties, self.keep = graph, budget, parties, keep
        self.order = order
        self.out: list[Key] = []
        self._batch = 16

    @classmethod
    def of(cls, graph: PathGraph, budget: Budget, nodes: list[Key], parties: bool = False,
           keep: Callable[[Key], bool] | None = None) -> Ordered:
        return cls(graph, budget, graph.in_id_order(nodes), parties, keep)

    @classmethod
    def agreements_of(cls, graph: PathGraph, budget: Budget, institution: Key,
                      keep: Callable[[Key], bool] | None = None) -> Ordered:
        """Every agreement of an institution."""
        return cls(graph, budget, graph.agreements_in_id_order(institution), True, keep)

    def get(self, i: int) -> Key | None:
        """The ``i``-th visible node in id order, None past the last."""
        while len(self.out) <= i:
            size = self._batch
            self._batch = min(4 * size, 1024)   # the first candidates are often the only ones used
            batch = self.order.take(size)
            if not batch:
                return None
            self.budget.spend(len(batch))
            g = self.graph
            if self.parties:
                g.load(batch, institutions=False)
            if self.keep is not None:
                batch = [n for n in batch if self.keep(n)]
            g.check_visible(batch)
            self.out.extend(n for n in batch if g.visible[n])
        return self.out[i]


#: the search around dst grows for a tighter bound while it has fewer nodes than this
BALL_NODES = 50_000
#: the most nodes the walks look at (candidates read and steps taken): past it, the paths
#: found so far are the answer (each of them in its right place, but fewer than asked or
#: missing longer ones)
WALK_STEPS = 500_000
#: the nodes a walk with a loose bound looks at before the search around dst grows
TRIAL_STEPS = 3000
#: the cost of reading an agreement's parties, in agreements read from an institution's list
AGREEMENT_COST = 12
#: the most a level of the breadth-first search may cost (in those units) before walks take over
CHEAP = 15_000
#: the most a level of the search around dst may cost to grow when a walk needs many steps
GROW_MAX = 300_000
#: the agreements an institution is guessed to have, to decide which side to count first
TYPICAL_DEGREE = 100
#: the largest level of the search around dst indexed backwards (party → its agreements there)
REVERSE_MAX = 20_000
_FAR = 1 << 30


class _Ball:
    """One side of the bidirectional search: exact distances within ``radius`` in the graph
    without the other end, which is reached but never passed through (a path holds it at
    its end only), so the distances are tighter bounds for the rest of a path."""

    def __init__(self, start: Key, end: Key):
        self.dist = {start: 0}
        self.levels = [[start]]
        self.radius = 0
        self.end = end
        self.exhausted = False   # every node reachable from the start is in ``dist``
        self._cost: tuple[int, int, int] | None = None
        self._reverse: dict[int, dict[Key, list[Key]]] = {}

    @property
    def frontier(self) -> list[Key]:
        return self.levels[-1]

    def _passable(self) -> list[Key]:
        return [n for n in self.levels[-1] if n != self.end]

    def guess(self) -> int:
        """A cost to order the sides by before counting: exact for a level of agreements
        already read, a typical degree for institutions."""
        return len(self.frontier) * (AGREEMENT_COST if self.radius % 2 else TYPICAL_DEGREE)

    def cost(self, graph: PathGraph, cap: int) -> int:
        """What growing the next level would read, ``cap + 1`` if more than ``cap``."""
        if self.radius % 2 == 1:
            return min(AGREEMENT_COST * sum(n not in graph.adj for n in self.frontier), cap + 1)
        known = self._cost      # (radius, count, the cap it was counted up to)
        if known is None or known[0] != self.radius or (known[1] > known[2] and cap > known[2]):
            known = self._cost = (self.radius, graph.degree_sum(self._passable(), cap + 1), cap)
        return min(known[1], cap + 1)

    def grow(self, graph: PathGraph, other: dict[Key, int] | None = None) -> int | None:
        """Add the next level; the shortest start-to-start length through a node of it
        that ``other`` has reached, if any."""
        frontier = self._passable()
        graph.load(frontier, institutions=self.radius % 2 == 0)
        level, dist, met = self.radius + 1, self.dist, None
        adj = graph.adj
        nxt = []
        for x in frontier:
            for y in adj[x]:
                if y not in dist:
                    dist[y] = level
                    nxt.append(y)
        if other is not None:
            for y in nxt:
                if y in other:
                    length = level + other[y]
                    met = length if met is None else min(met, length)
        self.levels.append(nxt)
        self.radius = level
        self.exhausted = not nxt
        return met

    def near(self, graph: PathGraph, nid: Key, institution: bool, top: int,
             exact: bool = False) -> list[Key]:
        """The neighbours of ``nid`` at a distance of at most ``top`` (exactly ``top`` if
        ``exact``). An institution whose agreements are not read yet is looked up among the
        levels of agreements expanded already (their parties are known), if they are small."""
        levels = [top] if exact else range(top % 2, top + 1, 2)
        if (institution and nid not in graph.adj and top < self.radius
                and sum(len(self.levels[lv]) for lv in levels) <= REVERSE_MAX):
            return [y for lv in levels for y in self._reverse_of(graph, lv).get(nid, ())]
        dist = self.dist
        nbrs = graph.neighbours(nid, institution)
        if exact:
            return [y for y in nbrs if dist.get(y) == top]
        return [y for y in nbrs if dist.get(y, _FAR) <= top]

    def _reverse_of(self, graph: PathGraph, level: int) -> dict[Key, list[Key]]:
        """party → its agreements at ``level`` (a level of agreements already expanded)."""
        rev = self._reverse.get(level)
        if rev is None:
            rev = self._reverse[level] = {}
            for y in self.levels[level]:
                for z in graph.adj[y]:
                    rev.setdefault(z, []).append(y)
        return rev



def search(graph: PathGraph, s: Key, t: Key, k: int, longest: int) -> list[list[Key]]:
    """The first ``k`` paths from ``s`` to ``t`` of at most ``longest`` edges, in the order
    of ``path_rules`` (both ends are visible institutions, the caller has checked)."""
    fwd, bwd = _Ball(s, t), _Ball(t, s)
    shortest = None
    while shortest is None:
        if fwd.exhausted or bwd.exhausted or fwd.radius + bwd.radius >= longest:
            return []
        # the side that looks cheaper is counted first, the other only up to its cost
        one, two = sorted((fwd, bwd), key=_Ball.guess)
        c1 = one.cost(graph, CHEAP)
        c2 = two.cost(graph, min(CHEAP, c1))
        if c1 > CHEAP and c2 > CHEAP:
            break       # both next levels are expensive: walks find the length
        side, other = (two, one) if c2 < c1 else (one, two)
        shortest = side.grow(graph, other.dist)

    found: list[list[Key]] = []
    budget = Budget(WALK_STEPS)
    try:
        if shortest is not None:
            _walk(s, t, shortest, k, _shortest_rule(graph, fwd, bwd, shortest, budget), found,
                  budget)
            first = shortest + 2
        else:
            first = fwd.radius + bwd.radius + 1
            first += first % 2      # paths between institutions have an even length
        for length in range(first, longest + 1, 2):
            if len(found) >= k:
                break
            _bounded(graph, s, t, length, k - len(found), bwd, found, budget)
    except OverBudget:
        pass
    return found


def _shortest_rule(graph: PathGraph, fwd: _Ball, bwd: _Ball, shortest: int,
                   budget: Budget) -> Callable:
    """The candidates for the shortest length: nodes on a shortest path, at their distances."""
    rf = fwd.radius
    rb = shortest - rf
    # the nodes of the forward levels that lead to dst along shortest paths
    on_shortest = {x for x in fwd.frontier if bwd.dist.get(x) == rb}
    for level in range(rf - 1, -1, -1):
        for x in fwd.levels[level]:
            if any(y in on_shortest and fwd.dist[y] == level + 1 for y in graph.adj[x]):
                on_shortest.add(x)
    cache: dict[Key, Ordered] = {}

    def candidates(x: Key, j: int) -> Ordered:
        seq = cache.get(x)      # a node has one position on every shortest path
        if seq is None:
            i = j + 1
            if i <= rf:
                fd = fwd.dist
                nxt = [y for y in graph.adj[x] if fd.get(y) == i and y in on_shortest]
            else:
                nxt = bwd.near(graph, x, j % 2 == 0, shortest - i, exact=True)
            seq = cache[x] = Ordered.of(graph, budget, nxt, parties=j % 2 == 0)
        return seq

    return candidates


def _bounded(graph: PathGraph, s: Key, t: Key, length: int, want: int, bwd: _Ball,
             found: list[list[Key]], budget: Budget) -> None:
    """Append the first ``want`` paths of ``length`` edges. The search around dst grows
    while its next level is cheap, or while a walk needs more than a few steps and the next
    level is not too expensive, as long as it can still tighten the bound."""
    while True:
        growable = not bwd.exhausted and bwd.radius < length - 1 and len(bwd.dist) < BALL_NODES
        if growable and bwd.cost(graph, CHEAP) <= CHEAP:
            bwd.grow(graph)
            continue
        got: list[list[Key]] = []
        if growable:
            trial = Budget(TRIAL_STEPS)
            try:
                _walk(s, t, length, want, _bound_rule(graph, s, t, length, bwd, trial), got, trial)
                found.extend(got)
                return
            except OverBudget:
                if bwd.cost(graph, GROW_MAX) <= GROW_MAX:
                    bwd.grow(graph)
                    continue
            got = []
        try:
            _walk(s, t, length, want, _bound_rule(graph, s, t, length, bwd, budget), got, budget)
        finally:
            found.extend(got)
        return


def _bound_rule(graph: PathGraph, s: Key, t: Key, length: int, bwd: _Ball,
                budget: Budget) -> Callable:
    """The candidates for a longer length: nodes that can still reach dst in time."""
    cache: dict[tuple[Key, int], Ordered] = {}
    radius, exact = bwd.radius, bwd.exhausted

    def candidates(x: Key, j: int) -> Ordered:
        left = length - j - 1           # steps from the candidate to dst
        seq = cache.get((x, left))
        if seq is not None:
            return seq
        institution = j % 2 == 0
        if exact or left <= radius:
            nxt = [y for y in bwd.near(graph, x, institution, left) if y != t or left == 0]
        elif institution:
            nxt = None      # every agreement: outside the ball, or in it, each is near enough
        else:
            nxt = [y for y in graph.neighbours(x, institution) if y != t]
        ahead = None
        if institution and (exact or left - 1 <= radius):
            ahead = _party_near(graph, bwd, (s, x), t, left - 1)
        if nxt is None:
            seq = Ordered.agreements_of(graph, budget, x, keep=ahead)
        else:
            seq = Ordered.of(graph, budget, nxt, parties=institution, keep=ahead)
        cache[(x, left)] = seq
        return seq

    return candidates


def _party_near(graph: PathGraph, bwd: _Ball, on_path: tuple[Key, ...], t: Key,
                top: int) -> Callable[[Key], bool]:
    """Whether an agreement (its parties read) has a party off the path within ``top`` of dst:
    else stepping on it leads nowhere."""
    dist = bwd.dist

    def near(y: Key) -> bool:
        return any(p not in on_path and dist.get(p, _FAR) <= top and (p != t or top == 0)
                   for p in graph.adj[y])

    return near


def _walk(s: Key, t: Key, length: int, want: int, candidates: Callable[[Key, int], Ordered],
          found: list[list[Key]], budget: Budget) -> None:
    """Append to ``found`` the first ``want`` simple paths of ``length`` edges in id order."""
    path, on_path, goal = [s], {s}, len(found) + want

    def visit(x: Key, j: int) -> bool:   # x sits at position j; True: enough found
        if j == length:
            if x == t:
                found.append(list(path))
            return len(found) >= goal
        seq = candidates(x, j)
        i = 0
        while (y := seq.get(i)) is not None:
            i += 1
            if y in on_path:
                continue
            budget.spend()
            path.append(y)
            on_path.add(y)
            done = visit(y, j + 1)
            path.pop()
            on_path.discard(y)
            if done:
                return True
        return False

    visit(s, 0)
