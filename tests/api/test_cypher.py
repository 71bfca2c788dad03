"""Read-only Cypher for analysts, ``POST /api/v1/cypher``, against a real Neo4j server.

One node on the session's Neo4j server (emptied first) with a few records written through
the API; every refused query must leave the database exactly as it was.
"""
from __future__ import annotations

import json

import neo4j
import pytest
from click.testing import CliRunner

from apikit import body, make_node

from jembatan.api.cli import cli
from jembatan.api.node import Tokens

URL = "/api/v1/cypher"
MAX_ROWS = 5
LEAKS = ("Traceback", "Neo.ClientError", "Neo.TransientError", "neo4j.exceptions", "java.")


@pytest.fixture(scope="module")
def admin_driver(neo4j_server):
    driver = neo4j.GraphDatabase.driver(neo4j_server.uri,
                                        auth=(neo4j_server.user, neo4j_server.password))
    yield driver
    driver.close()


@pytest.fixture(scope="module")
def node(neo4j_server, admin_driver, tmp_path_factory):
    """A node on Neo4j with an institution, its technology and a private demand."""
    with admin_driver.session(database="neo4j") as session:
        session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS").consume()
    node = make_node(tmp_path_factory.mktemp("cypher") / "node", JEMBATAN_STORE=neo4j_server.url,
                     JEMBATAN_CYPHER_TIMEOUT=1, JEMBATAN_CYPHER_MAX_ROWS=MAX_ROWS)
    yield node
    node.app.extensions["jembatan"].close()


@pytest.fixture(scope="module")
def world(node) -> dict[str, str]:
    inst = node.created("institution")["rid"]
    tech = node.created("technology", body("technology", owner=inst))["rid"]
    demand = node.created("demand", visibility="private")["rid"]
    return {"inst": inst, "tech": tech, "demand": demand}


def run(node, query: str, params: dict | None = None, role: str | None = "analyst"):
    payload = {"query": query} if params is None else {"query": query, "params": params}
    return node.client.post(URL, json=payload, headers=node.headers(role))


def rows(node, query: str, params: dict | None = None, role: str = "analyst") -> dict:
    resp = run(node, query, params, role)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def problem(resp, status: int, field: str | None = "query") -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"] == "application/problem+json"
    text = resp.get_data(as_text=True)
    for leak in LEAKS:
        assert leak not in text, text
    doc = json.loads(text)
    assert doc["status"] == status and doc["detail"]
    if field is not None:
        assert field in [e["field"] for e in doc.get("errors", [])], doc
    return doc


def database_state(driver) -> tuple:
    """Everything a refused query must not change: nodes, relationships, labels, the
    properties of every node, the schema."""
    with driver.session(database="neo4j") as session:
        nodes = session.run("MATCH (n) RETURN count(n) AS n").single()["n"]
        rels = session.run("MATCH ()-[r]->() RETURN count(r) AS n").single()["n"]
        labels = sorted(r["label"] for r in session.run("CALL db.labels()"))
        props = session.run("MATCH (n) RETURN collect(properties(n)) AS p").single()["p"]
        schema = sorted(r["name"] for r in session.run("SHOW INDEXES YIELD name RETURN name"))
    return nodes, rels, labels, json.dumps(props, sort_keys=True, default=str), schema


# -- reading ------------------------------------------------------------------------------

def test_analyst_runs_match_return(node, world):
    doc = rows(node, "MATCH (i:Institution)-[:OWNS]->(t:Technology) "
                     "RETURN i.id AS institution, t.id AS technology")
    assert doc == {"columns": ["institution", "technology"],
                   "rows": [[world["inst"], world["tech"]]], "truncated": False}
    # analysts read like viewers: private records are in the node's graph for them
    assert rows(node, "MATCH (d:Demand) RETURN d.id")["rows"] == [[world["demand"]]]


def test_admin_runs_cypher_too_with_parameters(node, world):
    doc = rows(node, "MATCH (n:Node {id: $rid}) RETURN n", {"rid": world["tech"]}, role="admin")
    [[tech]] = doc["rows"]
    assert set(tech) == {"id", "labels", "properties"}
    assert "Technology" in tech["labels"] and tech["properties"]["id"] == world["tech"]


