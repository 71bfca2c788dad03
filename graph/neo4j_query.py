"""Cypher for ``list`` and ``changes``: RecordQuery filters as WHERE predicates (shared with
search), keyset pages newest change first.

Every value reaches Neo4j as a parameter; the only text assembled here is our own Cypher
and labels from the fixed vocabulary (``neo4j_schema``).

Plans: a list walks a seq index backwards (the kind's label index for one kind, the
Record index otherwise) and checks each record, so a page costs about limit / selectivity
records read, like the SQLite store. A party or event filter is the selective one and starts
from the party's or event's node instead, then sorts its records.
"""
from __future__ import annotations

import json

from .cursor import CursorCodec
from .filters import query_fingerprint
from .projection import LABELS
from .store import Page, RecordQuery, StoredRecord

# Kinds whose country is their own; kinds whose country is that of an institution they name.
_OWN_COUNTRY = ("institution", "event")
_REF_COUNTRY = ("technology", "demand", "agreement")       # via OWNS, SEEKS, PARTY_TO
# Edges from a party (institution) to the records it takes part in, and the reverse "BY".
_PARTY_OUT = "OWNS|SEEKS|PARTY_TO|ORGANISED|PARTICIPATED_IN"
_TOP = 2**63 - 1
# A page comes back as one row holding a list: the driver handles each row as a message of
# its own, which costs more than the row's data.
COLLECT = " RETURN collect([r.envelope, r.seq, r.hash]) AS rows"


def conditions(q: RecordQuery, alias: str = "r") -> tuple[list[str], dict] | None:
    """WHERE predicates on ``alias`` and their parameters; None when nothing can match.

    The party filter is not among them: ``list`` starts from the party's node, ``search``
    calls :func:`party_condition`.
    """
    r = alias
    where: list[str] = [f"{r}:Record"]
    params: dict = {}
    if q.visibility is not None:
        if q.visibility not in q.scope:
            return None
        where.append(f"{r}.visibility = $visibility")
        params["visibility"] = q.visibility
    else:
        where.append(f"{r}.visibility IN $scope")
    params["scope"] = sorted(q.scope)
    if not q.include_deleted:
        where.append(f"NOT {r}.deleted")
    kinds = sorted(set(q.kinds))
    if len(kinds) > 1:
        where.append(f"{r}.kind IN $kinds")
        params["kinds"] = kinds
    elif kinds:
        where.append(f"{r}.kind = $kind")
        params["kind"] = kinds[0]
    wanted = set(kinds) or None
    if q.country is not None:
        own = [k for k in _OWN_COUNTRY if wanted is None or k in wanted]
        ref = [k for k in _REF_COUNTRY if wanted is None or k in wanted]
        parts: list[str] = []
        if own:
            parts.append(f"({r}.kind IN $own_kinds AND {r}.country = $country)")
            params["own_kinds"] = own
        if ref:
            # resolved at query time, so an institution arriving after its technologies
            # (or moving) counts at once; institutions outside the scope do not count
            parts.append(
                f"({r}.kind IN $ref_kinds AND EXISTS {{ MATCH (i:Record)-[:OWNS|SEEKS|PARTY_TO]->({r})"
                " WHERE i.country = $country AND NOT i.deleted AND i.visibility IN $scope })")
            params["ref_kinds"] = ref
        if not parts:
            return None
        params["country"] = q.country
        where.append(parts[0] if len(parts) == 1 else f"({' OR '.join(parts)})")
    if q.field is not None:
        # expand from the record (a handful of fields), never from the field's hub of
        # thousands: a property predicate on the far end keeps the planner on this side
        where.append(f"EXISTS {{ MATCH ({r})-[:IN_FIELD]->(f) WHERE f.id = $field }}")
        params["field"] = f"field:{q.field}"
    if q.event is not None:
        # from the agreement (one SIGNED_AT edge at most), never from the event's hub
        where.append(f"EXISTS {{ MATCH ({r})-[:SIGNED_AT]->(e) WHERE e.id = $event }}")
        params["event"] = q.event
    if q.trl_min is not None:
        where.append(f"{r}.trl >= $trl_min")
        params["trl_min"] = q.trl_min
    if q.trl_max is not None:
        where.append(f"{r}.trl <= $trl_max")
        params["trl_max"] = q.trl_max
    if q.stage is not None:
        where.append(f"{r}.stage = $stage")
        params["stage"] = q.stage
    if q.updated_since is not None:
        where.append(f"{r}.hlc >= $updated_since")
        params["updated_since"] = q.updated_since
    return where, params


def party_condition(alias: str = "r") -> str:
    """The party filter as a predicate (parameter ``$party``)."""
    r = alias
    return (f"(EXISTS {{ MATCH (:Node {{id: $party}})-[:{_PARTY_OUT}]->({r}) }}"
            f" OR EXISTS {{ MATCH ({r})-[:BY]->(:Node {{id: $party}}) }})")


def record(row) -> StoredRecord:
    return StoredRecord(json.loads(row["envelope"]), row["seq"], row["hash"])


