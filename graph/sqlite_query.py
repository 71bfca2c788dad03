"""SQL for ``list``: RecordQuery filters as WHERE clauses (shared with search), keyset pages.

Every value reaches SQLite as a bound parameter; the only text assembled here is our own
SQL and placeholders.

Plans at 10^6 records: a list walks ``records_seq`` (or ``records_kind_seq`` for one kind)
backwards and checks the cheap columns of each row, so a page costs about
limit / selectivity row reads. The party filter is the selective one and drives from the
edge index (then sorts its few rows); a field filter reads the field's edges in seq order,
and an event filter the event's SIGNED_AT edges likewise.
"""
from __future__ import annotations

import dataclasses
import sqlite3

from .cursor import CursorCodec
from .filters import query_fingerprint
from .store import Page, RecordQuery, StoredRecord

# Kinds whose country is their own; kinds whose country is that of an institution they name.
_OWN_COUNTRY = ("institution", "event")
_REF_COUNTRY = {"technology": "OWNS", "demand": "SEEKS", "agreement": "PARTY_TO"}
# Edges from a party (institution) to the records it takes part in, and the reverse "BY".
_PARTY_EDGES = ("OWNS", "SEEKS", "PARTY_TO", "ORGANISED", "PARTICIPATED_IN")


def _marks(values) -> str:
    return ",".join("?" * len(values))


def _nid(conn: sqlite3.Connection, node_id: str) -> int | None:
    row = conn.execute("SELECT nid FROM nodes WHERE id = ?", (node_id,)).fetchone()
    return row[0] if row else None


def conditions(conn: sqlite3.Connection, q: RecordQuery) -> tuple[list[str], list] | None:
    """WHERE clauses (on alias ``r``) and their parameters; None when nothing can match."""
    where: list[str] = []
    params: list = []
    scope = sorted(q.scope)
    if q.visibility is not None:
        if q.visibility not in q.scope:
            return None
        where.append("r.visibility = ?")
        params.append(q.visibility)
    else:
        where.append(f"r.visibility IN ({_marks(scope)})")
        params.extend(scope)
    if not q.include_deleted:
        where.append("r.deleted = 0")
    kinds = sorted(set(q.kinds))
    if len(kinds) == 1:
        # with a party the party's edges drive the plan (a few rows), not the kind's index
        where.append("+r.kind = ?" if q.party is not None else "r.kind = ?")
        params.extend(kinds)
    elif kinds:
        # unary + keeps the planner on the seq index: an IN over records_kind_seq would
        # have to sort every row of those kinds to return the newest page
        where.append(f"+r.kind IN ({_marks(kinds)})")
        params.extend(kinds)
    wanted = set(kinds) or None
    if q.country is not None:
        own = [k for k in _OWN_COUNTRY if wanted is None or k in wanted]
        ref = [k for k in _REF_COUNTRY if wanted is None or k in wanted]
        parts: list[str] = []
        if own:
            parts.append("r.country = ?")
            params.append(q.country)
        if ref:
            types = [_REF_COUNTRY[k] for k in ref]
            # resolved at query time, so an institution arriving after its technologies
            # (or moving) counts at once; institutions outside the scope do not count
            parts.append(
                f"(r.kind IN ({_marks(ref)}) AND EXISTS (SELECT 1 FROM edges e"
                " JOIN records i ON i.id = e.src"
                f" WHERE e.dst = r.id AND e.type IN ({_marks(types)}) AND i.country = ?"
                f" AND i.deleted = 0 AND i.visibility IN ({_marks(scope)})))")
            params.extend([*ref, *types, q.country, *scope])
        if not parts:
            return None
        where.append(parts[0] if len(parts) == 1 else f"({' OR '.join(parts)})")
    if q.field is not None:
        field = _nid(conn, f"field:{q.field}")
        if field is None:
            return None
        where.append("EXISTS (SELECT 1 FROM edges f WHERE f.src = r.id AND f.type = 'IN_FIELD'"
                     " AND f.dst = ?)")
        params.append(field)
    if q.party is not None:
        party = _nid(conn, q.party)
        if party is None:
            return None
        where.append(f"r.id IN (SELECT dst FROM edges WHERE src = ? AND type IN ({_marks(_PARTY_EDGES)})"
                     " UNION ALL SELECT src FROM edges WHERE dst = ? AND type = 'BY')")
        params.extend([party, *_PARTY_EDGES, party])
    if q.event is not None:
        event = _nid(conn, q.event)
        if event is None:
            return None
        # the agreement's own edge: (src, type, dst) is the edges table's key
        where.append("EXISTS (SELECT 1 FROM edges s WHERE s.src = r.id AND s.type = 'SIGNED_AT'"
                     " AND s.dst = ?)")
        params.append(event)
    if q.trl_min is not None:
        where.append("r.trl >= ?")
        params.append(q.trl_min)
    if q.trl_max is not None:
        where.append("r.trl <= ?")
        params.append(q.trl_max)
    if q.stage is not None:
        where.append("r.stage = ?")
        params.append(q.stage)
    if q.updated_since is not None:
        where.append("r.hlc >= ?")
        params.append(q.updated_since)
    return where, params


