"""The Neo4j store's graph model, constraints and indexes, and its one-time setup.

    (:Node {id})                     every graph node: a rid, "country:CN", "field:ict"; unique id
      + :Institution … :Event        the kind of a rid (``projection.LABELS``), also on stubs
      + :Country / :Field            the places and fields records point at
      + :Record {kind, version, hlc, visibility, deleted, seq, hash, envelope, country, trl,
                 stage, starts_on, props, search_title, search_body, search_facets,
                 shadow_vis, shadow_hash, shadow}
                                     a node whose record was received (tombstones included);
                                     ``envelope`` is the canonical JSON, served byte for byte;
                                     ``props`` the graph node's display properties (JSON), so
                                     a neighbourhood does not fetch and parse whole envelopes;
                                     ``shadow*`` its shadow tombstone (``graph.store``), if any;
                                     ``starts_on`` an event's first day (the calendar)
    ()-[:OWNS {owner, …}]->()        the projection's edges; ``owner`` is the rid of the record
                                     whose body names the edge, other properties are its props
    (:StoreMeta {key: "store"})      schema version, cursor key, tokenizer version, the change
                                     sequence ``seq``, live-record counts per kind and visibility,
                                     the ``epoch``, the last quarantine id ``quarantine_seq``
    (:Checkpoint {peer, cursor})     sync progress, written in the same transaction as records
    (:Quarantined {id, at_ms, peer, rid, reason, detail, text})
                                     records refused from peers, at most ``QUARANTINE_MAX``
    (:Tally {key, scope, measure, …, n, amount})
                                     the cells behind flows and statistics (``graph.tallies``,
                                     ``neo4j_tallies``), kept by ``apply``

A node is a stub when it has no live record (never received — no :Record label — or a
tombstone): the graph shows it with ``stub=True`` wherever an edge of a visible record
reaches it. Nodes are never deleted, like the SQLite store's node table.

Search: a full-text index over the token strings of ``textindex`` with Lucene's
``whitespace`` analyzer, so a token is exactly what ``textindex`` produced (bigrams for
Chinese and Thai, folded words for Latin); ``search_facets`` holds the record's kind,
visibility and seq bucket as tokens so a search narrows by scope, kind and recency inside
Lucene (see ``neo4j_search``). The stored "tokenizer" version covers these and ``props``:
when any of them changes, opening the store derives them again from every envelope.
"""
from __future__ import annotations

import logging
import secrets

from neo4j import RoutingControl
from neo4j.exceptions import ClientError

from jembatan.network.errors import StoreError
from jembatan.network.ids import KINDS
from jembatan.network.vocab import VISIBILITIES

from . import tallies, textindex
from .projection import LABELS

#: 2: shadows, the quarantine and the epoch; 3: the tallies; 4: events' starts_on (an older
#: database gains what it lacks when opened)
SCHEMA_VERSION = 4
META_KEY = "store"
SEARCH_INDEX = "record_search"
#: records per seq bucket (a search that matches many records ranks them bucket by bucket)
BUCKET = 8192
log = logging.getLogger(__name__)

# Every label and relationship type a query may name: our own fixed vocabulary, the only
# text ever interpolated into Cypher (values always travel as parameters).
KIND_LABELS = tuple(LABELS[k] for k in KINDS)
NODE_LABELS = KIND_LABELS + ("Country", "Field")
# Which edges a record owns, by direction seen from the record's own node: every edge
# touches its owner, and a type never runs the other way from its owner's kind, so
# replacing a record's edges reads only these type groups (a hub institution's thousands
# of incoming OWNS edges belong to technologies and are never scanned for it).
OWN_OUT = ("LOCATED_IN", "IN_FIELD", "INTERESTED_IN", "TRANSFERS", "SIGNED_AT", "ENDORSES",
           "BY", "HELD_IN", "SHOWED")
OWN_IN = ("OWNS", "SEEKS", "PARTY_TO", "ORGANISED", "PARTICIPATED_IN")
EDGE_TYPES = OWN_OUT + OWN_IN
#: the properties an edge carries besides ``owner`` (``projection.project``'s edge props)
EDGE_PROPS = {"PARTY_TO": ("role",), "ENDORSES": ("version",)}
#: a record node's properties, all written on every write (a None removes one)
RECORD_PROPS = ("kind", "version", "hlc", "visibility", "deleted", "seq", "hash", "envelope",
                "country", "trl", "stage", "starts_on", "props", "search_title", "search_body", "search_facets",
                "shadow_vis", "shadow_hash", "shadow")


