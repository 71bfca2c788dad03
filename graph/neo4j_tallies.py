"""The Neo4j store's tallies (see ``graph.tallies``): one ``(:Tally)`` node per cell, kept
inside the write transaction, derived again when their version changes, and aggregated in
Cypher.

    (:Tally {key, scope, measure, field, c1, c2, k1, k2, k3, year, currency, n, amount})

``key`` joins the dimensions (unique); an index on (scope, measure, field, c1) narrows a
query to one measure's cells for one reader scope, and to one field and country when it
names them (both made by ``neo4j_schema``).
"""
from __future__ import annotations

import json
import logging
import secrets
import time
from typing import Iterable, Mapping

from neo4j import RoutingControl

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


#: how long a rebuild may go without a heartbeat before another opener takes it over
LEASE_MS = 120_000
_CLAIM = ("MATCH (m:StoreMeta {key: $key}) SET m.writes = m.writes + 1"
          # coalesce: a database older than the tallies has no such properties at all
          " WITH m, coalesce(m.tallies = $version, false) AS done,"
          " coalesce(m.tallies_beat >= timestamp() - $lease, false) = false AS free"
          " SET m.tallies_owner = CASE WHEN NOT done AND free THEN $token ELSE m.tallies_owner END,"
          " m.tallies_beat = CASE WHEN NOT done AND free THEN timestamp() ELSE m.tallies_beat END,"
          " m.tallies = CASE WHEN NOT done AND free THEN 'rebuilding' ELSE m.tallies END"
          " RETURN done, free")
_OWNED = ("MATCH (m:StoreMeta {key: $key}) WHERE m.tallies_owner = $token"
          " SET m.tallies_beat = timestamp(), m.writes = m.writes + 1 RETURN m.key AS key")
_CREATE = "UNWIND $rows AS r CREATE (t:Tally) SET t = r"


class RebuildLost(Exception):
    """Another opener took the rebuild over (this one's heartbeat had gone stale)."""


def rebuild(driver, database: str, batch: int = 10_000, poll: float = 1.0) -> None:
    """Derive every cell again from the live records.

    Writers are held off meanwhile: the meta node's ``tallies`` is not ``VERSION`` until the
    rebuild ends, and a write refuses to start (``neo4j_apply``). The work runs in many
    transactions, since a million cells do not fit one, each of them conditional on this
    process still holding the rebuild (``tallies_owner``). An opener that finds a rebuild
    under way waits for it, and takes it over when its heartbeat is older than ``LEASE_MS``:
    so a crashed rebuild is done again from the start, and two never write at once.
    """
    token = secrets.token_hex(8)
    params = {"key": META_KEY, "version": tallies.VERSION, "token": token, "lease": LEASE_MS}
    while True:
        row = driver.execute_query(_CLAIM, params, database_=database).records[0]
        if row["done"]:
            return
        if row["free"]:
            break
        time.sleep(poll)
    log.warning("tallies changed: deriving the flow and statistics tallies of every record again")

    def owned(tx) -> None:
        if tx.run(_OWNED, params).single() is None:
            raise RebuildLost("another process took over deriving the tallies")

    def in_tx(work, *args):
        with driver.session(database=database) as session:
            return session.execute_write(lambda tx: (owned(tx), work(tx, *args))[1])

    while in_tx(lambda tx: tx.run("MATCH (t:Tally) WITH t LIMIT $n DETACH DELETE t RETURN count(*) AS c",
                                  {"n": batch}).single()["c"]):
        pass
    read = lambda cypher, p=None: driver.execute_query(  # noqa: E731
        cypher, p or {}, routing_=RoutingControl.READ, database_=database).records
    known = lookup({row["id"]: _info(row) for row in read(
        "MATCH (n:Institution:Record) WHERE NOT n.deleted"
        " RETURN n.id AS id, n.visibility AS vis, n.country AS country, n.props AS props")})
    deltas, after = Deltas(), -1
    while rows := read("MATCH (n:Record) WHERE n.seq > $after RETURN n.seq AS seq, n.deleted AS deleted,"
                       " n.kind AS kind, n.visibility AS vis, n.envelope AS env ORDER BY n.seq LIMIT $n",
                       {"after": after, "n": batch}):
        for row in rows:
            if not row["deleted"] and row["kind"] != "endorsement":
                deltas.add(tallies.facts(json.loads(row["env"])), row["vis"], known, +1)
        after = rows[-1]["seq"]
    cells = [dict(zip(KEY, row[:-2]), key=_SEP.join(map(str, row[:-2])), n=row[-2], amount=row[-1])
             for row in deltas.rows()]
    for start in range(0, len(cells), batch):
        in_tx(lambda tx, part: tx.run(_CREATE, {"rows": part}).consume(), cells[start:start + batch])
    in_tx(lambda tx: tx.run("MATCH (m:StoreMeta {key: $key}) SET m.tallies = $version,"
                            " m.tallies_owner = null, m.tallies_beat = null", params).consume())


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
    for dim in ("field", "c1"):   # lets the planner use the (scope, measure, field, c1) index
        if dim not in where:
            clauses.append(f"t.{dim} IS NOT NULL")
    agg = f"count(DISTINCT t.{distinct}) AS n, 0 AS amount" if distinct else \
        "sum(t.n) AS n, sum(t.amount) AS amount"
    cols = ", ".join(f"t.{g} AS {g}" for g in group)
    cypher = (f"MATCH (t:Tally) WHERE {' AND '.join(clauses)}"
              f" RETURN {cols + ', ' if cols else ''}{agg}")
    if group:
        cypher += " ORDER BY " + ", ".join(group)
    return [tuple(row[g] for g in group) + (row["n"] or 0, row["amount"] or 0)
            for row in run(cypher, params)]