def record(text: str, seq: int, digest: str) -> StoredRecord:
    return StoredRecord(None, seq, digest, text=text)


def list_page(conn: sqlite3.Connection, codec: CursorCodec, q: RecordQuery) -> Page:
    fp = query_fingerprint("list", q)
    after = codec.decode(q.cursor, fp, (int,))[0] if q.cursor is not None else None
    if q.event is not None:
        return _list_driven(conn, codec, dataclasses.replace(q, event=None), fp, after,
                            "SIGNED_AT", q.event)
    if q.field is not None and q.party is None:
        return _list_driven(conn, codec, dataclasses.replace(q, field=None), fp, after,
                            "IN_FIELD", f"field:{q.field}")
    built = conditions(conn, q)
    if built is None:
        return Page([], None)
    where, params = built
    if after is not None:
        where.append("r.seq < ?")
        params.append(after)
    rows = conn.execute(
        f"SELECT r.envelope, r.seq, r.hash FROM records r WHERE {' AND '.join(where)}"
        " ORDER BY r.seq DESC LIMIT ?", (*params, q.limit + 1)).fetchall()
    return _page(codec, fp, q.limit, rows)


def _list_driven(conn: sqlite3.Connection, codec: CursorCodec, rest: RecordQuery, fp: bytes,
                 after: int | None, edge: str, target: str) -> Page:
    """The records with an ``edge`` to ``target`` newest first, read from the target's
    incoming edges in (dst, type, seq) order, ``rest`` checked on each: a field's records
    (IN_FIELD) or the agreements signed at an event (SIGNED_AT). A rare field, an event, or
    either combined with other narrow filters, costs the target's edges at worst instead of
    the whole table."""
    dst = _nid(conn, target)
    built = conditions(conn, rest)
    if dst is None or built is None:
        return Page([], None)
    where, params = built
    where += ["f.dst = ?", "f.type = ?"]
    params += [dst, edge]
    if after is not None:
        where.append("f.seq < ?")
        params.append(after)
    # CROSS JOIN keeps the edge index as the outer loop; its seq is the record's seq (the
    # edge is owned by the record, written with its latest change)
    rows = conn.execute(
        "SELECT r.envelope, r.seq, r.hash FROM edges f CROSS JOIN records r ON r.id = f.src"
        f" WHERE {' AND '.join(where)} ORDER BY f.seq DESC LIMIT ?",
        (*params, rest.limit + 1)).fetchall()
    return _page(codec, fp, rest.limit, rows)


def _page(codec: CursorCodec, fp: bytes, limit: int, rows: list) -> Page:
    items = [record(*row) for row in rows[:limit]]
    more = len(rows) > limit
    return Page(items, codec.encode([items[-1].seq], fp) if more else None)
