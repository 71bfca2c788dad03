"""Country flows, the alliance's statistics and the technology funnel, read from the
store's tallies.

Both are sums over ``Store.tally`` (``graph.tallies`` says what each cell counts), so they
come out the same from every backend. Amounts stay per currency, in the currency's minor
units until shown: no exchange rate is ever applied.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from jembatan.network.vocab import STAGES, currency_digits

from .store import Store
from .tallies import ALL


#: the open ends of a period given by one year only
FIRST_YEAR, LAST_YEAR = 1900, 2200


def period(years: tuple[int, int] | None) -> dict | None:
    """{from, to} for a document, an open end as None."""
    if years is None:
        return None
    return {"from": None if years[0] == FIRST_YEAR else years[0],
            "to": None if years[1] == LAST_YEAR else years[1]}


@dataclass(frozen=True)
class FlowFilter:
    years: tuple[int, int] | None = None      # signed in [first, last]; None: every agreement
    field: str | None = None                  # agreements in this field
    kind: str | None = None                   # agreement kind
    provider_kind: str | None = None          # the lead provider's institution kind
    recipient_kind: str | None = None         # the lead recipient's institution kind

    def where(self) -> dict:
        where = {"field": self.field or ""}
        for dim, value in (("k1", self.kind), ("k2", self.provider_kind),
                           ("k3", self.recipient_kind)):
            if value is not None:
                where[dim] = value
        return where


@dataclass
class Cell:
    agreements: int = 0
    values: dict[str, int] = field(default_factory=dict)   # currency → minor units

    def add(self, n: int, currency: str, amount: int) -> None:
        self.agreements += n
        if currency:
            self.values[currency] = self.values.get(currency, 0) + amount


def money(values: dict[str, int]) -> list[dict]:
    """[{currency, amount}] with the amount as a decimal string in the currency's digits."""
    return [{"currency": c, "amount": str(Decimal(v).scaleb(-currency_digits(c)))}
            for c, v in sorted(values.items())]


def matrix(store: Store, scope: frozenset[str], f: FlowFilter) -> dict[tuple[str, str], Cell]:
    """(provider country, recipient country) → Cell."""
    cells: dict[tuple[str, str], Cell] = defaultdict(Cell)
    for pc, rc, currency, n, amount in store.tally(
            "flow", scope, group=("c1", "c2", "currency"), where=f.where(), years=f.years):
        cells[(pc, rc)].add(n, currency, amount)
    return dict(cells)


def series(store: Store, scope: frozenset[str], f: FlowFilter, provider: str,
           recipient: str) -> dict[int, Cell]:
    """Year → Cell for one country pair (year 0: agreements not yet signed)."""
    out: dict[int, Cell] = defaultdict(Cell)
    where = dict(f.where(), c1=provider, c2=recipient)
    for year, currency, n, amount in store.tally("flow", scope, group=("year", "currency"),
                                                 where=where, years=f.years):
        out[year].add(n, currency, amount)
    return dict(out)


def corridors(cells: dict[tuple[str, str], Cell], top: int,
              domestic: bool = True) -> list[tuple[tuple[str, str], Cell]]:
    """The ``top`` country pairs by agreements (ties by the pair's codes)."""
    pairs = [(pair, cell) for pair, cell in cells.items() if domestic or pair[0] != pair[1]]
    pairs.sort(key=lambda item: (-item[1].agreements, item[0]))
    return pairs[:top]


def total(cells: dict[tuple[str, str], Cell]) -> Cell:
    out = Cell()
    for cell in cells.values():
        for currency, amount in cell.values.items():
            out.add(0, currency, amount)
        out.agreements += cell.agreements
    return out


# -- statistics ----------------------------------------------------------------------------

def _counts(pairs) -> dict:
    """{key: summed n} of (key, n) pairs, keys in order."""
    out: dict = defaultdict(int)
    for key, n in pairs:
        out[key] += n
    return dict(sorted(out.items()))


