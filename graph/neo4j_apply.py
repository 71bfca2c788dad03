"""Applying a batch of envelopes to the Neo4j store, inside the caller's write transaction.

The first statement locks the store's meta node (``SET m.writes = m.writes + 1``): every
writer takes that lock first, so writers queue on it, and the change sequence read next can
be handed out in Python without another writer taking the same numbers; the new sequence
and counts are written back to the meta node before commit. The batch streams through in
chunks: each chunk is validated (unless trusted), looked up with one query, decided record
by record with the SQLite store's rules ("higher version wins"), then written with one
UNWIND statement per label and relationship type. Only the outcome list grows with the
batch (and the transaction state on the server: see the module ``neo4j``).
"""
from __future__ import annotations

import itertools
import json
from collections import defaultdict
from typing import Iterable, Iterator

from jembatan.network import errors

from .neo4j_schema import (COUNT_KEYS, EDGE_PROPS, EDGE_TYPES, KIND_LABELS, META_KEY, NODE_LABELS,
                           OWN_IN, OWN_OUT, RECORD_PROPS, count_key, facets)
from . import neo4j_tallies, tallies
from .prepare import Prepared
from .projection import LABELS, label_of
from .quarantine import now_ms, refused
from .rules import decide, prepare_chunk
from .store import QUARANTINE_MAX, Outcome, Quarantined

CHUNK = 2000
_KNOWN_MAX = 200_000

_LOCK = ("MATCH (m:StoreMeta {key: $key}) SET m.writes = m.writes + 1"
         " RETURN m {.*} AS meta")
# Every lookup by id names its index: plans are cached, and one made while the database was
# still empty (or before a long transaction's writes were counted) scans the whole index.
_SEEK = " USING INDEX SEEK {0}:Node(id)"
_LOOKUP = ("UNWIND $ids AS x MATCH (n:Node {id: x})" + _SEEK.format("n") +
           " RETURN x AS id, n:Record AS rec, n.version AS version, n.hash AS hash,"
           " n.deleted AS deleted, n.visibility AS visibility, n.kind AS kind")
# a record's own edges: the owned type groups on each side, checked by owner
_DROP_OUT = (f"UNWIND $ids AS x MATCH (n:Node {{id: x}})-[e:{'|'.join(OWN_OUT)}]->()"
             + _SEEK.format("n") + " WHERE e.owner = x DELETE e")
_DROP_IN = (f"UNWIND $ids AS x MATCH (n:Node {{id: x}})<-[e:{'|'.join(OWN_IN)}]-()"
            + _SEEK.format("n") + " WHERE e.owner = x DELETE e")
_MERGE_NODES = {label: "UNWIND $ids AS id MERGE (n:Node {id: id})"
                       f" ON CREATE SET n:{label}" for label in NODE_LABELS}
_MERGE_NODES[None] = "UNWIND $ids AS id MERGE (n:Node {id: id})"   # an id of no known kind
# Properties are named one by one (not ``n += map``): the planner then sees no conflict with
# the id it looked up and streams the rows instead of materialising them (Eager).
_WRITE_RECORDS = {
    label: "UNWIND $rows AS r MERGE (n:Node {id: r.id})"
           f" ON CREATE SET n:{label} SET n:Record, "
           + ", ".join(f"n.{key} = r.{key}" for key in RECORD_PROPS)
    for label in KIND_LABELS}


def _create_edges(typ: str) -> str:
    props = ", ".join(f"{key}: e.{key}" for key in ("owner", *EDGE_PROPS.get(typ, ())))
    return ("UNWIND $rows AS e MATCH (a:Node {id: e.s})" + _SEEK.format("a")
            + " MATCH (b:Node {id: e.d})" + _SEEK.format("b") +
            f" CREATE (a)-[:{typ} {{{props}}}]->(b)")