def test_paths_and_relationships_as_json(node, world):
    doc = rows(node, "MATCH p = (i:Institution)-[r:OWNS]->(t:Technology) RETURN p, r")
    [[path, rel]] = doc["rows"]
    assert [n["properties"]["id"] for n in path["nodes"]] == [world["inst"], world["tech"]]
    assert path["relationships"] == [rel]
    assert rel["type"] == "OWNS"
    assert (rel["start"], rel["end"]) == (path["nodes"][0]["id"], path["nodes"][1]["id"])


def test_values_become_json(node):
    doc = rows(node, "RETURN date('2025-03-01') AS d, datetime('2025-03-01T08:30:00Z') AS t, "
                     "duration('P1DT2H') AS du, 0.0 / 0.0 AS nan, [1, 'a', null] AS l, "
                     "{a: {b: true}} AS m")
    assert doc["rows"] == [["2025-03-01", "2025-03-01T08:30:00.000000000+00:00", "P1DT2H",
                            "NaN", [1, "a", None], {"a": {"b": True}}]]


def test_row_limit_truncates(node):
    doc = rows(node, "UNWIND range(1, 1000) AS x RETURN x")
    assert doc["rows"] == [[x] for x in range(1, MAX_ROWS + 1)] and doc["truncated"] is True
    doc = rows(node, f"UNWIND range(1, {MAX_ROWS}) AS x RETURN x")
    assert len(doc["rows"]) == MAX_ROWS and doc["truncated"] is False


def test_schema_procedures_and_show_indexes_that_read(node):
    doc = rows(node, "CALL db.labels() YIELD label WHERE label IN ['Institution', 'Technology'] "
                     "RETURN label ORDER BY label")
    assert doc["rows"] == [["Institution"], ["Technology"]]
    assert rows(node, "SHOW INDEXES YIELD name RETURN name")["rows"]


def test_variables_named_use_are_not_use_clauses(node):
    assert rows(node, "WITH 1 AS use RETURN use, {use: 2} AS m")["rows"] == [[1, {"use": 2}]]


def test_the_store_cursor_key_never_leaves(node, admin_driver):
    with admin_driver.session(database="neo4j") as session:
        key = session.run("MATCH (m:StoreMeta) RETURN m.cursor_key AS k").single()["k"]
    assert key
    resp = run(node, "MATCH (m:StoreMeta) RETURN m, properties(m) AS p, "
                     "[k IN keys(m) | m[k]] AS v, m {.*} AS all")
    assert resp.status_code == 200
    assert key not in resp.get_data(as_text=True)
    meta = resp.get_json()["rows"][0][0]
    assert "StoreMeta" in meta["labels"] and "cursor_key" not in meta["properties"]
    problem(run(node, "MATCH (m:StoreMeta) RETURN m.cursor_key"), 422)


# -- limits -------------------------------------------------------------------------------

def test_a_slow_query_is_stopped_by_the_timeout(node):
    resp = run(node, "UNWIND range(1, 100000000) AS a UNWIND range(1, 100000000) AS b "
                     "RETURN count(*)")
    doc = problem(resp, 422)
    assert doc["type"] == "urn:jembatan:problem:query-limit"
    assert "1 s" in doc["detail"]


# -- refused ------------------------------------------------------------------------------

REFUSED = {
    "create": ("CREATE (n:Intruder {x: 1}) RETURN n", "writes"),
    "merge": ("MERGE (n:Intruder {x: 1})", "writes"),
    "set": ("MATCH (n:Institution) SET n.hacked = true", "writes"),
    "delete": ("MATCH (n) DETACH DELETE n", "writes"),
    "remove": ("MATCH (n:Record) REMOVE n.envelope", "writes"),
    "write in a subquery": ("MATCH (n:Institution) CALL (n) { SET n.x = 1 } RETURN count(*)",
                            "writes"),
    "foreach": ("FOREACH (x IN [1] | CREATE (:Intruder))", "writes"),
    "create index": ("CREATE INDEX intruder FOR (n:Intruder) ON (n.x)", "writes"),
    "write procedure": ("CALL db.createLabel('Intruder')", "db.createLabel"),
    "dbms procedure": ("CALL dbms.listConfig()", "dbms.listConfig"),
    "load csv": ("LOAD CSV FROM 'file:///etc/passwd' AS line RETURN line", "LOAD CSV"),
    "use system": ("USE system SHOW USERS", "USE"),
    "use in a union": ("MATCH (n) RETURN n.id AS x UNION USE system MATCH (n) RETURN n.id AS x",
                       "USE"),
    "show users": ("SHOW USERS", "Administration"),
    "create database": ("CREATE DATABASE intruder", "Administration"),
    "terminate": ("TERMINATE TRANSACTIONS 'neo4j-transaction-1'", "Administration"),
    "show transactions": ("SHOW TRANSACTIONS", "Administration"),
    "in transactions": ("UNWIND range(1, 3) AS x CALL (x) { CREATE (:Intruder {x: x}) } "
                        "IN TRANSACTIONS OF 1 ROW", "IN TRANSACTIONS"),
    "read in transactions": ("UNWIND range(1, 3) AS x CALL (x) { RETURN x AS y } "
                             "IN TRANSACTIONS RETURN y", "IN TRANSACTIONS"),
    "explain": ("EXPLAIN MATCH (n) RETURN n", "EXPLAIN"),
}


