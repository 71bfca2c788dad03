"""Read-only Cypher for analysts on a Neo4j store.

    run_read_only(driver, database, query, params, timeout_s=…, max_rows=…) -> CypherResult

A query is first planned with ``EXPLAIN`` (same parameters; nothing runs) and refused,
naming the field ``query``, when the plan is anything but a read of this database:

    query type other than "r"          write clauses, schema commands, procedures that write
    LoadCSV                            LOAD CSV reads files or URLs from the server's side
    TransactionApply/Foreach           CALL { … } IN TRANSACTIONS
    AdministrationCommand, Terminate…  SHOW USERS, CREATE DATABASE, TERMINATE TRANSACTIONS, …
    Show… (but indexes, constraints,   SHOW TRANSACTIONS shows other sessions' queries,
          procedures, functions)       SHOW SETTINGS the server's configuration
    an operator of another database    USE of another graph
    ProcedureCall                      a procedure whose mode (``SHOW PROCEDURES``) is not
                                       READ, any ``dbms.*`` one, and the few READ ones that
                                       change server state (``_STATEFUL``)

A ``USE`` clause and a leading ``EXPLAIN``/``PROFILE`` are refused before planning, from the
query's tokens. The query then runs in a READ transaction (the server itself refuses a write
in one: the last line of defence) with the server-side transaction timeout ``timeout_s``;
at most ``max_rows + 1`` rows are pulled and the transaction is rolled back, which discards
the rest without computing it.

Errors:

    the query's own mistakes (Neo.ClientError.Statement.*)   ValidationError, the server's
                                                             first line, positions in the
                                                             caller's text
    timeout, memory limit, terminated                        QueryLimit (422)
    anything else from the driver                            StoreError (logged, never shown)

Values become JSON: a node ``{id, labels, properties}``, a relationship ``{id, type, start,
end, properties}``, a path ``{nodes, relationships}``, temporal values ISO 8601 strings,
points ``{srid, coordinates}``, bytes base64, non-finite floats "NaN"/"Infinity"/"-Infinity".
The store's secret cursor key never leaves: a ``cursor_key`` property or map key is dropped
and any string holding the key is redacted.
"""
from __future__ import annotations

import base64
import datetime as dt
import logging
import math
import re
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Iterator

import neo4j
from neo4j.exceptions import DriverError, Neo4jError
from neo4j.graph import Node, Path, Relationship
from neo4j.spatial import Point

from jembatan.network import errors

from .neo4j_schema import META_KEY

log = logging.getLogger(__name__)

FIELD = "query"
MAX_QUERY_CHARS = 10_000
SECRET_PROPERTY = "cursor_key"
REDACTED = "(redacted)"
_EXPLAIN = "EXPLAIN "
_INT64 = (-(2 ** 63), 2 ** 63 - 1)
# SHOW commands that only describe this database's schema and code; every other SHOW (and
# every TERMINATE) is refused
_SHOW_ALLOWED = frozenset({"ShowIndexes", "ShowConstraints", "ShowProcedures", "ShowFunctions"})
# READ-mode procedures that still change the server's state (statistics, plans) or block on it
_STATEFUL = ("db.stats.", "db.resample", "db.prepareForReplanning", "db.awaitIndex",
             "db.index.fulltext.awaitEventuallyConsistentIndexRefresh")
_POSITION = re.compile(r"\(line (\d+), column (\d+) \(offset: (\d+)\)\)")
_JAVA_PREFIX = re.compile(r"^(?:[\w$]+\.)+[\w$]*(?:Exception|Error):\s*")


@dataclass(frozen=True)
class CypherResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


def _refuse(detail: str, field: str = FIELD) -> errors.ValidationError:
    return errors.ValidationError(detail, errors=[{"field": field, "detail": detail}])


# -- the query's text: tokens, USE, EXPLAIN/PROFILE -----------------------------------------

_TOKEN = re.compile(r"""
      (?P<space>\s+)
    | (?P<line>//[^\n]*)
    | (?P<block>/\*.*?(?:\*/|\Z))
    | (?P<string>'(?:[^'\\]|\\.)*(?:'|\Z)|"(?:[^"\\]|\\.)*(?:"|\Z))
    | (?P<quoted>`(?:[^`]|``)*(?:`|\Z))
    | (?P<word>[^\W\d]\w*)
    | (?P<number>\d[\w.]*)
    | (?P<symbol>.)
""", re.VERBOSE | re.DOTALL)