_CREATE_EDGES = {typ: _create_edges(typ) for typ in EDGE_TYPES}
_SAVE_META = "MATCH (m:StoreMeta {key: $key}) SET m += $props"
_SAVE_CHECKPOINT = "MERGE (c:Checkpoint {peer: $peer}) SET c.cursor = $cursor"
_SAVE_QUARANTINE = ("UNWIND $rows AS q CREATE (:Quarantined {id: q.id, at_ms: $at, peer: q.peer,"
                    " rid: q.rid, reason: q.reason, detail: q.detail, text: q.text})")
# ids are handed out under the meta node's lock and never reused: every id at or below the
# newest minus the bound is older than the bound's newest entries
_CUT_QUARANTINE = "MATCH (q:Quarantined) WHERE q.id <= $cut DELETE q"


def _label(node_id: str) -> str | None:
    try:
        return label_of(node_id)
    except (ValueError, KeyError):
        return None


class _State:
    """What the store holds for one rid while a chunk is being decided."""
    __slots__ = ("version", "hash", "pre_live", "pre_kind", "pre_vis", "write")

    def __init__(self, version, hash_, deleted, visibility, kind):
        self.version = version
        self.hash = hash_
        self.pre_live = version is not None and not deleted
        self.pre_kind, self.pre_vis = kind, visibility
        self.write: tuple[Prepared, int] | None = None   # the last accepted write and its seq