@pytest.mark.parametrize("query,says", REFUSED.values(), ids=list(REFUSED))
def test_refused_and_nothing_changes(node, world, admin_driver, query, says):
    before, snapshot = database_state(admin_driver), node.snapshot()
    doc = problem(run(node, query), 422)
    assert says in doc["detail"], doc
    assert database_state(admin_driver) == before
    assert node.snapshot() == snapshot


def test_syntax_error_names_the_query_with_its_position(node):
    doc = problem(run(node, "MATCH (n RETURN n"), 422)
    # the server's short message, positions in the caller's own text
    assert "Invalid input 'RETURN'" in doc["detail"]
    assert "(line 1, column 10 (offset: 9))" in doc["detail"]
    assert "\n" not in doc["detail"] and "EXPLAIN" not in doc["detail"]


def test_an_error_while_running_names_the_query(node):
    doc = problem(run(node, "UNWIND [1, 0] AS x RETURN 1 / x"), 422)
    assert "/ by zero" in doc["detail"]


@pytest.mark.parametrize("payload,field", [
    ({}, "query"),
    ({"query": ""}, "query"),
    ({"query": "RETURN 1 " + " " * 10_000}, "query"),
    ({"query": 5}, "query"),
    ({"query": "RETURN $x", "params": [1]}, "params"),
    ({"query": "RETURN $x", "params": {"x": 2 ** 70}}, "params.x"),
    ({"query": "RETURN $x"}, "params"),
    ({"query": "RETURN 1", "limit": 3}, "limit"),
])
def test_bad_bodies(node, world, payload, field):
    before = node.snapshot()
    problem(node.client.post(URL, json=payload, headers=node.headers("analyst")), 422, field)
    assert node.snapshot() == before


# -- who may ------------------------------------------------------------------------------

@pytest.mark.parametrize("role,status", [("viewer", 403), ("editor", 403), (None, 401)])
def test_only_analysts_and_admins(node, role, status):
    resp = run(node, "RETURN 1", role=role)
    problem(resp, status, "Authorization" if status == 401 else None)
    if status == 401:
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_unknown_token_is_refused(node):
    resp = node.client.post(URL, json={"query": "RETURN 1"},
                            headers={"Authorization": "Bearer jbt_unknown"})
    problem(resp, 401, "Authorization")


def test_sqlite_node_has_no_cypher(tmp_path):
    sqlite_node = make_node(tmp_path / "sqlite-node")
    try:
        doc = problem(run(sqlite_node, "RETURN 1"), 409, None)
        assert "SQLite" in doc["detail"] and "Neo4j" in doc["detail"]
        # credentials first: a viewer learns only that it may not
        problem(run(sqlite_node, "RETURN 1", role="viewer"), 403, None)
    finally:
        sqlite_node.app.extensions["jembatan"].close()


def test_token_create_for_an_analyst(tmp_path):
    home = tmp_path / "cli-node"
    make_node(home).app.extensions["jembatan"].close()
    result = CliRunner().invoke(cli, ["token", "create", "--role", "analyst"],
                                env={"JEMBATAN_HOME": str(home)})
    assert result.exit_code == 0, result.output
    assert Tokens(home).role_of(result.stdout.strip()) == "analyst"


def test_openapi_documents_the_endpoint(node):
    spec = node.client.get("/api/v1/openapi.json").get_json()
    op = spec["paths"][URL]["post"]
    assert op["security"] == [{"bearer": []}]
    assert op["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/CypherArgs")
    args = spec["components"]["schemas"]["CypherArgs"]
    assert args["required"] == ["query"] and args["properties"]["query"]["maxLength"] == 10_000
