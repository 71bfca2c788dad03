"""The SQLite store's schema, connection settings and one-time setup.

    meta(key, value)                 schema_version, cursor_key, tokenizer, tallies, epoch
    nodes(nid, id)                   every graph node id (rids, "country:CN", "field:ict") → an integer;
                                     a record's row in ``records`` and ``search`` uses the same integer
    records(id, kind, version, ...)  the latest copy of each record (tombstones included) with its
                                     canonical JSON, content hash, latest change seq and filter columns
                                     (an event's ``starts_on`` among them, for the calendar)
    edges(src, type, dst, owner)     the graph projection; ``owner`` is the record whose body names the edge,
                                     ``seq`` its latest change
    search(title, body)              FTS5, contentless, tokens from ``textindex`` (ascii tokenizer)
    counts(kind, visibility, n)      live records per kind and visibility, kept by ``apply``
    checkpoints(peer, cursor)        sync progress, written in the same transaction as the records
    tallies(scope, measure, …, n)    the cells behind flows and statistics (``graph.tallies``),
                                     kept by ``apply``
    quarantine(id, at_ms, peer, ...) records refused from peers, at most ``QUARANTINE_MAX``

A record's shadow tombstone (``graph.store``) lives in its row: ``shadow_vis``, ``shadow_hash``
and ``shadow`` (canonical JSON), all NULL when it has none. Schema version 2 added them, the
quarantine and the epoch; version 3 the tallies; version 4 the events' first day. Opening an older file adds what it lacks in
place; the tallies are derived from the records whenever their ``tallies.VERSION`` changes.

A node is a stub when it has no live record (never received, or a tombstone): the graph
shows it with ``stub=True`` wherever an edge of a visible record reaches it.
"""
from __future__ import annotations

import logging
import secrets
import sqlite3

from jembatan.network.errors import StoreError

from . import sqlite_tallies, tallies, textindex

SCHEMA_VERSION = 4
log = logging.getLogger(__name__)

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS nodes (
    nid INTEGER PRIMARY KEY,
    id  TEXT NOT NULL UNIQUE
);

CREATE TABLE IF NOT EXISTS records (
    id         INTEGER PRIMARY KEY,      -- = nodes.nid
    kind       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    hlc        TEXT NOT NULL,
    visibility TEXT NOT NULL,
    deleted    INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    hash       TEXT NOT NULL,
    country    TEXT,                     -- institution / event: its own country
    trl        INTEGER,                  -- technology: trl; demand: trl_min
    stage      TEXT,                     -- technology stage
    shadow_vis  TEXT,                    -- the shadow tombstone's visibility, NULL: none
    shadow_hash TEXT,                    -- its content hash
    -- after the small columns, so filters read them without walking the envelope's overflow pages
    envelope   TEXT NOT NULL,            -- canonical JSON (RFC 8785), served byte for byte
    shadow     TEXT,                     -- the shadow tombstone's canonical JSON
    starts_on  TEXT                      -- event: its first day (ISO), the calendar's key
);
CREATE UNIQUE INDEX IF NOT EXISTS records_seq ON records(seq);
CREATE INDEX IF NOT EXISTS records_kind_seq ON records(kind, seq);
CREATE INDEX IF NOT EXISTS records_kind_country_seq ON records(kind, country, seq)
    WHERE country IS NOT NULL;