# the clauses a query may begin with (after CYPHER options); they end the options prefix
_CLAUSES = frozenset({"MATCH", "OPTIONAL", "RETURN", "WITH", "UNWIND", "CALL", "USE", "SHOW",
                      "CREATE", "MERGE", "DELETE", "DETACH", "SET", "REMOVE", "FOREACH", "LOAD",
                      "DROP", "ALTER", "GRANT", "DENY", "REVOKE", "START", "STOP", "TERMINATE",
                      "EXPLAIN", "PROFILE", "FINISH", "FILTER", "LET", "ORDER", "LIMIT", "SKIP",
                      "OFFSET", "RENAME", "ENABLE", "DEALLOCATE", "REALLOCATE", "DRYRUN",
                      "INSERT", "NODETACH"})


def tokens(text: str) -> Iterator[tuple[str, str]]:
    """(kind, text) of the query's significant tokens: comments and spaces are skipped;
    kinds are word, quoted (a backticked name, unquoted), string, number and symbol."""
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind in ("space", "line", "block"):
            continue
        value = match.group()
        if kind == "quoted":
            value = value[1:-1].replace("``", "`") if value.endswith("`") else value[1:]
        yield kind, value


def check_text(query: str) -> None:
    """Refuse what the plan does not show: USE clauses, EXPLAIN/PROFILE, the secret's name."""
    toks = list(tokens(query))
    start = 0
    if toks and toks[0][0] == "word" and toks[0][1].upper() == "CYPHER":
        # CYPHER 5 runtime=slotted … : the options run until the first clause
        start = next((i for i, (kind, value) in enumerate(toks[1:], 1)
                      if kind == "word" and value.upper() in _CLAUSES), len(toks))
    if start < len(toks) and toks[start][0] == "word" and \
            toks[start][1].upper() in ("EXPLAIN", "PROFILE"):
        raise _refuse(f"{toks[start][1].upper()} is not available here; send the query itself.")
    for i, (kind, value) in enumerate(toks):
        if kind in ("word", "quoted", "string") and SECRET_PROPERTY in value.lower():
            raise _refuse(f"The store's {SECRET_PROPERTY} is not readable.")
        if kind != "word" or value.upper() != "USE" or i + 1 >= len(toks) or i < start:
            continue
        # a USE clause opens the query, a subquery ({) or a UNION part, and names a graph;
        # a variable or map key called "use" does neither
        prev = toks[i - 1][1].upper() if i > start else None
        before_prev = toks[i - 2][1].upper() if i - 2 >= start else None
        opens = (prev is None or prev in ("{", "UNION")
                 or (prev in ("ALL", "DISTINCT") and before_prev == "UNION"))
        if opens and toks[i + 1][0] in ("word", "quoted"):
            raise _refuse("USE clauses are refused: a query reads this node's own database only.")


def check_params(params: Any) -> dict[str, Any]:
    """The parameters as a dict of JSON values the driver sends unchanged."""
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise _refuse("Must be an object of parameter names to values.", "params")

    def check(value: Any, path: str) -> None:
        if isinstance(value, bool) or value is None or isinstance(value, (str, float)):
            if isinstance(value, float) and not math.isfinite(value):
                raise _refuse("Must be a finite number.", path)
            return
        if isinstance(value, int):
            if not _INT64[0] <= value <= _INT64[1]:
                raise _refuse("Must fit in a 64-bit signed integer.", path)
        elif isinstance(value, list):
            for n, item in enumerate(value):
                check(item, f"{path}.{n}")
        elif isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise _refuse("Map keys must be strings.", path)
                check(item, f"{path}.{key}")
        else:
            raise _refuse("Must be a JSON value.", path)

    for name, value in params.items():
        if not isinstance(name, str) or not name:
            raise _refuse("Parameter names must be non-empty strings.", "params")
        check(value, f"params.{name}")
    return params


# -- procedures ---------------------------------------------------------------------------

_PROCEDURES: "weakref.WeakKeyDictionary[Any, dict[str, dict[str, str]]]" = \
    weakref.WeakKeyDictionary()
_PROCEDURES_LOCK = threading.Lock()