def stats(store: Store, scope: frozenset[str], country: str | None = None,
          years: tuple[int, int] | None = None) -> dict:
    """The alliance's figures for one country (None: all) and period (None: all time).

    Members, technologies and demands are counted as the node holds them now; agreements,
    events and enterprises served are those of the period (agreements by the year signed,
    events by the year they start). A country narrows institutions to those located there,
    technologies and demands to their owner's and requester's, agreements to those with a
    party there, events to those held there.
    """
    here = {} if country is None else {"c1": country}
    t = store.tally
    members = t("member", scope, group=("c1", "k1"), where=here)
    technologies = t("technology", scope, group=("k1", "k2"), where={**here, "field": ""})
    technology_fields = t("technology", scope, group=("field",), where=here)
    demands = t("demand", scope, group=("field",), where=here)
    agreements = t("agreement", scope, group=("k1", "k2", "k3", "currency"),
                   where={"c1": country or ALL}, years=years)
    events = t("event", scope, group=("k1",), where=here, years=years)
    served = t("served", scope, where=here, years=years, distinct="k1")[0][0]

    values, at_event, at_event_values = defaultdict(int), 0, defaultdict(int)
    for kind, status, at, currency, n, amount in agreements:
        if currency:
            values[currency] += amount
        if at:
            at_event += n
            if currency:
                at_event_values[currency] += amount
    return {
        "members": {"total": sum(n for *_, n, _ in members),
                    "by_country": _counts((c, n) for c, _, n, _ in members),
                    "by_kind": _counts((k, n) for _, k, n, _ in members)},
        "technologies": {"total": sum(n for *_, n, _ in technologies),
                         "by_field": _counts((f, n) for f, n, _ in technology_fields if f),
                         "by_trl": _counts((int(trl), n) for trl, _, n, _ in technologies),
                         "by_stage": _counts((stage, n) for _, stage, n, _ in technologies)},
        "demands": {"total": sum(n for f, n, _ in demands if not f),
                    "by_field": _counts((f, n) for f, n, _ in demands if f)},
        "agreements": {"total": sum(n for *_, n, _ in agreements),
                       "by_kind": _counts((k, n) for k, *_, n, _ in agreements),
                       "by_status": _counts((st, n) for _, st, *_, n, _ in agreements),
                       "values": money(values)},
        "events": {"total": sum(n for _, n, _ in events),
                   "by_kind": _counts((k, n) for k, n, _ in events),
                   "agreements_signed": at_event, "agreements_signed_values": money(at_event_values)},
        "enterprises_served": served,
    }


# -- the technology funnel -------------------------------------------------------------------

#: the stages a technology moves through, in order; ``withdrawn`` stands apart
FUNNEL_STAGES = tuple(s for s in STAGES if s != "withdrawn")
_RANK = {stage: i for i, stage in enumerate(FUNNEL_STAGES)}


class _Funnel:
    """Live technologies per stage they are at, then summed into the stages reached."""

    def __init__(self) -> None:
        self.at = [0] * len(FUNNEL_STAGES)
        self.withdrawn = 0

    def add(self, stage: str, n: int) -> None:
        if stage in _RANK:
            self.at[_RANK[stage]] += n
        else:
            self.withdrawn += n

    def doc(self) -> dict:
        reached, running = [], 0
        for n in reversed(self.at):
            running += n
            reached.append(running)
        return {"total": sum(self.at) + self.withdrawn,
                "reached": dict(zip(FUNNEL_STAGES, reversed(reached))),
                "at": dict(zip(FUNNEL_STAGES, self.at)),
                "withdrawn": self.withdrawn}


def funnel(store: Store, scope: frozenset[str], country: str | None = None) -> dict:
    """How far the live technologies have come: per stage of ``FUNNEL_STAGES`` the number
    that have reached it (a technology at a stage counts for it and every earlier one) and
    the number at it, withdrawn ones apart; overall, by owner's country and by field.

    Read from the tallies' technology cells (c1 owner's country, k2 stage, field), so it is
    the technologies as the node holds them now, as a reader of ``scope`` sees them (an
    owner hidden from the reader is country ZZ). ``country`` narrows it to owners there. A
    technology in several fields counts once in each of them. A withdrawn technology counts
    as withdrawn only: its cells do not say how far it had come.
    """
    rows = store.tally("technology", scope, group=("c1", "k2", "field"),
                       where={} if country is None else {"c1": country})
    overall: _Funnel = _Funnel()
    by_country: dict[str, _Funnel] = defaultdict(_Funnel)
    by_field: dict[str, _Funnel] = defaultdict(_Funnel)
    for c, stage, f, n, _amount in rows:
        if f:
            by_field[f].add(stage, n)
        else:
            overall.add(stage, n)
            by_country[c].add(stage, n)
    return {"stages": list(FUNNEL_STAGES), **overall.doc(),
            "by_country": {c: x.doc() for c, x in sorted(by_country.items())},
            "by_field": {f: x.doc() for f, x in sorted(by_field.items())}}
