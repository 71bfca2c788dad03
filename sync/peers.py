"""The peers a node pulls from, and how each is doing: DIR/peers.db (SQLite, WAL).

Peer state is bookkeeping, not catalogue: it lives beside the record store, never in it (the
checkpoint of a peer's feed is the exception, and stays in the store so that it commits with
the records it covers). ``jembatan peer list`` may read this file while ``jembatan sync
--forever`` writes it: WAL lets readers and the writer proceed together, a busy timeout waits
out the other process's write, and every write is one short ``BEGIN IMMEDIATE`` transaction
(read, decide, update), so two writers never lose each other's counts.

Times are unix seconds (floats) in the database and ISO-8601 UTC in ``Peer.to_dict()``.
"""
from __future__ import annotations

import sqlite3
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping
from urllib.parse import urlsplit

from jembatan.network import errors
from jembatan.network.ids import is_node_id
from jembatan.network.keys import format_time

from .transport import CLOSED, OPEN, Backoff, BreakerState, CircuitBreaker

PEERS_FILE = "peers.db"
TOTALS = ("received", "applied", "unchanged", "stale", "quarantined")
MAX_URL, MAX_ERROR = 2000, 1000
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS peers (
    url          TEXT PRIMARY KEY,
    node_id      TEXT,
    added        REAL NOT NULL,
    last_attempt REAL,
    last_success REAL,
    last_error   TEXT,
    failures     INTEGER NOT NULL DEFAULT 0,
    breaker      TEXT NOT NULL DEFAULT 'closed',
    opened_at    REAL,
    cooldown     REAL NOT NULL DEFAULT 0,
    next_attempt REAL,
    received     INTEGER NOT NULL DEFAULT 0,
    applied      INTEGER NOT NULL DEFAULT 0,
    unchanged    INTEGER NOT NULL DEFAULT 0,
    stale        INTEGER NOT NULL DEFAULT 0,
    quarantined  INTEGER NOT NULL DEFAULT 0,
    lag          INTEGER
);
CREATE INDEX IF NOT EXISTS peers_node_id ON peers (node_id);
"""
_COLUMNS = ("url, node_id, added, last_attempt, last_success, last_error, failures, breaker, "
            "opened_at, cooldown, next_attempt, received, applied, unchanged, stale, "
            "quarantined, lag")


def _invalid(field: str, detail: str) -> errors.ValidationError:
    return errors.ValidationError(detail, errors=[{"field": field, "detail": detail}])


def normalise_url(url: object) -> str:
    """A peer's base URL in its one spelling: http(s), lower-case host, no default port,
    no user name, query, fragment or trailing slash. ``ValidationError`` naming ``url``."""
    if not isinstance(url, str) or not url.strip():
        raise _invalid("url", "A peer URL is required, e.g. https://node.example.org.")
    text = url.strip()
    if len(text) > MAX_URL or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text):
        raise _invalid("url", f"{text[:100]!r} is not a URL (too long, or spaces or control "
                              "characters in it).")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _invalid("url", f"{text!r}: a peer URL must start with http:// or https://.")
    if "@" in parts.netloc:
        raise _invalid("url", f"{text!r}: a peer URL must not carry a user name or password.")
    if "?" in text or "#" in text:
        raise _invalid("url", f"{text!r}: a peer URL must not have a query or fragment.")
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        raise _invalid("url", f"{text!r}: the port is not a number from 0 to 65535.") from None
    if not host:
        raise _invalid("url", f"{text!r}: the URL names no host.")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise _invalid("url", f"{text!r}: the host name is not valid.") from None
    if ":" in host:
        host = f"[{host}]"
    elif not all(c.isalnum() or c in ".-_" for c in host):
        raise _invalid("url", f"{text!r}: the host name is not valid.")
    netloc = host if port in (None, {"http": 80, "https": 443}[scheme]) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


@dataclass(frozen=True)
class Peer:
    url: str
    node_id: str | None
    added: float
    last_attempt: float | None
    last_success: float | None
    last_error: str | None
    failures: int                # consecutive failures
    breaker: BreakerState
    next_attempt: float | None   # None: never tried, due at once
    received: int
    applied: int
    unchanged: int
    stale: int
    quarantined: int
    lag: int | None              # records behind at the last sync, as the peer told us

    @property
    def state(self) -> str:
        """"open" (the breaker holds tries back), "failing" (the last try failed) or "ok"."""
        if self.breaker.state != CLOSED:
            return "open"
        return "failing" if self.failures else "ok"

    @property
    def totals(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in TOTALS}

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "node_id": self.node_id,
            "state": self.state,
            "added": _iso(self.added),
            "last_attempt": _iso(self.last_attempt),
            "last_success": _iso(self.last_success),
            "last_error": self.last_error,
            "failures": self.failures,
            "next_attempt": _iso(self.next_attempt),
            "breaker": {"state": self.breaker.state,
                        "opened_at": _iso(self.breaker.opened_at),
                        "cooldown": self.breaker.cooldown},
            "lag": self.lag,
            "totals": self.totals,
        }


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else format_time(round(seconds * 1000))


def _peer(row: tuple) -> Peer:
    (url, node_id, added, last_attempt, last_success, last_error, failures, breaker,
     opened_at, cooldown, next_attempt, received, applied, unchanged, stale, quarantined,
     lag) = row
    return Peer(url, node_id, added, last_attempt, last_success, last_error, failures,
                BreakerState(breaker, failures, opened_at, cooldown), next_attempt,
                received, applied, unchanged, stale, quarantined, lag)


def _check_stats(stats: Mapping[str, Any] | None) -> dict[str, int]:
    if stats is None:
        return {}
    if not isinstance(stats, Mapping):
        raise _invalid("stats", "stats must map counter names to counts.")
    out = {}
    for name, value in stats.items():
        if name not in TOTALS:
            raise _invalid(f"stats.{name}", f"unknown counter {name!r}; one of "
                                            f"{', '.join(TOTALS)}.")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _invalid(f"stats.{name}", f"{name} must be a whole number ≥ 0.")
        out[name] = value
    return out


class Peers:
    """The peers table of one node (``Peers(DIR / "peers.db")``)."""

    def __init__(self, path: Path | str, *, backoff: Backoff | None = None,
                 breaker: CircuitBreaker | None = None, busy_timeout: float = 10.0):
        self.path = Path(path)
        self.backoff = backoff or Backoff()
        self.breaker = breaker or CircuitBreaker()
        self._busy = busy_timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._tx() as db:
            if db.execute("PRAGMA user_version").fetchone()[0] > SCHEMA_VERSION:
                raise errors.StoreError(f"{self.path} was written by a newer version")
            db.executescript("BEGIN IMMEDIATE;" + _SCHEMA +
                             f"PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")

    # -- connections -----------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=self._busy, isolation_level=None)
        db.execute(f"PRAGMA busy_timeout = {int(self._busy * 1000)}")
        if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable enough for pacing
        return db

    @contextmanager
    def _tx(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        """One short transaction; BEGIN IMMEDIATE for writes, so a read-modify-write never
        interleaves with another process's."""
        try:
            with closing(self._connect()) as db:
                if not write:
                    yield db
                    return
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise errors.StoreError(f"peers database {self.path}: {exc}") from exc

    def _find(self, db: sqlite3.Connection, url_or_id: object) -> tuple | None:
        if not isinstance(url_or_id, str) or not url_or_id.strip():
            raise _invalid("url", "A peer URL or node id is required.")
        key = url_or_id.strip()
        if "://" in key:
            return db.execute(f"SELECT {_COLUMNS} FROM peers WHERE url = ?",
                              (normalise_url(key),)).fetchone()
        rows = db.execute(f"SELECT {_COLUMNS} FROM peers WHERE node_id = ?", (key,)).fetchall()
        if len(rows) > 1:
            raise errors.Conflict(f"node id {key!r} names {len(rows)} peers; use the URL",
                                  errors=[{"field": "url", "detail": "ambiguous node id"}])
        return rows[0] if rows else None

    def _must_find(self, db: sqlite3.Connection, url_or_id: object) -> tuple:
        row = self._find(db, url_or_id)
        if row is None:
            raise errors.NotFound(f"no peer {url_or_id!r}")
        return row

    # -- the table -------------------------------------------------------------------------

    def add(self, url: str, node_id: str | None = None) -> Peer:
        url = normalise_url(url)
        if node_id is not None and not is_node_id(node_id):
            raise _invalid("node_id", f"{node_id!r} is not a node id (lowercase letters, "
                                      "digits and '-').")
        with self._tx(write=True) as db:
            if db.execute("SELECT 1 FROM peers WHERE url = ?", (url,)).fetchone():
                raise errors.Conflict(f"peer {url} is already added",
                                      errors=[{"field": "url", "detail": "already a peer"}])
            if node_id is not None and db.execute(
                    "SELECT 1 FROM peers WHERE node_id = ?", (node_id,)).fetchone():
                raise errors.Conflict(f"node {node_id} is already a peer at another URL",
                                      errors=[{"field": "node_id", "detail": "already a peer"}])
            now = time.time()
            db.execute("INSERT INTO peers (url, node_id, added) VALUES (?, ?, ?)",
                       (url, node_id, now))
            return _peer(db.execute(f"SELECT {_COLUMNS} FROM peers WHERE url = ?",
                                    (url,)).fetchone())

    def remove(self, url_or_id: str) -> None:
        with self._tx(write=True) as db:
            row = self._must_find(db, url_or_id)
            db.execute("DELETE FROM peers WHERE url = ?", (row[0],))

    def get(self, url_or_id: str) -> Peer | None:
        with self._tx() as db:
            row = self._find(db, url_or_id)
        return None if row is None else _peer(row)

    def list(self) -> list[Peer]:
        with self._tx() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM peers ORDER BY url").fetchall()
        return [_peer(r) for r in rows]

    def due(self, now: float) -> list[Peer]:
        """Peers to try at ``now``: the breaker allows it and their backoff has run out."""
        return [p for p in self.list()
                if (p.next_attempt is None or p.next_attempt <= now)
                and self.breaker.allow(p.breaker, now)]

    def record_attempt(self, url: str, *, ok: bool, now: float, error: str | None = None,
                       retry_after: float | None = None, stats: Mapping[str, int] | None = None,
                       lag: int | None = None, node_id: str | None = None) -> Peer:
        """Record one try against a peer: its outcome, what it brought, when to try next.

        A failure moves ``next_attempt`` by the backoff (never sooner than the peer's
        Retry-After, nor while the breaker is open); a success makes the peer due again at
        once. ``stats`` counts are added to the totals whatever the outcome (pages applied
        before a failure still count).
        """
        counts = _check_stats(stats)
        if lag is not None and (isinstance(lag, bool) or not isinstance(lag, int) or lag < 0):
            raise _invalid("lag", "lag must be a whole number ≥ 0.")
        if node_id is not None and not is_node_id(node_id):
            raise _invalid("node_id", f"{node_id!r} is not a node id.")
        if retry_after is not None and not isinstance(retry_after, (int, float)):
            raise _invalid("retry_after", "retry_after must be a number of seconds.")
        with self._tx(write=True) as db:
            peer = _peer(self._must_find(db, url))
            if ok:
                state = self.breaker.record_success(peer.breaker, now)
                next_attempt, last_success, last_error = now, now, None
            else:
                state = self.breaker.record_failure(peer.breaker, now)
                next_attempt = now + self.backoff.delay(state.failures, retry_after)
                if state.state == OPEN and state.opened_at is not None:
                    next_attempt = max(next_attempt, state.opened_at + state.cooldown)
                last_success = peer.last_success
                last_error = (error or "failed")[:MAX_ERROR]
            sets = ", ".join(f"{name} = {name} + ?" for name in counts)
            db.execute(
                "UPDATE peers SET last_attempt = ?, last_success = ?, last_error = ?, "
                "failures = ?, breaker = ?, opened_at = ?, cooldown = ?, next_attempt = ?, "
                "lag = coalesce(?, lag), node_id = coalesce(?, node_id)"
                + (", " + sets if sets else "") + " WHERE url = ?",
                (now, last_success, last_error, state.failures, state.state, state.opened_at,
                 state.cooldown, next_attempt, lag, node_id, *counts.values(), peer.url))
            return _peer(db.execute(f"SELECT {_COLUMNS} FROM peers WHERE url = ?",
                                    (peer.url,)).fetchone())