class BatchWriter:
    """Applies envelopes in the open write transaction ``tx``; call ``finish`` before commit."""

    def __init__(self, tx, *, trusted: bool, peer: str | None = None):
        self.tx = tx
        self.trusted = trusted
        # with a peer, the batch's REJECTED records are collected for the quarantine
        self.peer = peer
        self.refused: list[Quarantined] = []
        row = tx.run(_LOCK, {"key": META_KEY}).single()
        if row is None:
            raise errors.StoreError("the store's meta node is missing")
        meta = row["meta"]
        if meta.get("tallies") != tallies.VERSION:   # being derived again (neo4j_tallies.rebuild)
            raise errors.StoreError("The node is deriving its statistics again; try again shortly.")
        self.seq = self.start_seq = meta["seq"]
        self.quarantine_seq = meta.get("quarantine_seq", 0)
        self.counts = {key: meta.get(key, 0) for key in COUNT_KEYS}
        self.known: set[str] = set()     # node ids that exist in this transaction
        self.count_deltas: dict[str, int] = defaultdict(int)
        self.tally_deltas = tallies.Deltas()

    def run(self, envelopes: Iterable[dict | Prepared]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        source: Iterator = iter(envelopes)
        while chunk := list(itertools.islice(source, CHUNK)):
            outcomes.extend(self._chunk(chunk))
        return outcomes

    def finish(self, checkpoint: tuple[str, str] | None, quarantine: list[Quarantined] = (),
               quarantine_limit: int = QUARANTINE_MAX) -> None:
        """Write the new sequence, the counts, the checkpoint and the quarantine entries (the
        batch's refused records, then ``quarantine``) in the same transaction, keeping at
        most ``quarantine_limit`` entries."""
        neo4j_tallies.flush(self.tx, self.tally_deltas)
        props = {}
        if self.seq != self.start_seq:
            props["seq"] = self.seq
        entries = self.refused + list(quarantine)
        if entries:
            first = self.quarantine_seq + 1
            self.quarantine_seq += len(entries)
            props["quarantine_seq"] = self.quarantine_seq
            self.tx.run(_SAVE_QUARANTINE, {"at": now_ms(), "rows": [
                {"id": first + n, "peer": q.peer, "rid": q.rid, "reason": q.reason,
                 "detail": q.detail, "text": q.text} for n, q in enumerate(entries)]}).consume()
            self.tx.run(_CUT_QUARANTINE, {"cut": self.quarantine_seq - quarantine_limit}).consume()
        for key, delta in self.count_deltas.items():
            if delta:
                props[key] = self.counts[key] + delta
        if props:
            self.tx.run(_SAVE_META, {"key": META_KEY, "props": props}).consume()
        if checkpoint is not None:
            peer, cursor = checkpoint
            self.tx.run(_SAVE_CHECKPOINT, {"peer": peer, "cursor": cursor}).consume()

    # -- deciding -------------------------------------------------------------------------

    def _chunk(self, raw: list) -> list[Outcome]:
        outcomes, valid = prepare_chunk(raw, self.trusted)
        if len(self.known) > _KNOWN_MAX:
            self.known.clear()
        states = self._lookup(list(dict.fromkeys(p.rid for _, p in valid)))
        self.seq = decide(valid, states, outcomes, self.seq)
        self._write([(rid, st) for rid, st in states.items() if st.write])
        if self.peer is not None:
            self.refused.extend(refused(self.peer, raw, outcomes, valid))
        return outcomes  # type: ignore[return-value]

    def _lookup(self, rids: list[str]) -> dict[str, _State]:
        states = {rid: _State(None, None, False, None, None) for rid in rids}
        if rids:
            for row in self.tx.run(_LOOKUP, {"ids": rids}):
                rid = row["id"]
                self.known.add(rid)
                if row["rec"]:   # else a stub: the node exists, no record yet
                    states[rid] = _State(row["version"], row["hash"], row["deleted"],
                                         row["visibility"], row["kind"])
        return states

    # -- writing --------------------------------------------------------------------------

    def _write(self, writes: list[tuple[str, _State]]) -> None:
        if not writes:
            return
        replaced = [rid for rid, st in writes if st.pre_live]
        old = neo4j_tallies.old_facts(self.tx, replaced) if replaced else {}
        neo4j_tallies.chunk(self.tx, self.tally_deltas, [
            (rid, st.pre_vis, old.get(rid), st.write[0]) for rid, st in writes])
        new_nodes: dict[str | None, dict[str, None]] = defaultdict(dict)
        records, edges = defaultdict(list), defaultdict(list)
        for rid, st in writes:
            p, seq = st.write
            search = p.search
            shadow_vis, shadow_hash, shadow = p.shadow or (None, None, None)   # None: removed
            records[LABELS[p.kind]].append({
                "id": rid, "kind": p.kind, "version": p.version, "hlc": p.hlc,
                "visibility": p.visibility, "deleted": p.deleted, "seq": seq, "hash": p.hash,
                "envelope": p.text, "country": p.country, "trl": p.trl, "stage": p.stage,
                "starts_on": p.starts_on, "props": p.props,
                "search_title": search[0] if search else None,
                "search_body": search[1] if search else None,
                "search_facets": facets(p.kind, p.visibility, seq) if search else None,
                "shadow_vis": shadow_vis, "shadow_hash": shadow_hash, "shadow": shadow})
            self.known.add(rid)
            seen = set()
            for src, typ, dst, props in p.edges:
                # a body may name the same target twice (e.g. a repeated field): one edge
                if (src, typ, dst) in seen:
                    continue
                seen.add((src, typ, dst))
                row = {"s": src, "d": dst, "owner": rid}
                if props:
                    extra = json.loads(props)
                    if not set(extra) <= set(EDGE_PROPS.get(typ, ())):   # the projection grew
                        raise ValueError(f"a {typ} edge has unknown properties {sorted(extra)}")
                    row.update(extra)
                edges[typ].append(row)
                for end in (src, dst):
                    if end not in self.known:
                        new_nodes[_label(end)][end] = None
            if st.pre_live:
                self.count_deltas[count_key(st.pre_kind, st.pre_vis)] -= 1
            if not p.deleted:
                self.count_deltas[count_key(p.kind, p.visibility)] += 1

        # Results of writes are not waited for here: the server works on the last statement
        # while the caller's generator makes the next chunk; an error still surfaces (at the
        # next statement or at commit) and rolls the whole batch back.
        tx = self.tx
        if replaced:
            tx.run(_DROP_OUT, {"ids": replaced})
            tx.run(_DROP_IN, {"ids": replaced})
        for label, rows in records.items():
            tx.run(_WRITE_RECORDS[label], {"rows": rows})
        for label, ids in new_nodes.items():
            tx.run(_MERGE_NODES[label], {"ids": list(ids)})
            self.known.update(ids)
        for typ, rows in edges.items():
            tx.run(_CREATE_EDGES[typ], {"rows": rows})
