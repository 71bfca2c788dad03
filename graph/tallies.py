"""Tallies: the counts behind country flows and the alliance's statistics, kept by the store.

A ministry's flow matrix over a million agreements must answer in milliseconds, so neither
store aggregates records when asked: each keeps a small table of *cells*, every cell a count
``n`` and a sum ``amount`` (in the currency's minor units) under a key of fixed dimensions,

    (scope, measure, c1, c2, k1, k2, k3, year, field, currency)

updated in the same transaction as the records, and a query is a GROUP BY over the cells
(SQL on SQLite, Cypher on Neo4j). The invariant: the cells are the sum, over every live
record, of ``cells(record, the institutions it names as they are now)``. A store keeps it by
subtracting a record's cells before writing it and adding them after, and by doing the same
for the records that name an institution whose country, kind or visibility changes.

Scope: a cell row serves one reader scope (``public``, ``alliance`` or ``local``: the
stores' PUBLIC, ALLIANCE and LOCAL). A record counts in each scope that may see it, and an
institution it names counts with its country and kind only where that institution may be
seen too; elsewhere the country is ``ZZ`` (CLDR's "Unknown Region") and the kind empty. So a
reader never learns of a private record, nor the country of an institution hidden from it.

Measures and their dimensions (unused ones are ``""`` or year 0):

    member      c1 country, k1 institution kind
    technology  c1 owner's country, k1 trl, k2 stage, field (one row per field, and "")
    demand      c1 requester's country, k1 trl_min, field (one row per field, and "")
    agreement   c1 a party's country (one row per distinct country, and "*" once), k1 kind,
                k2 status, k3 "event" when signed at an event, year signed, currency/amount
    flow        c1 provider country, c2 recipient country, k1 agreement kind, k2 provider's
                institution kind, k3 recipient's, year signed, field (per field, and ""),
                currency/amount
    event       c1 country, k1 event kind, year it starts
    served      c1 the enterprise's country, k1 its rid, year: an enterprise party to an
                agreement signed that year, or taking part in an event held that year

Rollups: a few measures also keep coarser copies of their cells, the same cells with some
dimensions blanked ("" or year 0) under an internal measure name (``ROLLUPS``). A query that
names none of a rollup's blanked dimensions reads the rollup instead, so the common
questions (a whole flow matrix, a pair's series, the alliance's statistics) read hundreds of
cells rather than hundreds of thousands.

An agreement is *one* flow: from its lead provider's country to its lead recipient's. The
lead provider is its first party with the role provider, else its first partner; the lead
recipient its first recipient, else its first partner that is not the lead provider, else
its first other party. So a flow matrix sums to the number of agreements. An agreement not
yet signed has year 0: it counts in totals, not in a year range.
"""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, NamedTuple

from jembatan.network import errors
from jembatan.network.vocab import currency_digits

from .store import ALLIANCE, LOCAL, PUBLIC

if TYPE_CHECKING:
    from .prepare import Prepared

#: bumped when what a record contributes changes: the stores then derive every cell again
VERSION = "4"
UNKNOWN = "ZZ"        # CLDR: Unknown Region
ALL = "*"
SCOPES = (("public", PUBLIC), ("alliance", ALLIANCE), ("local", LOCAL))
MEASURES = ("member", "technology", "demand", "agreement", "flow", "event", "served")
DIMENSIONS = ("c1", "c2", "k1", "k2", "k3", "year", "field", "currency")
KEY = ("scope", "measure") + DIMENSIONS
#: the measures whose cells have a field (one per field, and "")
FIELDED = ("technology", "demand", "flow")
#: measure → its rollups, (internal measure, the dimensions it blanks), the coarsest first
ROLLUPS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    measure: tuple((f"{measure}/" + "-".join(blanked), blanked) for blanked in rollups)
    for measure, rollups in {
        "flow": (("k1", "k2", "k3", "year"), ("k1", "k2", "k3"), ("k2", "k3")),
        "technology": (("k1", "k2"),),
        "agreement": (("year",),),
        "served": (("year",),),
    }.items()}
_POSITION = {dim: KEY.index(dim) for dim in DIMENSIONS}
#: the relationship types by which a record names the institutions its cells depend on
DEPENDENT_EDGES = ("OWNS", "SEEKS", "PARTY_TO", "PARTICIPATED_IN")


class Info(NamedTuple):
    """What a record's cells need to know of an institution it names (a live one)."""
    visibility: str
    country: str
    kind: str


Key = tuple  # (scope, measure, c1, c2, k1, k2, k3, year, field, currency)


def scope_name(scope: frozenset[str]) -> str:
    """The cell scope serving a reader of ``scope`` (one of the stores' three)."""
    for name, members in SCOPES:
        if scope == members:
            return name
    raise errors.ValidationError("Invalid scope.", errors=[{
        "field": "scope", "detail": "Tallies serve the scopes PUBLIC, ALLIANCE and LOCAL."}])


