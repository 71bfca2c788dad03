"""Analytics of the partnership graph with networkx: brokers, communities, suggestions.

The partnership graph is undirected: its nodes are the live institutions a reader may see,
with their ``name`` (multilingual), ``country`` and ``kind``; an edge joins two of them
that are party to the same agreement, with ``weight`` (how many agreements they share) and
``agreements`` (their rids, sorted). Parties the reader cannot see — stubs, tombstones,
institutions outside the scope — are dropped, and with them the edges they would make.

The input is ``Store.partnerships`` (read in bulk, natively, by each backend); nothing here
touches a store except :class:`GraphCache`, which asks for it. Every answer is
deterministic: nodes are added in rid order, ties are broken by rid, and the randomised
algorithms (sampled betweenness, Louvain) take a seed, so the same store and the same
arguments always give the same answer on either backend.

Functions return plain dicts and lists, ready to serialise. Bad arguments raise
``ValidationError`` naming the argument; an unknown or invisible institution ``NotFound``.
"""
from __future__ import annotations

import math
import threading
import weakref
from collections import Counter, OrderedDict, defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Callable

import networkx as nx

from jembatan.network import errors

from .filters import check_scope
from .store import PUBLIC, Partnerships

MAX_TOP = 1000
MAX_SAMPLE = 100_000
MAX_EXACT = 100_000
MAX_RESOLUTION = 100.0
MAX_SEED = 2**32 - 1


# -- argument checks ------------------------------------------------------------------------

def _invalid(name: str, detail: str) -> errors.ValidationError:
    return errors.ValidationError(f"Invalid {name}.", errors=[{"field": name, "detail": detail}])


def _check_int(name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _invalid(name, f"Must be an integer from {lo} to {hi}.")
    return value


def _check_resolution(value: Any) -> float:
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or not 0 < value <= MAX_RESOLUTION):
        raise _invalid("resolution", f"Must be a number above 0 and at most {MAX_RESOLUTION:g}.")
    return float(value)


def _check_node(G: nx.Graph, rid: Any) -> str:
    if not isinstance(rid, str) or rid not in G:
        raise errors.NotFound("No such institution.")
    return rid


def _describe(G: nx.Graph, rid: str) -> dict:
    attrs = G.nodes[rid]
    return {"rid": rid, "name": attrs["name"], "country": attrs["country"], "kind": attrs["kind"]}


# -- the graph ------------------------------------------------------------------------------

def partnership_graph(p: Partnerships) -> nx.Graph:
    """The partnership graph of ``p`` (see the module docstring)."""
    G = nx.Graph()
    G.add_nodes_from((i.rid, {"name": i.name, "country": i.country, "kind": i.kind})
                     for i in p.institutions)
    known = {i.rid for i in p.institutions}
    shared: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
    for agreement in p.agreements:      # in rid order, so every edge's list comes sorted
        parties = agreement.parties     # sorted by rid and distinct: pairs come (smaller, larger)
        if len(parties) == 2:           # most agreements: no list, no combinations
            (a, _), (b, _) = parties
            if a in known and b in known:
                shared[a, b].append(agreement.rid)
            continue
        visible = [rid for rid, _ in parties if rid in known]
        for pair in combinations(visible, 2):
            shared[pair].append(agreement.rid)
    G.add_edges_from((a, b, {"weight": len(rids), "agreements": rids})
                     for (a, b), rids in sorted(shared.items()))
    return G


# -- brokers --------------------------------------------------------------------------------

def brokers(G: nx.Graph, top: int = 20, exact_max: int = 2000, sample: int = 500,
            seed: int = 0) -> dict:
    """Institutions by betweenness centrality (unweighted, normalized), best first.

    Exact when the graph has at most ``exact_max`` nodes (Brandes: O(nodes × edges));
    above it, networkx's estimate from ``sample`` source nodes drawn with ``seed``. Returns
    ``{"exact", "sample" (the k used, None when exact), "nodes", "rows": [{rid, score,
    country, kind, name}]}``, ties broken by rid.
    """
    _check_int("top", top, 1, MAX_TOP)
    _check_int("exact_max", exact_max, 0, MAX_EXACT)
    _check_int("sample", sample, 1, MAX_SAMPLE)
    _check_int("seed", seed, 0, MAX_SEED)
    n = G.number_of_nodes()
    k = min(sample, n)
    if n <= exact_max or k == n:          # sampling every node is the exact computation
        scores, k = nx.betweenness_centrality(G, normalized=True), None
    else:
        scores = nx.betweenness_centrality(G, k=k, normalized=True, seed=seed)
    best = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:top]
    rows = [{"rid": rid, "score": score, **_describe(G, rid)} for rid, score in best]
    return {"exact": k is None, "sample": k, "nodes": n, "rows": rows}


# -- communities ----------------------------------------------------------------------------

def communities(G: nx.Graph, seed: int = 0, resolution: float = 1.0) -> dict:
    """Louvain communities (weighted by shared agreements), largest first, ties by their
    smallest rid; each with its sorted ``members``, ``size``, ``countries`` (how many
    distinct countries) and ``by_country`` (members per country). ``modularity`` is None
    for a graph without edges (undefined there)."""
    _check_int("seed", seed, 0, MAX_SEED)
    resolution = _check_resolution(resolution)
    found = nx.community.louvain_communities(G, weight="weight", resolution=resolution,
                                             seed=seed)
    groups = sorted((sorted(c) for c in found), key=lambda members: (-len(members), members[0]))
    modularity = (nx.community.modularity(G, groups, weight="weight", resolution=resolution)
                  if G.number_of_edges() else None)
    out = []
    for members in groups:
        by_country = Counter(G.nodes[rid]["country"] for rid in members)
        out.append({"members": members, "size": len(members), "countries": len(by_country),
                    "by_country": dict(sorted(by_country.items()))})
    return {"communities": out, "modularity": modularity, "seed": seed,
            "resolution": resolution, "nodes": G.number_of_nodes()}