-- One row per edge, written with its owner (the record whose body names it) and the owner's
-- latest change seq. src/type/dst: outgoing traversal and "does record X name Y";
-- dst/type/seq: incoming traversal, the owner/party side of a record, and "records in field
-- F, newest change first" read in index order; owner: replacing a record's edges.
CREATE TABLE IF NOT EXISTS edges (
    src   INTEGER NOT NULL,
    type  TEXT NOT NULL,
    dst   INTEGER NOT NULL,
    owner INTEGER NOT NULL,
    seq   INTEGER NOT NULL,
    props TEXT,                          -- JSON object, NULL when empty
    PRIMARY KEY (src, type, dst, owner)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS edges_dst ON edges(dst, type, seq, src);
CREATE INDEX IF NOT EXISTS edges_owner ON edges(owner);

CREATE TABLE IF NOT EXISTS counts (
    kind       TEXT NOT NULL,
    visibility TEXT NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (kind, visibility)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS checkpoints (
    peer   TEXT PRIMARY KEY,
    cursor TEXT NOT NULL
) WITHOUT ROWID;

-- AUTOINCREMENT: an id is never handed out twice, so a listing's "before" stays valid
-- while the oldest entries are dropped
CREATE TABLE IF NOT EXISTS quarantine (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms  INTEGER NOT NULL,
    peer   TEXT NOT NULL,
    rid    TEXT,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    text   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS quarantine_reason ON quarantine(reason, id);
"""

# Columns a version 1 file lacks, added in place (at the end of the row: a migrated file
# reads shadow_vis past the envelope, which only a read outside the record's scope does).
_ADDED_COLUMNS = (("records", "shadow_vis", "TEXT"), ("records", "shadow_hash", "TEXT"),
                  ("records", "shadow", "TEXT"), ("records", "starts_on", "TEXT"))
# Indexes on added columns: made after the columns are
_ADDED_INDEXES = """
CREATE INDEX IF NOT EXISTS records_starts_on ON records(starts_on) WHERE starts_on IS NOT NULL;
"""

# Contentless: the text lives in records.envelope already; an old version's entries are
# removed with FTS5's 'delete' command by re-tokenising the old envelope, which is why the
# tokenizer version is recorded and the index rebuilt when it changes.
_SEARCH = """
CREATE VIRTUAL TABLE IF NOT EXISTS search USING fts5(
    title, body, content='', tokenize='ascii', detail=full
);
"""


def configure(conn: sqlite3.Connection) -> None:
    """Per-connection settings."""
    conn.execute("PRAGMA busy_timeout = 10000")
    # WAL + synchronous=NORMAL: a commit is in the WAL (the OS page cache) when COMMIT
    # returns, so a process crash (kill -9) never loses a committed batch; only a power or
    # OS failure can lose the last transactions, and then atomically (never half a batch).
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA cache_size = -32768")      # 32 MiB per connection
    conn.execute("PRAGMA mmap_size = 268435456")    # reads through mmap: fewer syscalls


def _meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def _set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
                 "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))


def new_epoch() -> str:
    """A random 128-bit epoch id, 32 hex digits."""
    return secrets.token_hex(16)


def _state(conn: sqlite3.Connection) -> tuple[str | None, ...]:
    """(schema version, cursor key, tokenizer version, tallies version) as stored, Nones for
    a new file."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    if not exists:
        return None, None, None, None
    return tuple(_meta(conn, key) for key in ("schema_version", "cursor_key", "tokenizer", "tallies"))


def setup(conn: sqlite3.Connection) -> bytes:
    """Create or check the schema (idempotent); return the cursor key.

    A database that is already current is only read: opening the store (a new gunicorn
    worker, a CLI command) never waits for the write lock a long import may be holding.
    """
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode.lower() != "wal":
        raise StoreError("the database cannot use write-ahead logging")
    version, key, tokenizer, tallied = _state(conn)
    if version is not None and int(version) > SCHEMA_VERSION:
        raise StoreError(f"the database has schema version {version}; "
                         f"this version of the software reads up to {SCHEMA_VERSION}")
    if (version == str(SCHEMA_VERSION) and key and tokenizer == textindex.VERSION
            and tallied == tallies.VERSION):
        return bytes.fromhex(key)
    conn.execute("BEGIN IMMEDIATE")
    try:
        version, key, tokenizer, tallied = _state(conn)   # again: another process may have done it
        for statement in _statements(_TABLES + _SEARCH + sqlite_tallies.DDL):
            conn.execute(statement)
        _add_columns(conn)
        for statement in _statements(_ADDED_INDEXES):
            conn.execute(statement)
        if version is not None and int(version) < 4:
            conn.execute("UPDATE records SET starts_on = json_extract(envelope, '$.body.starts_on')"
                         " WHERE kind = 'event' AND deleted = 0")
        if _meta(conn, "epoch") is None:
            _set_meta(conn, "epoch", new_epoch())
        _set_meta(conn, "schema_version", str(SCHEMA_VERSION))
        if key is None:
            key = secrets.token_hex(32)
            _set_meta(conn, "cursor_key", key)
        if tokenizer != textindex.VERSION:
            if tokenizer is not None:
                _rebuild_search(conn)
            _set_meta(conn, "tokenizer", textindex.VERSION)
        if tallied != tallies.VERSION:
            if version is not None:
                sqlite_tallies.rebuild(conn)
            _set_meta(conn, "tallies", tallies.VERSION)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return bytes.fromhex(key)


def _add_columns(conn: sqlite3.Connection) -> None:
    """Add the columns a file made by an older version lacks (NULL in every existing row)."""
    for table, column, decl in _ADDED_COLUMNS:
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")


def _statements(script: str) -> list[str]:
    """Split a DDL script into statements (executescript would commit our transaction)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _rebuild_search(conn: sqlite3.Connection) -> None:
    """Re-index every live record (the tokenizer changed, so old entries cannot be deleted)."""
    import json

    log.warning("search tokenizer changed: rebuilding the full-text index")
    conn.execute("DROP TABLE search")
    conn.execute(_SEARCH.strip().rstrip(";"))
    rows = conn.execute("SELECT id, envelope FROM records WHERE deleted = 0")
    insert = "INSERT INTO search(rowid, title, body) VALUES (?, ?, ?)"
    while batch := rows.fetchmany(1000):
        conn.executemany(insert, [(rid, *textindex.record_texts(json.loads(env)))
                                  for rid, env in batch])
