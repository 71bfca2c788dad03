"""The embedded store: SQLite in one file, WAL, one writer, FTS5 search.

Connections are per thread and per process, opened on first use: a store object created
before a fork (gunicorn's master) opens fresh connections in each worker and never touches
one inherited across the fork. Writes take ``BEGIN IMMEDIATE`` so two writers queue on the
database lock (``busy_timeout``) instead of failing half-way. Every sqlite error leaves as a
``StoreError`` whose message clients never see; the cause is logged.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import os
import sqlite3
import threading
import weakref
from typing import Iterable, Iterator, Mapping

from jembatan.network import errors
from jembatan.network.ids import KINDS

from . import quarantine as quarantine_rules
from . import sqlite_graph, sqlite_query, sqlite_search, sqlite_tallies, tallies
from .sqlite_query import _marks
from .cursor import CursorCodec
from .filters import (check_changes_limit, check_events, check_query, check_scope,
                      check_search_text)
from .sqlite_apply import BatchWriter, save_checkpoint, save_quarantine
from .sqlite_schema import configure, new_epoch, setup
from .store import (LOCAL, PUBLIC, QUARANTINE_MAX, REJECTED, BatchRejected, Outcome, Page,
                    QuarantineEntry, Quarantined, RecordQuery, StoredRecord, Subgraph, iter_feed)

log = logging.getLogger(__name__)

# Connections inherited across a fork: kept referenced so they are never closed (closing
# one in the child could disturb the parent's locks); one per fork, never used again.
_INHERITED: list[sqlite3.Connection] = []


class _Connection(sqlite3.Connection):
    """A subclass so the store can hold weak references to its connections and know which
    process opened each."""
    pid: int = 0


def _translated(method):
    """Turn sqlite errors into StoreError (the driver's message is logged, not shown)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            log.error("sqlite store %s failed: %s", method.__name__, exc, exc_info=exc)
            raise errors.StoreError("The node's database failed.") from exc
    return wrapper


class SqliteStore:
    """The Store protocol on one SQLite file (see ``graph/store.py`` for the semantics)."""

    #: the most quarantine entries kept (``graph.store.QUARANTINE_MAX``)
    quarantine_limit = QUARANTINE_MAX

    def __init__(self, path: str):
        self.path = str(path)
        self._local = threading.local()
        self._connections: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False
        try:
            conn = self._open()
            try:
                self._codec = CursorCodec(setup(conn))
            finally:
                conn.close()
        except sqlite3.Error as exc:
            log.error("cannot open sqlite store %s: %s", self.path, exc, exc_info=exc)
            raise errors.StoreError("The node's database cannot be opened.") from exc

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"

    def __enter__(self) -> "SqliteStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- connections ----------------------------------------------------------------------

    def _open(self) -> _Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               factory=_Connection, cached_statements=256)
        configure(conn)
        conn.pid = os.getpid()
        return conn

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise errors.StoreError("The store is closed.")
        local = self._local
        conn = getattr(local, "conn", None)
        pid = os.getpid()
        if conn is not None and local.pid == pid:
            return conn
        if conn is not None:
            _INHERITED.append(conn)
        if self._pid != pid:
            # first use after a fork: the parent's lock may have been held by a thread that
            # does not exist here, and the parent's connections are not ours to close
            self._lock = threading.Lock()
            self._connections = weakref.WeakSet()
            self._pid = pid
        conn = self._open()
        local.conn, local.pid = conn, pid
        with self._lock:
            self._connections.add(conn)
        return conn

    def close(self) -> None:
        """Close every connection this process opened (in any thread)."""
        self._closed = True
        pid = os.getpid()
        with self._lock:
            conns = list(self._connections)
            self._connections = weakref.WeakSet()
        self._local.conn = None
        for conn in conns:
            if conn.pid != pid:
                continue
            try:
                conn.close()
            except sqlite3.Error:  # pragma: no cover - closing is best effort
                pass

    # -- writes ---------------------------------------------------------------------------

    def apply(self, envelopes: Iterable[dict], *, trusted: bool = False,
              all_or_nothing: bool = False, checkpoint: tuple[str, str] | None = None,
              quarantine: Iterable[Quarantined] = ()) -> list[Outcome]:
        if checkpoint is not None and not (
                isinstance(checkpoint, tuple) and len(checkpoint) == 2
                and all(isinstance(part, str) for part in checkpoint)):
            raise errors.ValidationError("Invalid checkpoint.", errors=[
                {"field": "checkpoint", "detail": "Must be a (peer, cursor) pair of strings."}])
        entries = quarantine_rules.check_entries(quarantine)
        conn = self._conn()
        if conn.in_transaction:
            # e.g. the envelope generator itself calls apply: the inner call must not commit
            # or roll back the outer batch
            raise RuntimeError("apply() is already running in this thread")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            log.error("sqlite store cannot start a write: %s", exc)
            raise errors.StoreError("The node's database is busy or failed.") from exc
        try:
            writer = BatchWriter(conn, trusted=trusted,
                                 peer=checkpoint[0] if checkpoint is not None else None)
            outcomes = writer.run(envelopes)
            if all_or_nothing and any(o.status == REJECTED for o in outcomes):
                # nothing is written, so no outcome carries a change sequence
                raise BatchRejected([dataclasses.replace(o, seq=None) for o in outcomes])
            if checkpoint is not None:
                save_checkpoint(conn, *checkpoint)
            save_quarantine(conn, writer.refused + entries, quarantine_rules.now_ms(),
                            self.quarantine_limit)
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:  # pragma: no cover - the connection is gone anyway
                    log.exception("rollback failed")
            if isinstance(exc, sqlite3.Error):
                log.error("sqlite store apply failed: %s", exc, exc_info=exc)
                raise errors.StoreError("The node's database failed.") from exc
            raise
        return outcomes

    # -- reads ----------------------------------------------------------------------------

    @_translated
    def get(self, rid: str, scope: frozenset[str] = LOCAL) -> StoredRecord | None:
        scope = check_scope(scope)
        vis = sorted(scope)
        row = self._conn().execute(
            "SELECT r.envelope, r.seq, r.hash, r.visibility, r.shadow_vis, r.shadow_hash, r.shadow"
            " FROM nodes n JOIN records r ON r.id = n.nid WHERE n.id = ?"
            f" AND (r.visibility IN ({_marks(vis)}) OR r.shadow_vis IN ({_marks(vis)}))",
            (rid, *vis, *vis)).fetchone()
        if row is None:
            return None
        text, seq, digest, visibility, _, shadow_hash, shadow = row
        if visibility not in scope:   # out of scope, but its shadow is not
            return StoredRecord(None, seq, shadow_hash, text=shadow)
        return StoredRecord(None, seq, digest, text=text,
                            shadow=shadow if scope == LOCAL else None)

    @_translated
    def list(self, query: RecordQuery) -> Page:
        return sqlite_query.list_page(self._conn(), self._codec, check_query(query))

    @_translated
    def search(self, text: str, query: RecordQuery) -> Page:
        return sqlite_search.search_page(self._conn(), self._codec, check_search_text(text),
                                        check_query(query))

    @_translated
    def changes(self, since: int = 0, limit: int = 1000,
                scope: frozenset[str] = LOCAL) -> list[StoredRecord]:
        if isinstance(since, bool) or not isinstance(since, int) or since < 0:
            raise errors.ValidationError("Invalid position.", errors=[
                {"field": "since", "detail": "Must be an integer ≥ 0."}])
        check_changes_limit(limit)
        scope = check_scope(scope)
        if scope == LOCAL:   # every record in scope, with its shadow
            rows = self._conn().execute(
                "SELECT envelope, seq, hash, shadow FROM records WHERE seq > ?"
                " ORDER BY seq LIMIT ?", (since, limit)).fetchall()
            return [StoredRecord(None, seq, digest, text=env, shadow=shadow)
                    for env, seq, digest, shadow in rows]
        vis = sorted(scope)
        marks = _marks(vis)
        # a record outside the scope comes as its shadow when the shadow is within it
        rows = self._conn().execute(
            f"SELECT CASE WHEN visibility IN ({marks}) THEN envelope ELSE shadow END, seq,"
            f" CASE WHEN visibility IN ({marks}) THEN hash ELSE shadow_hash END"
            f" FROM records WHERE seq > ? AND (visibility IN ({marks}) OR shadow_vis IN ({marks}))"
            " ORDER BY seq LIMIT ?", (*vis, *vis, since, *vis, *vis, limit)).fetchall()
        return [StoredRecord(None, seq, digest, text=env) for env, seq, digest in rows]

    @_translated
    def last_seq(self) -> int:
        return self._conn().execute("SELECT COALESCE(MAX(seq), 0) FROM records").fetchone()[0]

    @_translated
    def get_checkpoint(self, peer: str) -> str | None:
        row = self._conn().execute("SELECT cursor FROM checkpoints WHERE peer = ?",
                                   (peer,)).fetchone()
        return row[0] if row else None

    @_translated
    def events(self, start: str, end: str, scope: frozenset[str] = PUBLIC, *,
               country: str | None = None, limit: int = 500) -> list[StoredRecord]:
        vis = sorted(check_events(start, end, scope, country, limit))
        where = ("starts_on BETWEEN ? AND ? AND kind = 'event' AND deleted = 0"
                 f" AND visibility IN ({_marks(vis)})")
        params: list = [start, end, *vis]
        if country is not None:
            where += " AND country = ?"
            params.append(country)
        rows = self._conn().execute(
            f"SELECT envelope, seq, hash FROM records WHERE {where} ORDER BY starts_on, seq LIMIT ?",
            (*params, limit)).fetchall()
        return [StoredRecord(None, seq, digest, text=env) for env, seq, digest in rows]

    @_translated
    def counts(self, scope: frozenset[str] = LOCAL) -> dict[str, int]:
        vis = sorted(check_scope(scope))
        out = dict.fromkeys(KINDS, 0)
        for kind, n in self._conn().execute(
                f"SELECT kind, SUM(n) FROM counts WHERE visibility IN ({','.join('?' * len(vis))})"
                " GROUP BY kind", vis):
            out[kind] = n
        return out

    def iter_all(self, scope: frozenset[str] = LOCAL) -> Iterator[StoredRecord]:
        return iter_feed(self, scope)

    @_translated
    def tally(self, measure: str, scope: frozenset[str] = PUBLIC, *, group: tuple[str, ...] = (),
              where: Mapping[str, object] | None = None, years: tuple[int, int] | None = None,
              distinct: str | None = None) -> list[tuple]:
        measure, where = tallies.plan(measure, tuple(group), dict(where or {}), years, distinct)
        return sqlite_tallies.query(self._conn(), measure, tallies.scope_name(scope), tuple(group),
                                    where, years, distinct)

    # -- federation: quarantine and epoch ---------------------------------------------------

    @_translated
    def quarantined(self, limit: int = 50, before: int | None = None,
                    reason: str | None = None) -> list[QuarantineEntry]:
        quarantine_rules.check_listing(limit, before, reason)
        where, params = ["id < ?"], [before if before is not None else 2**63 - 1]
        if reason is not None:
            where.append("reason = ?")
            params.append(reason)
        rows = self._conn().execute(
            "SELECT id, at_ms, peer, rid, reason, detail, text FROM quarantine"
            f" WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?", (*params, limit))
        return [QuarantineEntry(*row) for row in rows]

    @_translated
    def quarantine_counts(self) -> dict[str, int]:
        return dict(self._conn().execute(
            "SELECT reason, COUNT(*) FROM quarantine GROUP BY reason ORDER BY reason"))

    @_translated
    def epoch(self) -> str:
        row = self._conn().execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()
        if row is None:
            raise errors.StoreError("The node's database has no epoch.")
        return row[0]

    @_translated
    def new_epoch(self) -> str:
        epoch = new_epoch()
        conn = self._conn()
        if conn.in_transaction:   # it would join (and share the fate of) a running batch
            raise RuntimeError("new_epoch() inside apply()")
        conn.execute("UPDATE meta SET value = ? WHERE key = 'epoch'", (epoch,))   # autocommit
        return epoch

    @_translated
    def neighbours(self, rid: str, depth: int = 1, scope: frozenset[str] = PUBLIC,
                   limit: int = 500, kinds: tuple[str, ...] = (),
                   countries: tuple[str, ...] = ()) -> Subgraph:
        scope = check_scope(scope)
        conn = self._conn()
        conn.execute("BEGIN")  # one snapshot for the several reads of a traversal
        try:
            return sqlite_graph.neighbours(conn, rid, depth, scope, limit, kinds, countries)
        finally:
            conn.execute("COMMIT")

    @_translated
    def paths(self, src: str, dst: str, k: int = 3, scope: frozenset[str] = PUBLIC,
              max_hops: int = 4) -> list[list[str]]:
        from . import sqlite_paths

        scope = check_scope(scope)
        conn = self._conn()
        conn.execute("BEGIN")  # one snapshot for the several reads of a search
        try:
            return sqlite_paths.paths(conn, src, dst, k, scope, max_hops)
        finally:
            conn.execute("COMMIT")

    @_translated
    def partnerships(self, scope: frozenset[str] = PUBLIC) -> "Partnerships":
        from .sqlite_partners import partnerships

        scope = check_scope(scope)
        conn = self._conn()
        conn.execute("BEGIN")  # institutions and agreements from one snapshot
        try:
            return partnerships(conn, scope)
        finally:
            conn.execute("COMMIT")