def count_key(kind: str, visibility: str) -> str:
    """The meta property holding the live-record count of one kind and visibility."""
    return f"n_{kind}_{visibility}"


COUNT_KEYS = tuple(count_key(k, v) for k in KINDS for v in VISIBILITIES)

_DDL = (
    "CREATE CONSTRAINT node_id IF NOT EXISTS FOR (n:Node) REQUIRE n.id IS UNIQUE",
    # seq is unique by construction (one writer at a time holds the meta node's lock)
    "CREATE INDEX record_seq IF NOT EXISTS FOR (r:Record) ON (r.seq)",
    "CREATE CONSTRAINT store_meta_key IF NOT EXISTS FOR (m:StoreMeta) REQUIRE m.key IS UNIQUE",
    "CREATE CONSTRAINT checkpoint_peer IF NOT EXISTS FOR (c:Checkpoint) REQUIRE c.peer IS UNIQUE",
    # listings walk it backwards (newest first); the oldest beyond the bound are cut by range
    "CREATE CONSTRAINT quarantine_id IF NOT EXISTS FOR (q:Quarantined) REQUIRE q.id IS UNIQUE",
    # newest-first lists of one kind walk these backwards (the label narrows to the kind)
    *(f"CREATE INDEX {label.lower()}_seq IF NOT EXISTS FOR (n:{label}) ON (n.seq)"
      for label in KIND_LABELS),
    f"CREATE FULLTEXT INDEX {SEARCH_INDEX} IF NOT EXISTS FOR (r:Record)"
    " ON EACH [r.search_title, r.search_body, r.search_facets]"
    " OPTIONS {indexConfig: {`fulltext.analyzer`: 'whitespace',"
    " `fulltext.eventually_consistent`: false}}",
    # the tallies' cells (neo4j_tallies): one per key; a query reads one measure of one scope
    "CREATE CONSTRAINT tally_key IF NOT EXISTS FOR (t:Tally) REQUIRE t.key IS UNIQUE",
    "DROP INDEX tally_slice IF EXISTS",   # the first index of schema 3, narrower
    "CREATE INDEX tally_cells IF NOT EXISTS FOR (t:Tally) ON (t.scope, t.measure, t.field, t.c1)",
    # the calendar: events by first day
    "CREATE INDEX event_starts_on IF NOT EXISTS FOR (n:Event) ON (n.starts_on)",
)
SCHEMA_NAMES = frozenset(
    ["node_id", "record_seq", "store_meta_key", "checkpoint_peer", "quarantine_id", SEARCH_INDEX,
     "tally_key", "tally_cells", "event_starts_on"]
    + [f"{label.lower()}_seq" for label in KIND_LABELS])


def facets(kind: str, visibility: str, seq: int) -> str:
    """The facet tokens of a record (see ``neo4j_search``)."""
    return f"k_{kind} v_{visibility} s_{seq // BUCKET}"


def search_version() -> str:
    """What the derived properties depend on: the tokenizer, the bucket width and the
    display properties' version."""
    return f"{textindex.VERSION};bucket={BUCKET};props=1"


def new_epoch() -> str:
    """A random 128-bit epoch id, 32 hex digits."""
    return secrets.token_hex(16)


def _read_meta(driver, database: str) -> dict | None:
    records = driver.execute_query(
        "MATCH (m:StoreMeta {key: $key}) RETURN m {.*} AS meta", {"key": META_KEY},
        routing_=RoutingControl.READ, database_=database).records
    return records[0]["meta"] if records else None


def _schema_complete(driver, database: str) -> bool:
    """Whether every constraint and index exists and is online (a wiped database keeps them)."""
    rows = driver.execute_query("SHOW INDEXES YIELD name, state RETURN name, state",
                                routing_=RoutingControl.READ, database_=database).records
    online = {row["name"] for row in rows if row["state"] == "ONLINE"}
    return SCHEMA_NAMES <= online


