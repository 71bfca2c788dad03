"""The Neo4j store's tallies (see ``graph.tallies``): one ``(:Tally)`` node per cell, kept
inside the write transaction, derived again when their version changes, and aggregated in
Cypher.

    (:Tally {key, scope, measure, field, c1, c2, k1, k2, k3, year, currency, n, amount})

``key`` joins the dimensions (unique); an index on (scope, measure, field) narrows a query
to one measure's cells for one reader scope (both made by ``neo4j_schema``).
"""
from __future__ import annotations

import json
import logging
from typing import Iterable, Mapping

from . import tallies
from .neo4j_schema import META_KEY
from .prepare import Prepared
from .tallies import DEPENDENT_EDGES, KEY, Deltas, Info, lookup

log = logging.getLogger(__name__)

_SEP = "\x1f"
_INFOS = ("UNWIND $ids AS x MATCH (n:Node {id: x}) USING INDEX SEEK n:Node(id)"
          " WHERE n:Institution AND n:Record AND NOT n.deleted"
          " RETURN n.id AS id, n.visibility AS vis, n.country AS country, n.props AS props")
_DEPENDENTS = (f"UNWIND $ids AS x MATCH (:Node {{id: x}})-[e:{'|'.join(DEPENDENT_EDGES)}]->()"
               " WHERE NOT e.owner IN $skip WITH DISTINCT e.owner AS owner"
               " MATCH (m:Node {id: owner}) USING INDEX SEEK m:Node(id)"
               " WHERE m:Record AND NOT m.deleted RETURN m.visibility AS vis, m.envelope AS env")
_UPSERT = ("UNWIND $rows AS r MERGE (t:Tally {key: r.key}) ON CREATE SET "
           + ", ".join(f"t.{d} = r.{d}" for d in KEY) + ", t.n = 0, t.amount = 0"
           " SET t.n = t.n + r.dn, t.amount = t.amount + r.da")
_DROP_EMPTY = "UNWIND $keys AS k MATCH (t:Tally {key: k}) WHERE t.n <= 0 DELETE t"


def _info(row) -> Info:
    return Info(row["vis"], row["country"], json.loads(row["props"]).get("subkind", ""))


def infos(tx, rids: Iterable[str]) -> dict[str, Info]:
    """The Info of each live institution among ``rids``."""
    return {row["id"]: _info(row) for row in tx.run(_INFOS, {"ids": list(dict.fromkeys(rids))})}


def _dependents(tx, rids: list[str], skip: set[str]) -> list[tuple[str, tuple]]:
    return [(row["vis"], tallies.facts(json.loads(row["env"])))
            for row in tx.run(_DEPENDENTS, {"ids": rids, "skip": sorted(skip)})]


def chunk(tx, deltas: Deltas, writes: list[tuple[str, str | None, tuple | None, Prepared]]) -> None:
    """``tallies.chunk`` on this store (``writes`` are keyed by rid)."""
    tallies.chunk(deltas, writes, lambda rids: infos(tx, rids),
                  lambda rids, skip: _dependents(tx, rids, skip))


def old_facts(tx, rids: list[str]) -> dict[str, tuple | None]:
    """The facts of the live records stored under these rids, before they are replaced."""
    rows = tx.run("UNWIND $ids AS x MATCH (n:Node {id: x}) USING INDEX SEEK n:Node(id)"
                  " WHERE n:Record AND NOT n.deleted RETURN n.id AS id, n.envelope AS env",
                  {"ids": rids})
    return {row["id"]: tallies.facts(json.loads(row["env"])) for row in rows}


def flush(tx, deltas: Deltas, batch: int = 5000) -> None:
    rows = [dict(zip(KEY, row[:-2]), key=_SEP.join(map(str, row[:-2])), dn=row[-2], da=row[-1])
            for row in deltas.rows()]
    for start in range(0, len(rows), batch):
        part = rows[start:start + batch]
        tx.run(_UPSERT, {"rows": part}).consume()
        drops = [r["key"] for r in part if r["dn"] < 0]
        if drops:
            tx.run(_DROP_EMPTY, {"keys": drops}).consume()


def rebuild(driver, database: str) -> None:
    """Derive every cell again from the live records, in one transaction that holds the
    store's write lock (so no writer changes records meanwhile)."""
    log.warning("tallies changed: deriving the flow and statistics tallies of every record again")
    with driver.session(database=database) as session:
        session.execute_write(_rebuild)


def _rebuild(tx) -> None:
    tx.run("MATCH (m:StoreMeta {key: $key}) SET m.writes = m.writes + 1", {"key": META_KEY}).consume()
    tx.run("MATCH (t:Tally) DETACH DELETE t").consume()
    known = lookup({row["id"]: _info(row) for row in tx.run(
        "MATCH (n:Institution:Record) WHERE NOT n.deleted"
        " RETURN n.id AS id, n.visibility AS vis, n.country AS country, n.props AS props")})
    deltas = Deltas()
    for row in tx.run("MATCH (n:Record) WHERE NOT n.deleted AND n.kind <> 'endorsement'"
                      " RETURN n.visibility AS vis, n.envelope AS env"):
        deltas.add(tallies.facts(json.loads(row["env"])), row["vis"], known, +1)
    flush(tx, deltas)
    tx.run("MATCH (m:StoreMeta {key: $key}) SET m.tallies = $version",
           {"key": META_KEY, "version": tallies.VERSION}).consume()


def query(run, measure: str, scope: str, group: tuple[str, ...], where: Mapping[str, object],
          years: tuple[int, int] | None, distinct: str | None) -> list[tuple]:
    """Like ``sqlite_tallies.query``; ``run(cypher, params)`` returns the records."""
    clauses = ["t.scope = $scope", "t.measure = $measure"]
    params: dict = {"scope": scope, "measure": measure}
    for n, (dim, value) in enumerate(where.items()):
        if isinstance(value, (tuple, list, frozenset, set)):
            clauses.append(f"t.{dim} IN $w{n}")
            params[f"w{n}"] = sorted(value)
        else:
            clauses.append(f"t.{dim} = $w{n}")
            params[f"w{n}"] = value
    if years is not None:
        clauses.append("t.year >= $y0 AND t.year <= $y1")
        params.update(y0=years[0], y1=years[1])
    if "field" not in where:
        clauses.append("t.field IS NOT NULL")   # lets the planner use the (scope, measure, field) index
    agg = f"count(DISTINCT t.{distinct}) AS n, 0 AS amount" if distinct else \
        "sum(t.n) AS n, sum(t.amount) AS amount"
    cols = ", ".join(f"t.{g} AS {g}" for g in group)
    cypher = (f"MATCH (t:Tally) WHERE {' AND '.join(clauses)}"
              f" RETURN {cols + ', ' if cols else ''}{agg}")
    if group:
        cypher += " ORDER BY " + ", ".join(group)
    return [tuple(row[g] for g in group) + (row["n"] or 0, row["amount"] or 0)
            for row in run(cypher, params)]
