"""The Neo4j store: the Store protocol on a Neo4j 5 database (one server or a cluster).

``Neo4jStore.from_url("neo4j://user:password@host:7687?database=neo4j")``. Reads go through
the driver's ``execute_query`` with ``routing_`` and ``database_``, so a ``neo4j://`` URI
of a cluster sends reads to followers and writes to the leader without other changes; a
traversal's several reads share one read transaction. ``apply`` runs in one explicit write
transaction (a streamed batch cannot be replayed, so it is never retried; the caller sees a
``StoreError`` and may send the batch again: apply is idempotent).

The driver is created per process on first use: a store object made before a fork
(gunicorn's master) creates a fresh driver in each worker and never touches the parent's
sockets. Every driver error leaves as a ``StoreError`` whose message clients never see;
the cause is logged.

Server settings: a batch is one transaction, and Neo4j keeps a transaction's changes on its
heap until commit — about 20 KiB per record with its edges and index entries (measured with
``SHOW TRANSACTIONS``: 10^5 technologies ≈ 2 GiB) — so the heap and
``dbms.memory.transaction.total.max`` (default 70 % of the heap) must hold the largest
batch a caller applies at once, and ``db.memory.transaction.max`` must stay 0 (unlimited)
or above it.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import os
import threading
from importlib.metadata import PackageNotFoundError, version
from typing import Iterable, Iterator, Mapping
from urllib.parse import parse_qs, unquote, urlsplit

import neo4j
from neo4j import GraphDatabase, RoutingControl
from neo4j.exceptions import DriverError, Neo4jError

from jembatan.network import errors
from jembatan.network.ids import KINDS
from jembatan.network.vocab import VISIBILITIES

from . import neo4j_graph, neo4j_query, neo4j_search, neo4j_tallies, tallies
from . import quarantine as quarantine_rules
from .cursor import CursorCodec
from .filters import (check_changes_limit, check_events, check_query, check_scope,
                      check_search_text)
from .neo4j_apply import BatchWriter
from .neo4j_schema import META_KEY, count_key, new_epoch, setup
from .prepare import Prepared
from .store import (LOCAL, PUBLIC, QUARANTINE_MAX, REJECTED, BatchRejected, Outcome, Page,
                    QuarantineEntry, Quarantined, RecordQuery, StoredRecord, Subgraph, iter_feed)

log = logging.getLogger(__name__)

from . import NEO4J_SCHEMES as SCHEMES
DEFAULT_DATABASE = "neo4j"
_DRIVER_ERRORS = (Neo4jError, DriverError)
# Drivers inherited across a fork: kept referenced so they are never closed or collected
# (closing one in the child would say goodbye on the parent's sockets); never used again.
_INHERITED: list = []


def _agent() -> str:
    try:
        return f"jembatan/{version('jembatan')}"
    except PackageNotFoundError:  # a source tree that was never installed
        return "jembatan"


def parse_url(url: str) -> tuple[str, tuple[str, str] | None, str]:
    """(driver URI without credentials, (user, password) or None, database) of a store URL.

    A mistake in the URL is a configuration error: ``ValueError`` naming what is wrong,
    never echoing the password.
    """
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"unsupported store URL scheme: {parts.scheme!r}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise ValueError("the store URL has an invalid port") from None
    if not host:
        raise ValueError("the store URL names no host")
    if parts.path not in ("", "/"):
        raise ValueError("the store URL must not have a path; name the database with ?database=")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"database"})
    if unknown:
        raise ValueError(f"unknown store URL parameter: {unknown[0]!r}")
    database = query.get("database", [DEFAULT_DATABASE])
    if len(database) != 1 or not database[0]:
        raise ValueError("?database= must name one database")
    auth = None
    if parts.username is not None or parts.password is not None:
        if not parts.username or parts.password is None:
            raise ValueError("the store URL must give both user and password (user:password@host)")
        auth = (unquote(parts.username), unquote(parts.password))
    netloc = f"[{host}]" if ":" in host else host
    uri = f"{parts.scheme}://{netloc}" + (f":{port}" if port is not None else "")
    return uri, auth, database[0]


def _translated(method):
    """Turn driver errors into StoreError (the driver's message is logged, not shown)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except _DRIVER_ERRORS as exc:
            log.error("neo4j store %s failed: %s", method.__name__, exc, exc_info=exc)
            raise errors.StoreError("The node's database failed.") from exc
    return wrapper


class Neo4jStore:
    """The Store protocol on Neo4j (see ``graph/store.py`` for the semantics)."""

    #: the most quarantine entries kept (``graph.store.QUARANTINE_MAX``)
    quarantine_limit = QUARANTINE_MAX

    def __init__(self, uri: str, auth: tuple[str, str] | None = None, *,
                 database: str = DEFAULT_DATABASE, **driver_config):
        self.uri, self.database = uri, database
        self._auth = auth
        self._config = {"connection_timeout": 10.0, "max_transaction_retry_time": 15.0,
                        "user_agent": _agent(), "notifications_min_severity": "WARNING",
                        # "label/property does not exist yet" on a new database is expected
                        "notifications_disabled_classifications": ["UNRECOGNIZED"],
                        **driver_config}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._pid = os.getpid()
        self._driver_obj = None
        self._closed = False
        try:
            driver = self._driver()
            driver.verify_connectivity()   # fail now, not on the first request, if unreachable
            self._codec = CursorCodec(setup(driver, database))
        except _DRIVER_ERRORS as exc:
            log.error("cannot open neo4j store %s (database %s): %s", uri, database, exc,
                      exc_info=exc)
            self.close()
            raise errors.StoreError("The node's database cannot be opened.") from exc
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_url(cls, url: str, **driver_config) -> "Neo4jStore":
        uri, auth, database = parse_url(url)
        return cls(uri, auth, database=database, **driver_config)

    def __repr__(self) -> str:
        return f"Neo4jStore({self.uri!r}, database={self.database!r})"

    def __enter__(self) -> "Neo4jStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the driver -----------------------------------------------------------------------

    def _driver(self):
        if self._closed:
            raise errors.StoreError("The store is closed.")
        pid = os.getpid()
        driver = self._driver_obj
        if driver is not None and self._pid == pid:
            return driver
        if self._pid != pid:
            # first use after a fork: the parent's lock may be held by a thread that does
            # not exist here, and the parent's driver is not ours to use or close
            self._lock = threading.Lock()
            self._local = threading.local()
            if self._driver_obj is not None:
                _INHERITED.append(self._driver_obj)
            self._driver_obj = None
            self._pid = pid
        with self._lock:
            if self._driver_obj is None:
                self._driver_obj = GraphDatabase.driver(self.uri, auth=self._auth, **self._config)
            return self._driver_obj

    def _read(self, cypher: str, params: dict | None = None) -> list:
        return self._driver().execute_query(cypher, params or {}, routing_=RoutingControl.READ,
                                            database_=self.database).records

    def close(self) -> None:
        """Close this process's driver (a driver inherited through fork is left alone)."""
        self._closed = True
        if self._pid != os.getpid():
            return   # a child that never used the store: the driver is the parent's
        with self._lock:
            driver, self._driver_obj = self._driver_obj, None
        if driver is not None:
            try:
                driver.close()
            except _DRIVER_ERRORS:  # pragma: no cover - closing is best effort
                pass

    # -- writes ---------------------------------------------------------------------------

    def apply(self, envelopes: Iterable[dict | Prepared], *, trusted: bool = False,
              all_or_nothing: bool = False, checkpoint: tuple[str, str] | None = None,
              quarantine: Iterable[Quarantined] = ()) -> list[Outcome]:
        if checkpoint is not None and not (
                isinstance(checkpoint, tuple) and len(checkpoint) == 2
                and all(isinstance(part, str) for part in checkpoint)):
            raise errors.ValidationError("Invalid checkpoint.", errors=[
                {"field": "checkpoint", "detail": "Must be a (peer, cursor) pair of strings."}])
        entries = quarantine_rules.check_entries(quarantine)
        if getattr(self._local, "applying", False):
            # e.g. the envelope generator itself calls apply: the inner call would wait
            # forever for the lock the outer batch holds
            raise RuntimeError("apply() is already running in this thread")
        driver = self._driver()
        self._local.applying = True
        try:
            with driver.session(database=self.database, default_access_mode=neo4j.WRITE_ACCESS,
                                bookmark_manager=driver.execute_query_bookmark_manager) as session:
                with session.begin_transaction() as tx:
                    writer = BatchWriter(tx, trusted=trusted,
                                         peer=checkpoint[0] if checkpoint is not None else None)
                    outcomes = writer.run(envelopes)
                    if all_or_nothing and any(o.status == REJECTED for o in outcomes):
                        tx.rollback()
                        # nothing is written, so no outcome carries a change sequence
                        raise BatchRejected([dataclasses.replace(o, seq=None) for o in outcomes])
                    writer.finish(checkpoint, entries, self.quarantine_limit)
                    tx.commit()
        except _DRIVER_ERRORS as exc:
            log.error("neo4j store apply failed: %s", exc, exc_info=exc)
            raise errors.StoreError("The node's database failed.") from exc
        finally:
            self._local.applying = False
        return outcomes

    # -- reads ----------------------------------------------------------------------------

    @_translated
    def get(self, rid: str, scope: frozenset[str] = LOCAL) -> StoredRecord | None:
        scope = check_scope(scope)
        if not isinstance(rid, str):
            return None
        rows = self._read(neo4j_query.GET, {"rid": rid, "scope": sorted(scope)})
        return neo4j_query.got(rows[0], scope, scope == LOCAL) if rows else None

    @_translated
    def list(self, query: RecordQuery) -> Page:
        return neo4j_query.list_page(self._read, self._codec, check_query(query))

    @_translated
    def search(self, text: str, query: RecordQuery) -> Page:
        return neo4j_search.search_page(self._read, self._codec, check_search_text(text),
                                        check_query(query))

    @_translated
    def changes(self, since: int = 0, limit: int = 1000,
                scope: frozenset[str] = LOCAL) -> list[StoredRecord]:
        if isinstance(since, bool) or not isinstance(since, int) or since < 0:
            raise errors.ValidationError("Invalid position.", errors=[
                {"field": "since", "detail": "Must be an integer ≥ 0."}])
        check_changes_limit(limit)
        scope = check_scope(scope)
        cypher = neo4j_query.CHANGES_LOCAL if scope == LOCAL else neo4j_query.CHANGES
        rows = self._read(cypher, {"since": since, "scope": sorted(scope), "n": limit})
        return neo4j_query.feed(rows[0]["rows"])

    def _meta(self) -> dict:
        rows = self._read("MATCH (m:StoreMeta {key: $key}) RETURN m {.*} AS meta", {"key": META_KEY})
        if not rows:
            raise errors.StoreError("the store's meta node is missing")
        return rows[0]["meta"]

    @_translated
    def last_seq(self) -> int:
        return self._meta()["seq"]

    @_translated
    def get_checkpoint(self, peer: str) -> str | None:
        rows = self._read("MATCH (c:Checkpoint {peer: $peer}) RETURN c.cursor AS cursor",
                          {"peer": peer})
        return rows[0]["cursor"] if rows else None

    @_translated
    def events(self, start: str, end: str, scope: frozenset[str] = PUBLIC, *,
               country: str | None = None, limit: int = 500) -> list[StoredRecord]:
        scope = check_events(start, end, scope, country, limit)
        rows = self._read(neo4j_query.EVENTS, {"start": start, "end": end, "scope": sorted(scope),
                                               "country": country, "n": limit})
        return neo4j_query.records(rows[0]["rows"], newest_first=False, key=lambda row: row[3])

    @_translated
    def counts(self, scope: frozenset[str] = LOCAL) -> dict[str, int]:
        vis = check_scope(scope)
        meta = self._meta()
        return {kind: sum(meta.get(count_key(kind, v), 0) for v in VISIBILITIES if v in vis)
                for kind in KINDS}

    def iter_all(self, scope: frozenset[str] = LOCAL) -> Iterator[StoredRecord]:
        return iter_feed(self, scope)

    @_translated
    def tally(self, measure: str, scope: frozenset[str] = PUBLIC, *, group: tuple[str, ...] = (),
              where: Mapping[str, object] | None = None, years: tuple[int, int] | None = None,
              distinct: str | None = None) -> list[tuple]:
        measure, where = tallies.plan(measure, tuple(group), dict(where or {}), years, distinct)
        return neo4j_tallies.query(self._read, measure, tallies.scope_name(scope), tuple(group),
                                   where, years, distinct)

    # -- federation: quarantine and epoch ---------------------------------------------------

    @_translated
    def quarantined(self, limit: int = 50, before: int | None = None,
                    reason: str | None = None) -> list[QuarantineEntry]:
        quarantine_rules.check_listing(limit, before, reason)
        where = "q.id < $before" + (" AND q.reason = $reason" if reason is not None else "")
        rows = self._read(
            f"MATCH (q:Quarantined) WHERE {where} WITH q ORDER BY q.id DESC LIMIT $n RETURN"
            " collect([q.id, q.at_ms, q.peer, q.rid, q.reason, q.detail, q.text]) AS rows",
            {"before": before if before is not None else 2**63 - 1, "reason": reason,
             "n": limit})
        return [QuarantineEntry(*row) for row in rows[0]["rows"]]

    @_translated
    def quarantine_counts(self) -> dict[str, int]:
        rows = self._read("MATCH (q:Quarantined) RETURN q.reason AS reason, count(*) AS n"
                          " ORDER BY reason")
        return {row["reason"]: row["n"] for row in rows}

    @_translated
    def epoch(self) -> str:
        epoch = self._meta().get("epoch")
        if not epoch:
            raise errors.StoreError("the store's meta node has no epoch")
        return epoch

    @_translated
    def new_epoch(self) -> str:
        epoch = new_epoch()
        self._driver().execute_query("MATCH (m:StoreMeta {key: $key}) SET m.epoch = $epoch",
                                     {"key": META_KEY, "epoch": epoch},
                                     database_=self.database)
        return epoch

    @_translated
    def neighbours(self, rid: str, depth: int = 1, scope: frozenset[str] = PUBLIC,
                   limit: int = 500, kinds: tuple[str, ...] = (),
                   countries: tuple[str, ...] = ()) -> Subgraph:
        scope = check_scope(scope)
        driver = self._driver()
        with driver.session(database=self.database, default_access_mode=neo4j.READ_ACCESS,
                            bookmark_manager=driver.execute_query_bookmark_manager) as session:
            # one transaction for the several reads of a traversal
            return session.execute_read(neo4j_graph.neighbours, rid, depth, scope, limit,
                                        kinds, countries)

    @_translated
    def paths(self, src: str, dst: str, k: int = 3, scope: frozenset[str] = PUBLIC,
              max_hops: int = 4) -> list[list[str]]:
        from . import neo4j_paths

        scope = check_scope(scope)
        driver = self._driver()
        with driver.session(database=self.database, default_access_mode=neo4j.READ_ACCESS,
                            bookmark_manager=driver.execute_query_bookmark_manager) as session:
            return session.execute_read(neo4j_paths.paths, src, dst, k, scope, max_hops)

    @_translated
    def partnerships(self, scope: frozenset[str] = PUBLIC) -> "Partnerships":
        from .neo4j_partners import partnerships

        scope = check_scope(scope)
        driver = self._driver()
        with driver.session(database=self.database, default_access_mode=neo4j.READ_ACCESS,
                            bookmark_manager=driver.execute_query_bookmark_manager) as session:
            # institutions and agreements from one snapshot
            return session.execute_read(partnerships, scope)

    def cypher(self, query: str, params: dict | None = None, *, timeout_s: float,
               max_rows: int) -> "CypherResult":
        """An analyst's read-only Cypher query (``neo4j_cypher.run_read_only``; it turns
        driver errors into domain errors itself)."""
        from .neo4j_cypher import run_read_only

        return run_read_only(self._driver(), self.database, query, params,
                             timeout_s=timeout_s, max_rows=max_rows)