# -- suggestions ----------------------------------------------------------------------------

def suggestions(G: nx.Graph, rid: str, top: int = 10) -> list[dict]:
    """Partners of partners that are not yet partners of ``rid``: most common partners
    first, then highest Adamic–Adar index, then rid. Each row names the common partners
    (``via``, sorted)."""
    rid = _check_node(G, rid)
    _check_int("top", top, 1, MAX_TOP)
    partners = set(G[rid])
    candidates = sorted({c for p in partners for c in G[p]} - partners - {rid})
    scores = {v: score for _, v, score in nx.adamic_adar_index(G, [(rid, c) for c in candidates])}
    rows = []
    for c in candidates:
        via = sorted(nx.common_neighbors(G, rid, c))
        rows.append({**_describe(G, c), "common": len(via), "adamic_adar": scores[c], "via": via})
    rows.sort(key=lambda row: (-row["common"], -row["adamic_adar"], row["rid"]))
    return rows[:top]


# -- an institution's summary ---------------------------------------------------------------

def summary(p: Partnerships, rid: str) -> dict:
    """An institution's agreements (total, by kind, by year, undated) and partners (count,
    distinct partners per country) among what ``p`` shows. Partners are the other visible
    institutions party to its agreements; its agreements count whoever the other parties
    are (stubs and invisible institutions included)."""
    institutions = {i.rid: i for i in p.institutions}
    if not isinstance(rid, str) or rid not in institutions:
        raise errors.NotFound("No such institution.")
    me = institutions[rid]
    by_kind: Counter[str] = Counter()
    by_year: Counter[int] = Counter()
    undated = 0
    partners: set[str] = set()
    total = 0
    for agreement in p.agreements:
        parties = [inst for inst, _ in agreement.parties]
        if rid not in parties:
            continue
        total += 1
        by_kind[agreement.kind] += 1
        if agreement.year is None:
            undated += 1
        else:
            by_year[agreement.year] += 1
        partners.update(inst for inst in parties if inst != rid and inst in institutions)
    by_country = Counter(institutions[inst].country for inst in partners)
    return {"rid": rid, "name": me.name, "country": me.country, "kind": me.kind,
            "agreements": total, "partners": len(partners),
            "partners_by_country": dict(sorted(by_country.items())),
            "agreements_by_kind": dict(sorted(by_kind.items())),
            "agreements_by_year": dict(sorted(by_year.items())), "undated": undated}


# -- the cache ------------------------------------------------------------------------------

class GraphCache:
    """The last few partnership graphs built, keyed by (store, scope, ``last_seq``), and
    the last answers computed on each.

    Building the graph of 10^6 agreements takes seconds, and betweenness or Louvain on a
    large graph longer; an unchanged store (same last change sequence) reuses both. A
    store is known by identity (a weak reference, so a closed and collected store's entry
    is never taken for a new one at the same address). Cached graphs are frozen and cached
    answers shared: callers must not change either.
    """

    #: answers kept per graph
    results = 32

    def __init__(self, size: int = 2):
        _check_int("size", size, 1, 64)
        self.size = size
        self._entries: OrderedDict[tuple, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def _entry(self, store, scope) -> _Entry:
        scope = check_scope(scope)
        # the sequence is read before the partnerships: a write in between makes the cached
        # graph newer than its key, never older, and the next call rebuilds it
        key = (id(store), scope, store.last_seq())
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.store() is store:
                self._entries.move_to_end(key)
                return entry
        p = store.partnerships(scope)
        entry = _Entry(weakref.ref(store), p, nx.freeze(partnership_graph(p)))
        with self._lock:
            for old in [k for k in self._entries if k[:2] == key[:2]]:
                del self._entries[old]      # an older state of the same store and scope
            self._entries[key] = entry
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return entry

    def get(self, store, scope: frozenset[str] = PUBLIC) -> tuple[Partnerships, nx.Graph]:
        """The store's partnerships and partnership graph as a reader of ``scope`` sees them."""
        entry = self._entry(store, scope)
        return entry.p, entry.G

    def compute(self, store, scope: frozenset[str], fn: Callable[..., Any], **kwargs: Any) -> Any:
        """``fn(G, **kwargs)`` on the store's graph (``brokers``, ``communities``,
        ``suggestions``), or ``fn(p, **kwargs)`` for ``summary``, remembered with the graph.
        Arguments are checked by ``fn`` on every miss; a failed call is not remembered."""
        entry = self._entry(store, scope)
        key = (fn, tuple(sorted(kwargs.items())))
        try:
            hash(key)
        except TypeError:               # not an argument fn takes: let fn say what is wrong
            return fn(entry.p if fn is summary else entry.G, **kwargs)
        with self._lock:
            if key in entry.answers:
                entry.answers.move_to_end(key)
                return entry.answers[key]
        answer = fn(entry.p if fn is summary else entry.G, **kwargs)
        with self._lock:
            entry.answers[key] = answer
            while len(entry.answers) > self.results:
                entry.answers.popitem(last=False)
        return answer

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass
class _Entry:
    store: weakref.ref
    p: Partnerships
    G: nx.Graph
    answers: OrderedDict = field(default_factory=OrderedDict)
