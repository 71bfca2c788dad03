"""Applying a batch of envelopes to the SQLite store (inside the caller's write transaction).

The batch streams through in chunks: each chunk is validated (unless trusted), looked up
with one query, decided record by record ("higher version wins"), then written with one
``executemany`` per table. Only the outcome list grows with the batch.
"""
from __future__ import annotations

import itertools
import json
import sqlite3
from collections import defaultdict
from typing import Iterable, Iterator


from . import sqlite_tallies, tallies, textindex
from .prepare import Prepared
from .quarantine import refused
from .rules import decide, prepare_chunk
from .store import Outcome, Quarantined

CHUNK = 1000
_NID_CACHE_MAX = 200_000
class _State:
    """What the store holds for one rid while a chunk is being decided."""
    __slots__ = ("nid", "version", "hash", "pre_live", "pre_kind", "pre_vis", "write")

    def __init__(self, nid, version, hash_, deleted, visibility, kind):
        self.nid = nid
        self.version = version
        self.hash = hash_
        self.pre_live = version is not None and not deleted
        self.pre_kind, self.pre_vis = kind, visibility
        self.write: tuple[Prepared, int] | None = None   # the last accepted write and its seq


class BatchWriter:
    """Applies envelopes on ``conn``, which is inside ``BEGIN IMMEDIATE``."""

    def __init__(self, conn: sqlite3.Connection, *, trusted: bool, peer: str | None = None):
        self.conn = conn
        self.trusted = trusted
        # with a peer, the batch's REJECTED records are collected for the quarantine
        self.peer = peer
        self.refused: list[Quarantined] = []
        self.seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM records").fetchone()[0]
        self.last_nid = conn.execute("SELECT COALESCE(MAX(nid), 0) FROM nodes").fetchone()[0]
        self.nids: dict[str, int] = {}
        self.count_deltas: dict[tuple[str, str], int] = defaultdict(int)
        self.tally_deltas = tallies.Deltas()

    def run(self, envelopes: Iterable[dict | Prepared]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        source: Iterator = iter(envelopes)
        while chunk := list(itertools.islice(source, CHUNK)):
            outcomes.extend(self._chunk(chunk))
        self._flush_counts()
        sqlite_tallies.flush(self.conn, self.tally_deltas)
        return outcomes

    # -- deciding -------------------------------------------------------------------------

    def _chunk(self, raw: list) -> list[Outcome]:
        outcomes, valid = prepare_chunk(raw, self.trusted)
        if len(self.nids) > _NID_CACHE_MAX:
            self.nids.clear()
        states = self._lookup(list(dict.fromkeys(p.rid for _, p in valid)))
        self.seq = decide(valid, states, outcomes, self.seq)
        self._write([(rid, st) for rid, st in states.items() if st.write])
        if self.peer is not None:
            self.refused.extend(refused(self.peer, raw, outcomes, valid))
        return outcomes  # type: ignore[return-value]

    def _lookup(self, rids: list[str]) -> dict[str, _State]:
        """The stored state of each rid, in input order (so new rowids follow input order)."""
        states = {rid: _State(None, None, None, False, None, None) for rid in rids}
        if rids:
            marks = ",".join("?" * len(rids))
            rows = self.conn.execute(
                "SELECT n.id, n.nid, r.version, r.hash, r.deleted, r.visibility, r.kind "
                f"FROM nodes n LEFT JOIN records r ON r.id = n.nid WHERE n.id IN ({marks})", rids)
            for rid, *values in rows:
                states[rid] = _State(*values)
                self.nids[rid] = values[0]
        return states

    # -- writing --------------------------------------------------------------------------

    def _write(self, writes: list[tuple[str, _State]]) -> None:
        if not writes:
            return
        # ordered: new records get increasing numbers in input order, which keeps FTS5's
        # rowids ascending (a smaller rowid forces it to flush its pending segment)
        needed: dict[str, None] = {rid: None for rid, st in writes if st.nid is None}
        for _, st in writes:
            for src, _, dst, _ in st.write[0].edges:
                needed[src] = needed[dst] = None
        nids = self._nids(list(needed), absent={rid for rid, st in writes if st.nid is None})
        for rid, st in writes:
            if st.nid is None:
                st.nid = nids[rid]

        replaced = [st.nid for _, st in writes if st.pre_live]
        old = self._old_envelopes(replaced)
        sqlite_tallies.chunk(self.conn, self.tally_deltas, [
            (st.nid, st.pre_vis, tallies.facts(old[st.nid]) if st.nid in old else None, st.write[0])
            for _, st in writes])
        # FTS5 operations in rowid order, a record's 'delete' of its old text before its insert
        fts_rows = [(nid, 0, "delete", *textindex.record_texts(env)) for nid, env in old.items()]
        record_rows, edge_rows = [], []
        for _, st in writes:
            p, seq = st.write
            shadow = p.shadow or (None, None, None)   # a write without one clears the old one
            record_rows.append((st.nid, p.kind, p.version, p.hlc, p.visibility, int(p.deleted),
                                seq, p.hash, p.text, p.country, p.trl, p.stage, *shadow,
                                p.starts_on))
            owner = st.nid
            for src, typ, dst, props in p.edges:
                edge_rows.append((nids[src], typ, nids[dst], owner, seq, props))
            if p.search is not None:
                fts_rows.append((owner, 1, None, *p.search))
            if st.pre_live:
                self.count_deltas[(st.pre_kind, st.pre_vis)] -= 1
            if not p.deleted:
                self.count_deltas[(p.kind, p.visibility)] += 1
        fts_rows.sort(key=lambda row: (row[0], row[1]))

        c = self.conn
        if replaced:
            c.executemany("DELETE FROM edges WHERE owner = ?", [(n,) for n in replaced])
        c.executemany(
            "INSERT INTO records(id, kind, version, hlc, visibility, deleted, seq, hash, envelope,"
            " country, trl, stage, shadow_vis, shadow_hash, shadow, starts_on)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET"
            " kind = excluded.kind, version = excluded.version, hlc = excluded.hlc,"
            " visibility = excluded.visibility, deleted = excluded.deleted, seq = excluded.seq,"
            " hash = excluded.hash, envelope = excluded.envelope, country = excluded.country,"
            " trl = excluded.trl, stage = excluded.stage, shadow_vis = excluded.shadow_vis,"
            " shadow_hash = excluded.shadow_hash, shadow = excluded.shadow,"
            " starts_on = excluded.starts_on", record_rows)
        if edge_rows:
            # OR IGNORE: a body may name the same target twice (e.g. a demand's repeated field)
            c.executemany("INSERT OR IGNORE INTO edges(src, type, dst, owner, seq, props) "
                          "VALUES (?,?,?,?,?,?)", edge_rows)
        if fts_rows:
            # the hidden first column is FTS5's command: 'delete', or NULL for an insert
            c.executemany("INSERT INTO search(search, rowid, title, body) VALUES (?, ?, ?, ?)",
                          [(cmd, nid, title, body) for nid, _, cmd, title, body in fts_rows])

    def _nids(self, ids: list[str], absent: set[str]) -> dict[str, int]:
        """Node numbers for ``ids``, creating the nodes that do not exist yet (``absent``
        ones are known not to exist: the lookup of the chunk's rids just said so)."""
        cache = self.nids
        missing = [i for i in ids if i not in cache]
        unknown = [i for i in missing if i not in absent]
        for start in range(0, len(unknown), 5000):
            part = unknown[start:start + 5000]
            marks = ",".join("?" * len(part))
            cache.update(self.conn.execute(
                f"SELECT id, nid FROM nodes WHERE id IN ({marks})", part).fetchall())
        new = [i for i in missing if i not in cache]
        if new:
            rows = [(self.last_nid + n, i) for n, i in enumerate(new, 1)]
            self.last_nid += len(new)
            self.conn.executemany("INSERT INTO nodes(nid, id) VALUES (?, ?)", rows)
            cache.update((i, nid) for nid, i in rows)
        return cache

    def _old_envelopes(self, nids: list[int]) -> dict[int, dict]:
        """The current (live) versions of these records: their search texts are removed and
        their tallies subtracted before the new versions are written."""
        out = {}
        for start in range(0, len(nids), 5000):
            part = nids[start:start + 5000]
            marks = ",".join("?" * len(part))
            for nid, text in self.conn.execute(
                    f"SELECT id, envelope FROM records WHERE id IN ({marks}) AND deleted = 0", part):
                out[nid] = json.loads(text)
        return out

    def _flush_counts(self) -> None:
        rows = [(kind, vis, n) for (kind, vis), n in self.count_deltas.items() if n]
        if rows:
            self.conn.executemany(
                "INSERT INTO counts(kind, visibility, n) VALUES (?, ?, ?) "
                "ON CONFLICT(kind, visibility) DO UPDATE SET n = n + excluded.n", rows)
        self.count_deltas.clear()


def save_checkpoint(conn: sqlite3.Connection, peer: str, cursor: str) -> None:
    conn.execute("INSERT INTO checkpoints(peer, cursor) VALUES (?, ?) "
                 "ON CONFLICT(peer) DO UPDATE SET cursor = excluded.cursor", (peer, cursor))


def save_quarantine(conn: sqlite3.Connection, entries: list[Quarantined], at_ms: int,
                    limit: int) -> None:
    """Insert the entries, then drop the oldest beyond ``limit`` (ids are never reused, so
    every id at or below the newest minus ``limit`` is older than the ``limit`` newest)."""
    if not entries:
        return
    conn.executemany(
        "INSERT INTO quarantine(at_ms, peer, rid, reason, detail, text) VALUES (?,?,?,?,?,?)",
        [(at_ms, q.peer, q.rid, q.reason, q.detail, q.text) for q in entries])
    conn.execute("DELETE FROM quarantine WHERE id <= (SELECT MAX(id) FROM quarantine) - ?",
                 (limit,))