def minor_units(money: dict | None) -> tuple[str, int]:
    """(currency, amount in minor units) of a Money body; ("", 0) when there is none."""
    if not money:
        return "", 0
    currency = money["currency"]
    return currency, int(Decimal(str(money["amount"])).scaleb(currency_digits(currency)))


def facts(env: dict) -> tuple | None:
    """What a record contributes, before the institutions it names are looked up: a plain
    tuple (cheap to send between processes); None for a tombstone or an endorsement."""
    body, kind = env.get("body"), env["kind"]
    if env.get("deleted") or body is None:
        return None
    if kind == "institution":
        return ("institution", body["country"], body["kind"])
    if kind == "technology":
        return ("technology", body["owner"], body["trl"], body["stage"], tuple(body["fields"]))
    if kind == "demand":
        return ("demand", body["requester"], body.get("trl_min"), tuple(body["fields"]))
    if kind == "agreement":
        signed = body.get("signed_on")
        currency, amount = minor_units(body.get("value"))
        parties = tuple((p["institution"], p["role"]) for p in body["parties"])
        return ("agreement", body["kind"], body["status"], int(signed[:4]) if signed else 0,
                tuple(body.get("fields", ())), currency, amount, parties, bool(body.get("event")))
    if kind == "event":
        return ("event", body["country"], body["kind"], int(body["starts_on"][:4]),
                tuple(body.get("participants", ())))
    return None


def own_info(visibility: str, fact: tuple | None) -> Info | None:
    """An institution record's own Info (None for anything else or a tombstone)."""
    if fact is None or fact[0] != "institution":
        return None
    return Info(visibility, fact[1], fact[2])


def depends_on(fact: tuple | None) -> tuple[str, ...]:
    """The institutions whose Info the record's cells need."""
    if fact is None:
        return ()
    kind = fact[0]
    if kind in ("technology", "demand"):
        return (fact[1],)
    if kind == "agreement":
        return tuple(rid for rid, _ in fact[7])
    if kind == "event":
        return fact[4]
    return ()


def lead_pair(parties: tuple[tuple[str, str], ...]) -> tuple[str, str]:
    """(lead provider, lead recipient) of an agreement's parties (see the module's rule)."""
    def first(role: str, *, besides: str | None = None) -> str | None:
        return next((rid for rid, r in parties if r == role and rid != besides), None)

    src = first("provider") or first("partner") or parties[0][0]
    dst = (first("recipient", besides=src) or first("partner", besides=src)
           or next(rid for rid, _ in parties if rid != src))
    return src, dst


def cells(fact: tuple | None, visibility: str,
          info: Callable[[str], Info | None]) -> Iterable[tuple[Key, int]]:
    """(key, amount) for each cell the record adds one to, rollups included; ``info`` gives
    the Info of a live institution by rid (None when it is a stub or a tombstone)."""
    for key, amount in _cells(fact, visibility, info):
        yield key, amount
        for name, blanked in ROLLUPS.get(key[1], ()):
            rolled = list(key)
            rolled[1] = name
            for dim in blanked:
                rolled[_POSITION[dim]] = 0 if dim == "year" else ""
            yield tuple(rolled), amount


def plan(measure: str, group: tuple[str, ...], where: Mapping[str, object],
         years: tuple[int, int] | None, distinct: str | None) -> tuple[str, dict]:
    """(measure, where) that a checked query reads: the measure's coarsest rollup that
    blanks no dimension the query names (a year range names ``year``), else the measure
    itself; and ``field = ""`` added for a measure without fields, so that both stores'
    indexes reach the country that follows it. ValueError as ``check_query``."""
    check_query(measure, group, where, years, distinct)
    where = dict(where)
    if measure not in FIELDED:
        where.setdefault("field", "")
    named = {*group, *where, *((distinct,) if distinct else ()), *(("year",) if years is not None else ())}
    for name, blanked in ROLLUPS.get(measure, ()):
        if named.isdisjoint(blanked):
            return name, where
    return measure, where


def _cells(fact: tuple | None, visibility: str,
           info: Callable[[str], Info | None]) -> Iterable[tuple[Key, int]]:
    if fact is None:
        return
    kind = fact[0]
    for scope, members in SCOPES:
        if visibility not in members:
            continue

        def seen(rid: str) -> Info | None:
            i = info(rid)
            return i if i is not None and i.visibility in members else None

        def country(rid: str) -> str:
            i = seen(rid)
            return i.country if i else UNKNOWN

        if kind == "institution":
            yield (scope, "member", fact[1], "", fact[2], "", "", 0, "", ""), 0
        elif kind == "technology":
            c = country(fact[1])
            for f in ("", *fact[4]):
                yield (scope, "technology", c, "", str(fact[2]), fact[3], "", 0, f, ""), 0
        elif kind == "demand":
            c = country(fact[1])
            trl = "" if fact[2] is None else str(fact[2])
            for f in ("", *fact[3]):
                yield (scope, "demand", c, "", trl, "", "", 0, f, ""), 0
        elif kind == "agreement":
            yield from _agreement(scope, fact, seen)
        elif kind == "event":
            yield (scope, "event", fact[1], "", fact[2], "", "", fact[3], "", ""), 0
            for rid in dict.fromkeys(fact[4]):
                i = seen(rid)
                if i is not None and i.kind == "enterprise":
                    yield (scope, "served", i.country, "", rid, "", "", fact[3], "", ""), 0