def setup(driver, database: str) -> bytes:
    """Create or check the schema (idempotent, safe when several processes open at once);
    return the cursor key. A database that is already current is only read."""
    meta = _read_meta(driver, database)
    if meta is not None and int(meta.get("schema_version", 0)) > SCHEMA_VERSION:
        raise StoreError(f"the database has schema version {meta['schema_version']}; "
                         f"this version of the software reads up to {SCHEMA_VERSION}")
    if (meta is not None and meta.get("schema_version") == SCHEMA_VERSION
            and meta.get("cursor_key") and meta.get("tokenizer") == search_version()
            and meta.get("tallies") == tallies.VERSION):
        return bytes.fromhex(meta["cursor_key"])
    if not _schema_complete(driver, database):
        for statement in _DDL:
            try:
                driver.execute_query(statement, database_=database)
            except ClientError as exc:
                # another process created the same rule a moment earlier
                if "AlreadyExists" not in (exc.code or ""):
                    raise
        driver.execute_query("CALL db.awaitIndexes(300)", database_=database)
    if meta is not None and int(meta.get("schema_version", 0)) < 4:
        _derive_starts_on(driver, database)
    initial = {"schema_version": SCHEMA_VERSION, "cursor_key": secrets.token_hex(32),
               "seq": 0, "writes": 0, "tallies": tallies.VERSION, **dict.fromkeys(COUNT_KEYS, 0)}
    # MERGE under the uniqueness constraint: concurrent openers agree on one meta node; a
    # version 1 node gains the epoch and the quarantine counter (coalesce: a concurrent
    # opener's values stay)
    meta = driver.execute_query(
        "MERGE (m:StoreMeta {key: $key}) ON CREATE SET m += $initial"
        " SET m.schema_version = $version, m.epoch = coalesce(m.epoch, $epoch),"
        " m.quarantine_seq = coalesce(m.quarantine_seq, 0) RETURN m {.*} AS meta",
        {"key": META_KEY, "initial": initial, "version": SCHEMA_VERSION, "epoch": new_epoch()},
        database_=database).records[0]["meta"]
    if meta.get("tokenizer") != search_version():
        if meta.get("tokenizer") is not None:
            rebuild_search(driver, database)
        driver.execute_query("MATCH (m:StoreMeta {key: $key}) SET m.tokenizer = $version",
                             {"key": META_KEY, "version": search_version()}, database_=database)
    if meta.get("tallies") != tallies.VERSION:   # an older database: derive its cells
        from .neo4j_tallies import rebuild
        rebuild(driver, database)
    return bytes.fromhex(meta["cursor_key"])


def _derive_starts_on(driver, database: str, batch: int = 1000) -> None:
    """Give every live event of an older database its ``starts_on``, in batches (idempotent:
    a writer sets the same value)."""
    import json

    after = -1
    while True:
        rows = driver.execute_query(
            "MATCH (r:Event) WHERE r.seq > $after AND r:Record AND NOT r.deleted"
            " RETURN r.id AS id, r.seq AS seq, r.envelope AS env ORDER BY r.seq LIMIT $n",
            {"after": after, "n": batch}, routing_=RoutingControl.READ, database_=database).records
        if not rows:
            return
        driver.execute_query(
            "UNWIND $rows AS u MATCH (r:Node {id: u.id}) WHERE r.seq = u.seq SET r.starts_on = u.day",
            {"rows": [{"id": row["id"], "seq": row["seq"],
                       "day": json.loads(row["env"])["body"]["starts_on"]} for row in rows]},
            database_=database)
        after = rows[-1]["seq"]


def rebuild_search(driver, database: str, batch: int = 1000) -> None:
    """Derive every live record's search text and display properties again (their
    version changed).

    Runs in batches in seq order; each batch is its own transaction and sets the same
    values a writer would, so running it twice, or beside a writer, leaves a correct index.
    """
    import json

    from .projection import node_props

    log.warning("derived properties changed: deriving the search text and display properties"
                " of every record again")
    after = -1
    while True:
        rows = driver.execute_query(
            "MATCH (r:Record) WHERE r.seq > $after AND NOT r.deleted RETURN r.id AS id,"
            " r.seq AS seq, r.kind AS kind, r.visibility AS visibility, r.envelope AS env"
            " ORDER BY r.seq LIMIT $n",
            {"after": after, "n": batch}, routing_=RoutingControl.READ,
            database_=database).records
        if not rows:
            return
        updates = []
        for row in rows:   # live records only: a tombstone has no search text
            env = json.loads(row["env"])
            title, body = textindex.record_texts(env)
            updates.append({"id": row["id"], "seq": row["seq"], "title": title, "body": body,
                            "facets": facets(row["kind"], row["visibility"], row["seq"]),
                            "props": json.dumps(node_props(env), ensure_ascii=False, sort_keys=True)})
        driver.execute_query(
            "UNWIND $rows AS u MATCH (r:Node {id: u.id}) USING INDEX SEEK r:Node(id) WHERE r.seq = u.seq"
            " SET r.search_title = u.title, r.search_body = u.body, r.search_facets = u.facets,"
            " r.props = u.props",
            {"rows": updates}, database_=database)
        after = rows[-1]["seq"]
