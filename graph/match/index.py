"""The match index: every live technology and demand of a store as arrays the scorer reads
in one pass, kept up to date from the store's changes feed.

Each side (technologies, demands) is a *base* segment built once and a *delta* segment of the
records changed since, rebuilt from those records alone on the next read; a record changed
again is marked dead in the segment that held it. When the delta grows past
``MERGE_SHARE`` of the base (or ``MERGE_MIN`` rows), the two are merged and the dead rows
dropped. Text is kept inverted (feature × row, CSR): scoring a query reads only the posting
lists of the query's own features. The text encoder's IDF is learnt at the first build and
kept; ``rebuild`` learns it again.

A segment's arrays are never changed once published except ``alive`` (a bool store, which a
reader tolerates seeing either side of), so readers take no lock; ``refresh`` holds one.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
from scipy import sparse

from jembatan.network import vocab

from ..store import LOCAL, iter_feed
from .concepts import Spotter, default_spotter
from .encoders import TextEncoder, encoder as make_encoder
from .features import Features, features

SIDES = ("technology", "demand")
VIS = {v: i for i, v in enumerate(vocab.VISIBILITIES)}       # public 0, alliance 1, private 2
MERGE_SHARE = 0.05
MERGE_MIN = 2000
_COUNTRY = {c: i + 1 for i, c in enumerate(sorted(vocab.countries()))}   # 0: unknown
_CODE = {i: c for c, i in _COUNTRY.items()}


@dataclass
class Segment:
    rids: list[str]
    alive: np.ndarray            # bool
    vis: np.ndarray              # int8, VIS
    party: np.ndarray            # int32, institution index
    fields: np.ndarray           # int64 bit mask (features.FIELD_BITS)
    nfields: np.ndarray          # int8, number of fields
    trl: np.ndarray              # int8
    modes: np.ndarray            # int16 bit mask, 0: none named
    countries: sparse.csc_matrix  # rows × countries, a demand's countries of interest
    ncountries: np.ndarray       # int16
    text: object                 # inverted CSR (features × rows) or dense rows × dims
    concepts: sparse.csr_matrix  # inverted (concepts × rows), idf-weighted, rows normalised
    row_of: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rids)


class Institutions:
    """Institution rid → index, with each institution's country and visibility."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.rids: list[str] = []
        self.country = np.zeros(1024, np.int16)
        self.vis = np.zeros(1024, np.int8)

    def id(self, rid: str) -> int:
        i = self.index.get(rid)
        if i is None:
            i = self.index[rid] = len(self.index)
            self.rids.append(rid)
            if i >= len(self.country):
                self.country = np.resize(self.country, 2 * i)
                self.vis = np.resize(self.vis, 2 * i)
                self.country[i:] = 0
            # unknown until the record arrives: invisible to every reader but the node itself
            self.vis[i] = VIS["private"]
        return i

    def country_of(self, rid: str, scope: frozenset[str]) -> str | None:
        """The institution's country, if a reader of ``scope`` may see the institution."""
        i = self.index.get(rid)
        if i is None or self.vis[i] not in {VIS[v] for v in scope}:
            return None
        return _CODE.get(int(self.country[i]))

    def update(self, envelope: dict) -> None:
        i = self.id(envelope["rid"])
        body = envelope.get("body")
        if envelope.get("deleted") or not body:
            self.country[i], self.vis[i] = 0, VIS["private"]
        else:
            self.country[i] = _COUNTRY.get(body.get("country", ""), 0)
            self.vis[i] = VIS[envelope.get("visibility", "public")]