def records(rows: list, *, newest_first: bool, key=lambda row: row[1]) -> list[StoredRecord]:
    """The [envelope, seq, hash, …] rows of a COLLECT query, in seq order (or ``key``'s)."""
    rows = sorted(rows, key=key, reverse=newest_first)
    return [StoredRecord(json.loads(env), seq, digest) for env, seq, digest, *_ in rows]


# Events by first day: a range on the Event label's starts_on index (``Store.events``)
EVENTS = ("MATCH (r:Event) WHERE r.starts_on >= $start AND r.starts_on <= $end AND r:Record"
          " AND NOT r.deleted AND r.visibility IN $scope"
          " AND ($country IS NULL OR r.country = $country)"
          " WITH r ORDER BY r.starts_on, r.seq LIMIT $n"
          " RETURN collect([r.envelope, r.seq, r.hash, [r.starts_on, r.seq]]) AS rows")


def list_query(q: RecordQuery) -> tuple[str, dict] | None:
    """The Cypher and parameters of one page (limit + 1 rows, to know if more follow)."""
    built = conditions(q)
    if built is None:
        return None
    where, params = built
    params["after"] = _TOP
    params["n"] = q.limit + 1
    if q.party is not None:
        params["party"] = q.party
        cypher = (
            "MATCH (p:Node {id: $party}) CALL (p) {"
            f" MATCH (p)-[:{_PARTY_OUT}]->(r) RETURN r UNION MATCH (p)<-[:BY]-(r) RETURN r }}"
            f" WITH r WHERE r.seq < $after AND {' AND '.join(where)}"
            f" WITH r ORDER BY r.seq DESC LIMIT $n{COLLECT}")
        return cypher, params
    if q.event is not None:
        # the event's agreements are few next to the label's records: start from the event
        # (its predicate in ``where`` is then a cheap probe of the agreement's one edge)
        cypher = (
            "MATCH (:Node {id: $event})<-[:SIGNED_AT]-(r)"
            f" WITH r WHERE r.seq < $after AND {' AND '.join(where)}"
            f" WITH r ORDER BY r.seq DESC LIMIT $n{COLLECT}")
        return cypher, params
    kinds = sorted(set(q.kinds))
    # one kind: that kind's label and seq index; several or none: the Record seq index
    label = LABELS[kinds[0]] if len(kinds) == 1 else "Record"
    cypher = (f"MATCH (r:{label}) WHERE r.seq < $after AND {' AND '.join(where)}"
              f" WITH r ORDER BY r.seq DESC LIMIT $n{COLLECT}")
    return cypher, params


def list_page(read, codec: CursorCodec, q: RecordQuery) -> Page:
    """``read(cypher, params)`` runs a read query and returns its records."""
    fp = query_fingerprint("list", q)
    after = codec.decode(q.cursor, fp, (int,))[0] if q.cursor is not None else None
    built = list_query(q)
    if built is None:
        return Page([], None)
    cypher, params = built
    if after is not None:
        params["after"] = after
    found = records(read(cypher, params)[0]["rows"], newest_first=True)
    items = found[:q.limit]
    more = len(found) > q.limit
    return Page(items, codec.encode([items[-1].seq], fp) if more else None)


# The feed for the node itself: every record, with its shadow tombstone's text.
CHANGES_LOCAL = ("MATCH (r:Record) WHERE r.seq > $since WITH r ORDER BY r.seq LIMIT $n"
                 " RETURN collect([r.envelope, r.seq, r.hash, r.shadow]) AS rows")
# The feed for a narrower scope: a record outside it comes as its shadow when the shadow's
# visibility is within it.
CHANGES = ("MATCH (r:Record) WHERE r.seq > $since"
           " AND (r.visibility IN $scope OR r.shadow_vis IN $scope)"
           " WITH r ORDER BY r.seq LIMIT $n"
           " RETURN collect(CASE WHEN r.visibility IN $scope THEN [r.envelope, r.seq, r.hash, null]"
           " ELSE [r.shadow, r.seq, r.shadow_hash, null] END) AS rows")
GET = ("MATCH (r:Node {id: $rid}) WHERE r:Record"
       " AND (r.visibility IN $scope OR r.shadow_vis IN $scope)"
       " RETURN r.envelope AS envelope, r.seq AS seq, r.hash AS hash, r.visibility AS visibility,"
       " r.shadow_hash AS shadow_hash, r.shadow AS shadow")


def feed(rows: list) -> list[StoredRecord]:
    """The [text, seq, hash, shadow] rows of a changes query, in seq order."""
    rows = sorted(rows, key=lambda row: row[1])
    return [StoredRecord(None, seq, digest, text=text, shadow=shadow)
            for text, seq, digest, shadow in rows]


def got(row, scope: frozenset[str], local: bool) -> StoredRecord:
    """The record of a GET row, or its shadow when the record is outside ``scope``."""
    if row["visibility"] not in scope:
        return StoredRecord(None, row["seq"], row["shadow_hash"], text=row["shadow"])
    return StoredRecord(None, row["seq"], row["hash"], text=row["envelope"],
                        shadow=row["shadow"] if local else None)
