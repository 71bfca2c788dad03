"""Matchmaking: technologies ranked for a demand, demands for a technology, with reasons.

    matcher = Matcher("tfidf")                  # or "sentence-transformers:<model>"
    result = matcher.match(store, rid, PUBLIC, limit=10, lang="th")

The first call on a store builds its index (``index.MatchIndex``) from every record; later
calls apply the store's changes since. ``score`` computes the signals, ``proximity`` the
graph's, ``concepts`` the bridge between languages.
"""
from __future__ import annotations

import threading
import weakref

from jembatan.network import errors
from jembatan.network.ids import parse_rid

from ..store import LOCAL
from . import score
from .concepts import default_spotter
from .encoders import encoder as make_encoder
from .features import OTHER, PARTY, features
from .index import MatchIndex
from .proximity import proximity

MAX_LIMIT = 100


def _invalid(name: str, detail: str) -> errors.ValidationError:
    return errors.ValidationError(f"Invalid {name}.", errors=[{"field": name, "detail": detail}])


class Matcher:
    """One match index per store, built on first use and kept up to date."""

    def __init__(self, encoder: str = "tfidf"):
        make_encoder(encoder)           # a bad name fails here, not at the first match
        self.encoder_name = encoder
        self._indexes: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def index(self, store) -> MatchIndex:
        with self._lock:
            index = self._indexes.get(store)
            if index is None:
                index = MatchIndex.from_store(store, make_encoder(self.encoder_name))
                self._indexes[store] = index
        index.refresh(store)
        return index

    def match(self, store, rid: str, scope: frozenset[str], *, limit: int = 10,
              lang: str | None = None, weights: dict[str, float] | None = None,
              parties: set[str] | None = None) -> dict:
        """The best ``limit`` records of the other side for the technology or demand ``rid``,
        as a reader of ``scope`` sees them; only those of ``parties`` (institution rids) when
        given (an event's participants)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise _invalid("limit", f"Must be an integer from 1 to {MAX_LIMIT}.")
        try:
            kind = parse_rid(rid).kind
        except (ValueError, TypeError):
            raise _invalid("rid", "Not a well-formed rid.")
        if kind not in PARTY:
            raise _invalid("rid", "Must be a technology or a demand.")
        stored = store.get(rid, scope)
        if stored is None or stored.envelope.get("deleted"):
            raise errors.NotFound(f"No {kind} {rid}.")
        f = features(stored.envelope)
        if f is None:
            raise _invalid("rid", "A withdrawn technology is not matched.")
        index = self.index(store)
        party = store.get(f.party, scope) if f.party else None
        country = (party.envelope.get("body") or {}).get("country") if party else None
        query = score.query_of(index, f, country)
        ranked = score.rank(index, query, scope, limit=limit, weights=weights or score.WEIGHTS,
                            proximity=_safe(proximity(store, scope, kind, rid, f.party)),
                            parties=parties)
        return {"for": {"rid": rid, "kind": kind}, "kind": OTHER[kind],
                "encoder": index.encoder.name, "weights": weights or score.WEIGHTS,
                "results": [self._result(store, index, f, c, scope, lang) for c in ranked]}

    def _result(self, store, index: MatchIndex, f, c: score.Candidate, scope, lang) -> dict:
        other = store.get(c.rid, scope)
        body = other.envelope["body"] if other and other.envelope.get("body") else {}
        of = features(other.envelope) if other else None
        return {"rid": c.rid, "score": round(c.score, 4),
                "signals": {k: round(v, 4) for k, v in c.signals.items()},
                "title": body.get("title") or {}, "party": c.party,
                "reasons": reasons(index, f, of, c, lang, scope) if of else {}}


def _safe(near):
    def call(candidates):
        try:
            return near(candidates)
        except errors.NotFound:        # the party is a stub: nothing is known around it
            return {}
    return call


def reasons(index: MatchIndex, f, of, c: score.Candidate, lang: str | None,
            scope: frozenset[str]) -> dict:
    """Why a candidate matched: shared terms, concepts, fields, modes, TRL, countries, path."""
    demand, tech = (f, of) if f.kind == "demand" else (of, f)
    terms = [t for t in index.encoder.shared(f.text, of.text) if not t.startswith("#")][:10]
    mine, theirs = index.spotter.spot(f.text), index.spotter.spot(of.text)
    concepts = []
    for cid in sorted(mine.keys() & theirs.keys()):
        concept = index.spotter.concepts[cid]
        label = concept.labels.get(lang or "en") or concept.labels.get("en") or next(iter(concept.labels.values()))
        concepts.append({"id": cid, "label": label, "terms": [mine[cid], theirs[cid]]})
    out = {
        "terms": terms, "concepts": concepts,
        "fields": sorted(set(f.fields) & set(of.fields)),
        "trl": {"technology": tech.trl, "minimum": demand.trl or None,
                "fits": not demand.trl or tech.trl >= demand.trl},
        "modes": sorted(set(demand.modes) & set(tech.modes)) if demand.modes else [],
    }
    owner = index.institutions.country_of(tech.party, scope)
    if owner and owner in demand.countries:
        out["countries"] = [owner]
    if c.path:
        out["path"] = c.path
    return out


__all__ = ["Matcher", "MatchIndex", "default_spotter", "score"]
