"""Scoring: every candidate of the other side gets seven signals, each from 0 to 1, and a
weighted sum.

    text        the encoder's cosine between the two texts (every language variant)
    concepts    cosine of the concepts both texts mention (``concepts``): the bridge
                between languages
    fields      shared field codes, over the fewer of the two
    trl         1 when the technology's TRL reaches the demand's minimum (or it names none);
                a third less per missing level
    modes       1 when a transfer mode the demand accepts is offered, 0 when none is, ½ when
                the demand names none
    geography   1 when the technology's owner is in one of the demand's countries of interest,
                0 when not, ½ when the demand names none (or the owner's country is unknown
                to the reader)
    graph       1 when owner and requester are partners (an agreement between them), 0.6
                when they took part in one event or the technology was shown at an event the
                other attended; computed for the best candidates only (``PROXIMITY_POOL``)

A candidate needs some evidence of relevance (text, concepts or fields above 0). Records the
reader may not see, a party's own records and withdrawn technologies are never candidates.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .features import Features
from .index import VIS, MatchIndex, Segment, _COUNTRY

SIGNALS = ("text", "concepts", "fields", "trl", "modes", "geography", "graph")
WEIGHTS = {"text": 0.30, "concepts": 0.30, "fields": 0.20, "trl": 0.06, "modes": 0.04,
           "geography": 0.04, "graph": 0.06}
#: how many of the best candidates (by the other signals) are looked up in the graph
PROXIMITY_POOL = 100


@dataclass
class Candidate:
    rid: str
    party: str
    score: float
    signals: dict[str, float]
    path: list[str] | None = None


@dataclass
class Query:
    """What the scorer needs of the record matched for."""
    features: Features
    text: object                  # the encoder's row (sparse 1 × F, or dense d)
    concepts: sparse.csr_matrix   # 1 × C
    country: int                  # the party's country (index of _COUNTRY), 0 unknown


def query_of(index: MatchIndex, f: Features, country: str | None) -> Query:
    spotted = index.spotter.spot(f.text)
    return Query(f, index.encoder.encode([f.text]), index.concept_matrix([spotted]),
                 _COUNTRY.get(country or "", 0))


def _popcount(a: np.ndarray) -> np.ndarray:
    return np.bitwise_count(a).astype(np.float32)


def _similarity(matrix, q) -> np.ndarray:
    if isinstance(matrix, np.ndarray):
        return matrix @ np.asarray(q).ravel()
    if matrix.shape[1] == 0:
        return np.zeros(0, np.float32)
    return np.asarray((q @ matrix).todense()).ravel()


def segment_signals(index: MatchIndex, seg: Segment, query: Query, scope: frozenset[str],
                    weights: dict[str, float], parties: np.ndarray | None = None,
                    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(mask of eligible rows, signal arrays) for one segment of the other side; with
    ``parties`` (institution indexes), only their records are eligible."""
    f = query.features
    inst = index.institutions
    n = len(seg)
    allowed = np.zeros(len(VIS), bool)
    allowed[[VIS[v] for v in scope]] = True
    own = inst.index.get(f.party, -2)
    mask = seg.alive & allowed[seg.vis] & (seg.party != own)
    if parties is not None:
        mask &= np.isin(seg.party, parties)
    sig: dict[str, np.ndarray] = {}
    sig["text"] = (_similarity(seg.text, query.text) if weights.get("text")
                   else np.zeros(n, np.float32))
    sig["concepts"] = _similarity(seg.concepts, query.concepts)
    qmask = np.int64(f.field_mask)
    shared = _popcount(seg.fields & qmask)
    fewer = np.minimum(seg.nfields, len(set(f.fields))).astype(np.float32)
    sig["fields"] = np.divide(shared, fewer, out=np.zeros(n, np.float32), where=fewer > 0)
    mask &= (sig["text"] > 0) | (sig["concepts"] > 0) | (shared > 0)

    party_vis = inst.vis[np.maximum(seg.party, 0)]
    party_country = np.where(allowed[party_vis], inst.country[np.maximum(seg.party, 0)], 0)
    if f.kind == "demand":                  # rows are technologies
        need = f.trl
        sig["trl"] = (np.ones(n, np.float32) if not need else
                      np.clip(1 - np.maximum(need - seg.trl, 0) / 3, 0, 1).astype(np.float32))
        demand_modes = f.mode_mask
        sig["modes"] = (np.full(n, 0.5, np.float32) if not demand_modes else
                        ((seg.modes & demand_modes) > 0).astype(np.float32))
        wanted = {_COUNTRY[c] for c in f.countries if c in _COUNTRY}
        if not wanted:
            sig["geography"] = np.full(n, 0.5, np.float32)
        else:
            sig["geography"] = np.where(party_country == 0, 0.5,
                                        np.isin(party_country, list(wanted))).astype(np.float32)
    else:                                   # rows are demands
        sig["trl"] = np.where(seg.trl == 0, 1.0,
                              np.clip(1 - np.maximum(seg.trl - f.trl, 0) / 3, 0, 1)).astype(np.float32)
        offered = f.mode_mask
        sig["modes"] = np.where(seg.modes == 0, 0.5, (seg.modes & offered) > 0).astype(np.float32)
        if query.country:
            col = seg.countries[:, query.country].toarray().ravel() > 0
            sig["geography"] = np.where(seg.ncountries == 0, 0.5, col).astype(np.float32)
        else:
            sig["geography"] = np.full(n, 0.5, np.float32)
    sig["graph"] = np.zeros(n, np.float32)
    return mask, sig


def rank(index: MatchIndex, query: Query, scope: frozenset[str], *, limit: int,
         weights: dict[str, float] = WEIGHTS, proximity=None,
         parties: set[str] | None = None) -> list[Candidate]:
    """The best ``limit`` candidates of the other side, best first; only those of
    ``parties`` (institution rids) when given.

    ``proximity(candidates) -> {candidate rid: (value, path)}`` gives the graph signal for
    the pool of best candidates; None leaves it at 0."""
    side = "technology" if query.features.kind == "demand" else "demand"
    pool: list[tuple[float, Segment, int, dict]] = []
    want = max(PROXIMITY_POOL, limit) if proximity else limit
    among = None if parties is None else np.asarray(
        [index.institutions.index[p] for p in parties if p in index.institutions.index], np.int32)
    for seg in index.segments[side]:
        if not len(seg):
            continue
        mask, sig = segment_signals(index, seg, query, scope, weights, among)
        total = sum(weights.get(name, 0) * sig[name] for name in SIGNALS)
        total = np.where(mask, total, -1.0)
        k = min(want, int(mask.sum()))
        if k == 0:
            continue
        top = np.argpartition(-total, k - 1)[:k]
        for row in top:
            pool.append((float(total[row]), seg, int(row),
                         {name: float(sig[name][row]) for name in SIGNALS}))
    pool.sort(key=lambda p: (-p[0], p[1].rids[p[2]]))
    pool = pool[:want]
    inst_rids = index.institutions.rids
    out = []
    for score, seg, row, signals in pool:
        party = inst_rids[seg.party[row]] if seg.party[row] >= 0 else ""
        out.append(Candidate(seg.rids[row], party, score, signals))
    if proximity and out:
        near = proximity(out)
        for c in out:
            value, c.path = near.get(c.rid, (0.0, None))
            c.signals["graph"] = value
            c.score += weights.get("graph", 0) * value
        out.sort(key=lambda c: (-c.score, c.rid))
    return out[:limit]