class MatchIndex:
    def __init__(self, encoder: TextEncoder | None = None, spotter: Spotter | None = None):
        self.encoder = encoder or make_encoder("tfidf")
        self.spotter = spotter or default_spotter()
        self.concept_ids = {cid: i for i, cid in enumerate(self.spotter.concepts)}
        self.concept_idf = np.ones(len(self.concept_ids), np.float32)
        self.institutions = Institutions()
        self.segments: dict[str, tuple[Segment, ...]] = {s: () for s in SIDES}
        self.seq = -1
        self.store_epoch: str | None = None
        self.built_at = 0.0
        self._pending: dict[str, dict[str, Features]] = {s: {} for s in SIDES}
        self._lock = threading.Lock()

    # -- building -------------------------------------------------------------------------

    def build(self, records: Iterable[dict], seq: int = 0) -> "MatchIndex":
        """Index every record of an iteration (envelopes in seq order), learning the IDF."""
        found: dict[str, dict[str, Features]] = {s: {} for s in SIDES}
        for env in records:
            self._take(env, found)
        everything = [f for side in SIDES for f in found[side].values()]
        self.encoder.fit([f.text for f in everything] or [""])
        spots = {f.rid: self.spotter.spot(f.text) for f in everything}
        df = np.zeros(len(self.concept_ids), np.float64)
        for concepts in spots.values():
            for cid in concepts:
                df[self.concept_ids[cid]] += 1
        n = max(len(everything), 1)
        self.concept_idf = (np.log((1 + n) / (1 + df)) + 1).astype(np.float32)
        for side in SIDES:
            self.segments[side] = (self._segment(list(found[side].values()), spots),)
            self._pending[side] = {}
        self.seq = seq
        self.built_at = time.time()
        return self

    @classmethod
    def from_store(cls, store, encoder: TextEncoder | None = None) -> "MatchIndex":
        seq = store.last_seq()
        index = cls(encoder)
        index.store_epoch = store.epoch()
        return index.build((r.envelope for r in iter_feed(store, LOCAL)), seq)

    def _take(self, env: dict, found: dict[str, dict[str, Features]]) -> None:
        kind = env.get("kind")
        if kind == "institution":
            self.institutions.update(env)
            return
        if kind not in found:
            return
        found[kind].pop(env["rid"], None)
        f = features(env)
        if f is not None:
            found[kind][f.rid] = f

    def _segment(self, rows: list[Features], spots: dict[str, dict] | None = None) -> Segment:
        n = len(rows)
        inst = self.institutions
        party = np.fromiter((inst.id(f.party) if f.party else -1 for f in rows), np.int32, n)
        country_rows, country_cols = [], []
        for i, f in enumerate(rows):
            for c in f.countries:
                if c in _COUNTRY:
                    country_rows.append(i)
                    country_cols.append(_COUNTRY[c])
        countries = sparse.csc_matrix(
            (np.ones(len(country_rows), np.int8), (country_rows, country_cols)),
            shape=(n, len(_COUNTRY) + 1))
        texts = [f.text for f in rows]
        if self.encoder.dense:
            text = self.encoder.encode(texts) if n else np.zeros((0, 1), np.float32)
        else:
            text = self.encoder.encode(texts).T.tocsr() if n else sparse.csr_matrix((1, 0))
        spots = spots or {}
        concepts = self.concept_matrix([spots.get(f.rid) or self.spotter.spot(f.text) for f in rows])
        return Segment(
            rids=[f.rid for f in rows], alive=np.ones(n, bool),
            vis=np.fromiter((VIS[f.visibility] for f in rows), np.int8, n), party=party,
            fields=np.fromiter((f.field_mask for f in rows), np.int64, n),
            nfields=np.fromiter((len(set(f.fields)) for f in rows), np.int8, n),
            trl=np.fromiter((f.trl for f in rows), np.int8, n),
            modes=np.fromiter((f.mode_mask for f in rows), np.int16, n),
            countries=countries, ncountries=np.asarray(countries.getnnz(axis=1), np.int16),
            text=text, concepts=concepts.T.tocsr(),
            row_of={f.rid: i for i, f in enumerate(rows)})

    def concept_matrix(self, spotted: list[dict]) -> sparse.csr_matrix:
        """Rows of idf-weighted, L2-normalised concept indicators."""
        indptr, cols = [0], []
        for concepts in spotted:
            cols.extend(self.concept_ids[c] for c in concepts)
            indptr.append(len(cols))
        cols_a = np.asarray(cols, np.int32)
        data = self.concept_idf[cols_a] if len(cols_a) else np.zeros(0, np.float32)
        m = sparse.csr_matrix((data, cols_a, np.asarray(indptr)),
                              shape=(len(spotted), len(self.concept_ids)), dtype=np.float32)
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        norms[norms == 0] = 1
        return sparse.csr_matrix(sparse.diags(1 / norms) @ m, dtype=np.float32)

    # -- keeping up -------------------------------------------------------------------------

    def refresh(self, store) -> None:
        """Apply the store's changes since the index was built or last refreshed."""
        if store.last_seq() == self.seq:
            return
        with self._lock:
            if store.epoch() != self.store_epoch and self.store_epoch is not None:
                fresh = MatchIndex.from_store(store, self.encoder)
                self.__dict__.update({k: v for k, v in fresh.__dict__.items() if k != "_lock"})
                return
            changed = False
            while True:
                records = store.changes(self.seq, 1000, LOCAL)
                for rec in records:
                    changed |= self._apply(rec.envelope)
                if records:
                    self.seq = records[-1].seq
                if len(records) < 1000:
                    break
            if changed:
                self._publish()

    def _apply(self, env: dict) -> bool:
        kind = env.get("kind")
        if kind == "institution":
            self.institutions.update(env)
            return False
        if kind not in self._pending:
            return False
        rid = env["rid"]
        for seg in self.segments[kind]:
            row = seg.row_of.get(rid)
            if row is not None:
                seg.alive[row] = False
        self._pending[kind].pop(rid, None)
        f = features(env)
        if f is not None:
            self._pending[kind][rid] = f
        return True

    def _publish(self) -> None:
        for side in SIDES:
            base = self.segments[side][0] if self.segments[side] else self._segment([])
            pending = list(self._pending[side].values())
            if len(pending) > max(MERGE_MIN, MERGE_SHARE * len(base)):
                live = [i for i in range(len(base)) if base.alive[i]]
                base = self._merge(base, live, self._segment(pending))
                self._pending[side] = {}
                self.segments[side] = (base,)
            else:
                self.segments[side] = (base, self._segment(pending))

    def _merge(self, base: Segment, live: list[int], delta: Segment) -> Segment:
        keep = np.asarray(live, np.int64)

        def cat(a, b):
            return np.concatenate([a[keep], b])
        dense = self.encoder.dense
        text = (np.vstack([base.text[keep], delta.text]) if dense else
                sparse.hstack([base.text[:, keep], delta.text], format="csr"))
        rids = [base.rids[i] for i in live] + delta.rids
        return Segment(
            rids=rids, alive=np.ones(len(rids), bool), vis=cat(base.vis, delta.vis),
            party=cat(base.party, delta.party), fields=cat(base.fields, delta.fields),
            nfields=cat(base.nfields, delta.nfields), trl=cat(base.trl, delta.trl),
            modes=cat(base.modes, delta.modes),
            countries=sparse.vstack([base.countries[keep], delta.countries], format="csc"),
            ncountries=cat(base.ncountries, delta.ncountries), text=text,
            concepts=sparse.hstack([base.concepts[:, keep], delta.concepts], format="csr"),
            row_of={rid: i for i, rid in enumerate(rids)})

    # -- reading ----------------------------------------------------------------------------

    def size(self, side: str) -> int:
        return sum(int(seg.alive.sum()) for seg in self.segments[side])

    def memory(self) -> int:
        """Bytes held by the arrays (not counting Python objects such as the rid lists)."""
        total = 0
        for segs in self.segments.values():
            for seg in segs:
                for value in seg.__dict__.values():
                    if isinstance(value, np.ndarray):
                        total += value.nbytes
                    elif sparse.issparse(value):
                        total += value.data.nbytes + value.indices.nbytes + value.indptr.nbytes
        return total
