"""Facet counts for browsing the catalogue: how many records each choice of a filter would
show, given the other filters — read from the stores' tallies (``graph.tallies``), never by
counting records.

A tally knows a kind's own dimensions only: technologies their owner's country, TRL, stage
and fields; demands their requester's country, lowest TRL and fields; institutions, events
and agreements their countries. A choice the tallies cannot count for the filters given
(an agreement's field, a text search) has no count (None), and the page shows none.
"""
from __future__ import annotations

from jembatan.graph.store import Store
from jembatan.graph.tallies import ALL

#: record kind → (tally measure, catalogue filter → tally dimension)
DIMENSIONS: dict[str, tuple[str, dict[str, str]]] = {
    "technology": ("technology", {"country": "c1", "trl": "k1", "stage": "k2", "field": "field"}),
    "demand": ("demand", {"country": "c1", "trl": "k1", "field": "field"}),
    "institution": ("member", {"country": "c1"}),
    "event": ("event", {"country": "c1"}),
    "agreement": ("agreement", {"country": "c1"}),
}
FILTERS = ("country", "field", "trl", "stage")


def _where(kind: str, filters: dict) -> dict[str, str] | None:
    """The tally's where for ``filters`` on ``kind``; None when a filter is not countable."""
    measure, dims = DIMENSIONS[kind]
    where: dict[str, str] = {}
    for name, value in filters.items():
        if value is None:
            continue
        if name not in dims:
            return None
        where[dims[name]] = str(value)
    if measure in ("technology", "demand"):
        where.setdefault("field", "")        # one cell per record, beside one per field
    if measure == "agreement":
        where.setdefault("c1", ALL)          # each agreement once, beside once per country
    return where


def _count(store: Store, scope: frozenset[str], kind: str, filters: dict) -> int | None:
    where = _where(kind, filters)
    if where is None:
        return None
    return store.tally(DIMENSIONS[kind][0], scope, where=where)[0][0]


def facet_counts(store: Store, scope: frozenset[str], kinds: tuple[str, ...],
                 args: dict) -> dict[str, dict] | None:
    """{facet: {value: count or None}} for the catalogue's filters ``args``; kind counts
    always, the others once one kind is chosen. None for a text search."""
    if args.get("q"):
        return None
    filters = {name: args.get(name) for name in FILTERS}
    out: dict[str, dict] = {"kind": {k: _count(store, scope, k, filters) for k in kinds}}
    if not args.get("kind"):
        return out
    kind = args["kind"]
    measure, dims = DIMENSIONS[kind]
    for name in FILTERS:
        others = dict(filters, **{name: None})
        where = _where(kind, others) if name in dims else None
        if where is None:
            continue
        dim = dims[name]
        if dim == "field":
            where.pop("field")
        elif dim == "c1" and measure == "agreement":
            where.pop("c1")
        rows = store.tally(measure, scope, group=(dim,), where=where)
        out[name] = {int(value) if name == "trl" else value: n
                     for value, n, _ in rows if value not in ("", ALL)}
    return out
