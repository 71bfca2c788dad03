"""Graph proximity between the two parties of a match, read from the store's graph.

One neighbourhood read (``Store.neighbours``, two hops) around the party matched for finds
its partners (an agreement between them: 1.0, path [party, agreement, other]) and the
institutions it met at an event (0.6, path [party, event, other]). Matching for a demand also
reads the events its requester attended that showed a candidate technology (0.6, path
[requester, event, technology]); matching for a technology, one more read around the
technology finds the institutions that attended an event showing it.
"""
from __future__ import annotations

from typing import Callable, Iterable

from ..store import Subgraph

PARTNER, MET = 1.0, 0.6
_KINDS = ("agreement", "event", "institution", "technology")
_ATTENDS = ("PARTICIPATED_IN", "ORGANISED")


def _links(g: Subgraph, start: str) -> dict[str, tuple[float, list[str]]]:
    """Node id → (value, path) for institutions and shown technologies near ``start``."""
    agreements, events = set(), set()
    for e in g.edges:
        if e.src == start and e.type == "PARTY_TO":
            agreements.add(e.dst)
        elif e.src == start and e.type in _ATTENDS:
            events.add(e.dst)
    out: dict[str, tuple[float, list[str]]] = {}

    def offer(node: str, value: float, path: list[str]) -> None:
        if node != start and (node not in out or out[node][0] < value):
            out[node] = (value, path)
    for e in sorted(g.edges, key=lambda e: (e.src, e.type, e.dst)):
        if e.type == "PARTY_TO" and e.dst in agreements:
            offer(e.src, PARTNER, [start, e.dst, e.src])
        elif e.type in _ATTENDS and e.dst in events:
            offer(e.src, MET, [start, e.dst, e.src])
        elif e.type == "SHOWED" and e.src in events:
            offer(e.dst, MET, [start, e.src, e.dst])
    return out


def proximity(store, scope: frozenset[str], kind: str, rid: str,
              party: str) -> Callable[[Iterable], dict[str, tuple[float, list[str]]]]:
    """The ``proximity`` function ``score.rank`` takes, for the record ``rid`` of ``kind``
    (technology or demand) whose party is ``party``."""
    def near(candidates) -> dict[str, tuple[float, list[str]]]:
        if not party:
            return {}
        links = _links(store.neighbours(party, 2, scope, 500, _KINDS), party)
        shown: dict[str, tuple[float, list[str]]] = {}
        if kind == "technology":
            g = store.neighbours(rid, 2, scope, 500, ("event", "institution"))
            shows = {e.src for e in g.edges if e.type == "SHOWED" and e.dst == rid}
            for e in sorted(g.edges, key=lambda e: (e.src, e.dst)):
                if e.type in _ATTENDS and e.dst in shows and e.src != party:
                    shown.setdefault(e.src, (MET, [rid, e.dst, e.src]))
        out = {}
        for c in candidates:
            best = max((links.get(c.party), links.get(c.rid), shown.get(c.party)),
                       key=lambda v: v[0] if v else -1)
            if best:
                out[c.rid] = best
        return out
    return near