def procedure_modes(driver, database: str) -> dict[str, str]:
    """name → mode (READ, WRITE, SCHEMA, DBMS, DEFAULT) of the procedures the server offers,
    read once per driver and database."""
    with _PROCEDURES_LOCK:
        known = _PROCEDURES.setdefault(driver, {}).get(database)
    if known is not None:
        return known
    rows = driver.execute_query("SHOW PROCEDURES YIELD name, mode RETURN name, mode",
                                routing_=neo4j.RoutingControl.READ, database_=database).records
    modes = {row["name"]: row["mode"] for row in rows}
    with _PROCEDURES_LOCK:
        _PROCEDURES.setdefault(driver, {})[database] = modes
    return modes


def _check_procedure(name: str, modes: dict[str, str]) -> None:
    mode = modes.get(name)
    if mode is None:
        raise _refuse(f"The procedure {name} is not one this node knows as read-only.")
    if name.startswith("dbms."):
        raise _refuse(f"The procedure {name} is refused: dbms.* procedures administer the "
                      "server.")
    if mode != "READ":
        raise _refuse(f"The procedure {name} (mode {mode}) is refused: only procedures that "
                      "read may be called.")
    if name.startswith(_STATEFUL):
        raise _refuse(f"The procedure {name} is refused: it changes the server's state.")


# -- the plan -----------------------------------------------------------------------------

def _operators(plan: dict | None) -> Iterator[dict]:
    stack = [plan] if plan else []
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.get("children") or ())


def check_plan(summary, database: str, modes_of) -> None:
    """Refuse a plan that is not a read of ``database`` (see the module docstring)."""
    for op in _operators(summary.plan):
        kind, _, graph = str(op.get("operatorType", "")).partition("@")
        if graph and graph != database:
            if kind == "AdministrationCommand":
                raise _refuse("Administration commands are refused.")
            raise _refuse(f"The query reaches the database {graph!r}; it may read this "
                          "node's own database only.")
        if kind == "LoadCSV":
            raise _refuse("LOAD CSV is refused: it reads files or URLs from the database "
                          "server.")
        if kind in ("TransactionApply", "TransactionForeach"):
            raise _refuse("CALL { … } IN TRANSACTIONS is refused: a query runs in one read "
                          "transaction.")
        if kind == "AdministrationCommand" or kind.startswith("Terminate") or (
                kind.startswith("Show") and kind not in _SHOW_ALLOWED):
            raise _refuse("Administration commands are refused (SHOW INDEXES, CONSTRAINTS, "
                          "PROCEDURES and FUNCTIONS are available).")
        if kind == "ProcedureCall":
            details = (op.get("args") or {}).get("Details") or ""
            name = details.split("(", 1)[0].strip().strip("`")
            _check_procedure(name, modes_of())
    if summary.query_type != "r":
        raise _refuse("The query writes: write clauses and procedures that write are refused.")


# -- errors -------------------------------------------------------------------------------

def _shift_position(message: str, by: int) -> str:
    """Positions in a message about "EXPLAIN " + query, moved back into the caller's query."""
    def fix(m: re.Match) -> str:
        line, column, offset = (int(g) for g in m.groups())
        if line == 1:
            column = max(column - by, 1)
        return f"(line {line}, column {column} (offset: {max(offset - by, 0)}))"
    return _POSITION.sub(fix, message)


def _short(message: str) -> str:
    first = (message or "").strip().split("\n", 1)[0].strip()
    return first[:500] or "The query is not valid."


def translate(exc: Exception, *, explained: bool, timeout_s: float) -> errors.JembatanError:
    """A driver or server error as the domain error a client may see."""
    code = getattr(exc, "code", None) or ""
    message = getattr(exc, "message", None) or ""
    if "TransactionTimedOut" in code:
        return errors.QueryLimit(
            f"The query ran longer than this node allows ({timeout_s:g} s) and was stopped.",
            errors=[{"field": FIELD, "detail": f"Longer than {timeout_s:g} s."}])
    if "Memory" in code:
        return errors.QueryLimit(
            "The query needed more memory than this node allows and was stopped.",
            errors=[{"field": FIELD, "detail": "Too much memory."}])
    if code.endswith(".Terminated"):
        return errors.QueryLimit("The query was stopped before it finished.",
                                 errors=[{"field": FIELD, "detail": "Stopped."}])
    if code == "Neo.ClientError.Statement.AccessMode":
        return _refuse("The query writes: write clauses and procedures that write are refused.")
    if "AdministrationCommand" in code or "NotSystemDatabase" in code:
        return _refuse("Administration commands are refused.")
    if code == "Neo.ClientError.Statement.ParameterMissing":
        return _refuse(_short(message), "params")
    if code.startswith(("Neo.ClientError.Statement.", "Neo.ClientError.Procedure.ProcedureNotFound",
                        "Neo.ClientError.Database.DatabaseNotFound")):
        text = _short(_shift_position(message, len(_EXPLAIN)) if explained else message)
        return _refuse(text)
    if code == "Neo.ClientError.Procedure.ProcedureCallFailed":
        # the server wraps the cause in Java exception names: keep only the cause's words
        cause = message.rsplit("Caused by:", 1)[-1].strip()
        return _refuse("The procedure call failed: " + _short(_JAVA_PREFIX.sub("", cause)))
    if code.startswith("Neo.ClientError.Security."):
        return _refuse("The query needs privileges this node does not grant here.")
    log.error("cypher query failed: %s", exc, exc_info=exc)
    return errors.StoreError("The node's database failed.")


