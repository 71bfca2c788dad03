"""The SQLite store's tallies (see ``graph.tallies``): the cells table, its upkeep inside
the write transaction, its rebuild, and GROUP BY queries over it.

    tallies(scope, measure, field, c1, c2, k1, k2, k3, year, currency, n, amount)

``field`` comes third in the key so that the common query — every field, ``field = ''`` —
reads one contiguous range of the primary key, and the countries and currency follow so a
flow matrix (grouped by them) streams in key order without sorting.
"""
from __future__ import annotations

import json
import logging
import sqlite3
from typing import Iterable, Mapping

from . import tallies
from .prepare import Prepared
from .tallies import DEPENDENT_EDGES, Deltas, Info, lookup

log = logging.getLogger(__name__)

COLUMNS = ("scope", "measure", "field", "c1", "c2", "k1", "k2", "k3", "year", "currency")
# the order of graph.tallies.KEY in this table's column order
_ORDER = tuple(tallies.KEY.index(c) for c in COLUMNS)

DDL = """
CREATE TABLE IF NOT EXISTS tallies (
    scope    TEXT NOT NULL,
    measure  TEXT NOT NULL,
    field    TEXT NOT NULL,
    c1       TEXT NOT NULL,
    c2       TEXT NOT NULL,
    k1       TEXT NOT NULL,
    k2       TEXT NOT NULL,
    k3       TEXT NOT NULL,
    year     INTEGER NOT NULL,
    currency TEXT NOT NULL,
    n        INTEGER NOT NULL,
    amount   INTEGER NOT NULL,
    PRIMARY KEY (scope, measure, field, c1, c2, currency, k1, k2, k3, year)
) WITHOUT ROWID;
"""

_UPSERT = (f"INSERT INTO tallies({', '.join(COLUMNS)}, n, amount) VALUES ({', '.join('?' * 12)})"
           " ON CONFLICT DO UPDATE SET n = n + excluded.n, amount = amount + excluded.amount")
_DROP_EMPTY = f"DELETE FROM tallies WHERE {' AND '.join(c + ' = ?' for c in COLUMNS)} AND n <= 0"


def _in(values: list) -> str:
    return ",".join("?" * len(values))


def infos(conn: sqlite3.Connection, rids: Iterable[str]) -> dict[str, Info]:
    """The Info of each live institution among ``rids``."""
    out: dict[str, Info] = {}
    rids = list(dict.fromkeys(rids))
    for start in range(0, len(rids), 5000):
        part = rids[start:start + 5000]
        out.update((rid, Info(vis, country, kind)) for rid, vis, country, kind in conn.execute(
            "SELECT n.id, r.visibility, r.country, json_extract(r.envelope, '$.body.kind')"
            " FROM nodes n JOIN records r ON r.id = n.nid"
            f" WHERE n.id IN ({_in(part)}) AND r.kind = 'institution' AND r.deleted = 0", part))
    return out


def _dependents(conn: sqlite3.Connection, nids: list[int], skip: set[int]) -> list[tuple[str, tuple]]:
    """(visibility, facts) of the live records naming these institutions, but ``skip``."""
    owners: set[int] = set()
    types = list(DEPENDENT_EDGES)
    for start in range(0, len(nids), 500):
        part = nids[start:start + 500]
        owners.update(o for (o,) in conn.execute(
            f"SELECT DISTINCT owner FROM edges WHERE src IN ({_in(part)}) AND type IN ({_in(types)})",
            part + types))
    owners -= skip
    out, ordered = [], sorted(owners)
    for start in range(0, len(ordered), 5000):
        part = ordered[start:start + 5000]
        out.extend((vis, tallies.facts(json.loads(env))) for vis, env in conn.execute(
            f"SELECT visibility, envelope FROM records WHERE id IN ({_in(part)}) AND deleted = 0", part))
    return out


def chunk(conn: sqlite3.Connection, deltas: Deltas,
          writes: list[tuple[int, str | None, tuple | None, Prepared]]) -> None:
    """``tallies.chunk`` on this store (``writes`` are keyed by node number)."""
    tallies.chunk(deltas, writes, lambda rids: infos(conn, rids),
                  lambda nids, skip: _dependents(conn, nids, skip))


def flush(conn: sqlite3.Connection, deltas: Deltas) -> None:
    rows = [tuple(row[i] for i in _ORDER) + tuple(row[-2:]) for row in deltas.rows()]
    if not rows:
        return
    conn.executemany(_UPSERT, rows)
    conn.executemany(_DROP_EMPTY, [row[:10] for row in rows if row[10] < 0])


def rebuild(conn: sqlite3.Connection, batch: int = 5000) -> None:
    """Derive every cell again from the live records (inside the caller's transaction)."""
    log.warning("tallies changed: deriving the flow and statistics tallies of every record again")
    conn.execute("DROP TABLE IF EXISTS tallies")   # its key may have changed too
    conn.execute(DDL.strip().rstrip(";"))
    known = lookup(dict(
        (rid, Info(vis, country, kind)) for rid, vis, country, kind in conn.execute(
            "SELECT n.id, r.visibility, r.country, json_extract(r.envelope, '$.body.kind')"
            " FROM nodes n JOIN records r ON r.id = n.nid"
            " WHERE r.kind = 'institution' AND r.deleted = 0")))
    deltas = Deltas()
    rows = conn.execute("SELECT visibility, envelope FROM records WHERE deleted = 0"
                        " AND kind != 'endorsement'")
    while part := rows.fetchmany(batch):
        for vis, env in part:
            deltas.add(tallies.facts(json.loads(env)), vis, known, +1)
    flush(conn, deltas)


def query(conn: sqlite3.Connection, measure: str, scope: str, group: tuple[str, ...],
          where: Mapping[str, object], years: tuple[int, int] | None,
          distinct: str | None) -> list[tuple]:
    """(*group values, n, amount) per group, in group order; with ``distinct``, n counts the
    distinct values of that dimension and amount is 0. Arguments checked by the caller."""
    clauses, params = ["scope = ?", "measure = ?"], [scope, measure]
    for dim, value in where.items():
        if isinstance(value, (tuple, list, frozenset, set)):
            values = sorted(value)
            clauses.append(f"{dim} IN ({_in(values)})")
            params.extend(values)
        else:
            clauses.append(f"{dim} = ?")
            params.append(value)
    if years is not None:
        clauses.append("year BETWEEN ? AND ?")
        params.extend(years)
    measure_sql = f"count(DISTINCT {distinct}), 0" if distinct else "sum(n), sum(amount)"
    cols = ", ".join(group)
    sql = (f"SELECT {cols + ', ' if cols else ''}{measure_sql} FROM tallies"
           f" WHERE {' AND '.join(clauses)}")
    if group:
        sql += f" GROUP BY {cols} ORDER BY {cols}"
    rows = conn.execute(sql, params).fetchall()
    return [tuple(row[:-2]) + (row[-2] or 0, row[-1] or 0) for row in rows]