def _agreement(scope: str, fact: tuple, seen: Callable[[str], Info | None]):
    _, kind, status, year, fields, currency, amount, parties, at_event = fact
    infos = {rid: seen(rid) for rid, _ in parties}
    at = "event" if at_event else ""
    countries = dict.fromkeys(i.country if i else UNKNOWN for i in infos.values())
    for c in (ALL, *countries):
        yield (scope, "agreement", c, "", kind, status, at, year, "", currency), amount
    src, dst = lead_pair(parties)
    s, d = infos[src], infos[dst]
    pc, pk = (s.country, s.kind) if s else (UNKNOWN, "")
    rc, rk = (d.country, d.kind) if d else (UNKNOWN, "")
    for f in ("", *fields):
        yield (scope, "flow", pc, rc, kind, pk, rk, year, f, currency), amount
    for rid, i in infos.items():
        if i is not None and i.kind == "enterprise":
            yield (scope, "served", i.country, "", rid, "", "", year, "", ""), 0


class Deltas:
    """Cell changes collected over a batch, flushed once: ``{key: [n, amount]}``."""

    def __init__(self) -> None:
        self.cells: dict[Key, list[int]] = defaultdict(lambda: [0, 0])

    def add(self, fact: tuple | None, visibility: str, info: Callable[[str], Info | None],
            sign: int) -> None:
        for key, amount in cells(fact, visibility, info):
            cell = self.cells[key]
            cell[0] += sign
            cell[1] += sign * amount

    def rows(self) -> list[tuple]:
        """(key…, dn, damount) of every cell that changed; empties the collection."""
        out = [(*key, dn, da) for key, (dn, da) in self.cells.items() if dn or da]
        self.cells.clear()
        return out


def chunk(deltas: Deltas, writes: list[tuple[object, str | None, tuple | None, "Prepared"]],
          infos: Callable[[list[str]], Mapping[str, Info]],
          dependents: Callable[[list, set], list[tuple[str, tuple]]]) -> None:
    """Collect the cell changes of a chunk of writes, read before the chunk is written.

    ``writes``: (key, old visibility, old facts, new record) per rid, the key being how the
    store names the node (``dependents`` gets keys); old facts are None when the rid held no
    live record. ``infos(rids)``: the Info of the live institutions among them, as stored;
    ``dependents(keys, skip)``: (visibility, facts) of the live records naming those
    institutions, other than the ``skip`` keys. An institution whose Info the chunk changes
    moves its dependents' cells: subtracted as they were, added as they will be.
    """
    changed = [(key, p) for key, old_vis, old_fact, p in writes if p.kind == "institution"
               and own_info(old_vis or "", old_fact) != own_info(p.visibility, p.facts)]
    moved = dependents([key for key, _ in changed], {key for key, *_ in writes}) if changed else []
    needed = [rid for _, _, old_fact, p in writes for f in (old_fact, p.facts) for rid in depends_on(f)]
    needed += [rid for _, f in moved for rid in depends_on(f)]
    before = dict(infos(needed)) if needed else {}
    after = dict(before)
    after.update((p.rid, own_info(p.visibility, p.facts)) for _, p in changed)
    was, now = lookup(before), lookup(after)
    for _, old_vis, old_fact, p in writes:
        if old_fact is not None:
            deltas.add(old_fact, old_vis, was, -1)
        deltas.add(p.facts, p.visibility, now, +1)
    for vis, f in moved:
        deltas.add(f, vis, was, -1)
        deltas.add(f, vis, now, +1)


def check_query(measure: str, group: tuple[str, ...], where: Mapping[str, object],
                years: tuple[int, int] | None, distinct: str | None) -> None:
    """ValueError unless every name is a measure or dimension (they become SQL and Cypher
    identifiers: only these fixed names ever do) and every value a string or integer."""
    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}")
    for dim in (*group, *where, *([distinct] if distinct else [])):
        if dim not in DIMENSIONS:
            raise ValueError(f"unknown dimension {dim!r}")
    for value in where.values():
        values = value if isinstance(value, (tuple, list, frozenset, set)) else (value,)
        if not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values):
            raise ValueError(f"filter values must be strings or integers: {value!r}")
    if years is not None and not (len(years) == 2 and all(isinstance(y, int) for y in years)):
        raise ValueError(f"years must be (first, last): {years!r}")


def lookup(infos: Mapping[str, Info | None]) -> Callable[[str], Info | None]:
    return lambda rid: infos.get(rid)