# -- values -------------------------------------------------------------------------------

def _properties(entity, secret: str | None) -> dict[str, Any]:
    return {k: to_json(v, secret) for k, v in entity.items() if k != SECRET_PROPERTY}


def to_json(value: Any, secret: str | None = None) -> Any:
    """A value of a result row as JSON (see the module docstring)."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, str):
        return REDACTED if secret and secret in value else value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, Node):
        return {"id": value.element_id, "labels": sorted(value.labels),
                "properties": _properties(value, secret)}
    if isinstance(value, Relationship):
        return {"id": value.element_id, "type": value.type,
                "start": value.start_node.element_id if value.start_node else None,
                "end": value.end_node.element_id if value.end_node else None,
                "properties": _properties(value, secret)}
    if isinstance(value, Path):
        return {"nodes": [to_json(n, secret) for n in value.nodes],
                "relationships": [to_json(r, secret) for r in value.relationships]}
    if isinstance(value, Point):
        return {"srid": value.srid, "coordinates": [to_json(c) for c in value]}
    iso = getattr(value, "iso_format", None)   # neo4j.time Date, DateTime, Time, Duration
    if callable(iso):   # before tuples: a Duration is one
        return iso()
    if isinstance(value, dict):
        return {k: to_json(v, secret) for k, v in value.items() if k != SECRET_PROPERTY}
    if isinstance(value, (list, tuple)):
        return [to_json(v, secret) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (dt.date, dt.time, dt.datetime)):
        return value.isoformat()
    return str(value)


# -- the run ------------------------------------------------------------------------------

def _check_limits(query: Any, timeout_s: float, max_rows: int) -> str:
    if not isinstance(query, str) or not query.strip():
        raise _refuse("Must be a non-empty Cypher query.")
    if len(query) > MAX_QUERY_CHARS:
        raise _refuse(f"Longer than {MAX_QUERY_CHARS} characters.")
    if not (isinstance(timeout_s, (int, float)) and timeout_s > 0):
        raise ValueError("timeout_s must be a positive number of seconds")
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
        raise ValueError("max_rows must be a positive integer")
    return query


def run_read_only(driver, database: str, query: str, params: dict | None = None, *,
                  timeout_s: float, max_rows: int) -> CypherResult:
    """Run ``query`` as a read of ``database`` within the limits; refuse anything else."""
    query = _check_limits(query, timeout_s, max_rows)
    params = check_params(params)
    check_text(query)
    explained = True
    try:
        with driver.session(database=database, default_access_mode=neo4j.READ_ACCESS,
                            bookmark_manager=driver.execute_query_bookmark_manager,
                            notifications_min_severity="OFF") as session:
            summary = session.run(neo4j.Query(_EXPLAIN + query, timeout=timeout_s),
                                  params).consume()
            check_plan(summary, database, lambda: procedure_modes(driver, database))
            explained = False
            with session.begin_transaction(timeout=timeout_s) as tx:
                secret = tx.run("MATCH (m:StoreMeta {key: $key}) RETURN m.cursor_key AS k",
                                {"key": META_KEY}).single()
                secret = secret["k"] if secret else None
                result = tx.run(query, params)
                columns = list(result.keys())
                records = result.fetch(max_rows + 1)
                rows = [[to_json(v, secret) for v in record.values()]
                        for record in records[:max_rows]]
                tx.rollback()   # nothing to keep; the rows not pulled are never computed
    except (Neo4jError, DriverError) as exc:
        raise translate(exc, explained=explained, timeout_s=timeout_s) from exc
    return CypherResult(columns, rows, len(records) > max_rows)
