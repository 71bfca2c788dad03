"""Read-only Cypher for analysts: ``POST /api/v1/cypher``.

    {"query": "MATCH (i:Institution)-[:PARTY_TO]->(a) RETURN i.id, count(a)", "params": {…}}
      → {"columns": [...], "rows": [[...], ...], "truncated": false}

Only on a node whose store is Neo4j (a SQLite node answers 409), only for the roles
``analyst`` and ``admin``. The query runs in a read transaction under the node's limits
``JEMBATAN_CYPHER_TIMEOUT`` (seconds) and ``JEMBATAN_CYPHER_MAX_ROWS``; anything that would
write, administer the server, read server files or another database is refused with a
problem naming ``query`` (``graph/neo4j_cypher.py`` says exactly what).
"""
from __future__ import annotations

import marshmallow as ma
from flask import Response, current_app
from flask_smorest import Blueprint
from marshmallow import fields as mf, validate

from jembatan.graph.neo4j_cypher import MAX_QUERY_CHARS
from jembatan.network import errors

from .auth import caller_role
from .records import ApiBlueprint, json_response, node_state

#: the roles that may run Cypher
CYPHER_ROLES = frozenset({"analyst", "admin"})
_STORE_NAMES = {"sqlite": "SQLite"}


class CypherArgs(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    query = mf.String(required=True, validate=validate.Length(1, MAX_QUERY_CHARS), metadata={
        "description": "One Cypher statement that only reads; parameters as $name.",
        "example": "MATCH (i:Institution) RETURN i.id AS id LIMIT 10"})
    params = mf.Dict(keys=mf.String(), load_default=dict, metadata={
        "description": "Values of the query's $parameters (JSON values)."})


class CypherResultSchema(ma.Schema):
    columns = mf.List(mf.String())
    rows = mf.List(mf.List(mf.Raw()), metadata={
        "description": "One list per row, in column order. Nodes are {id, labels, "
                       "properties}, relationships {id, type, start, end, properties}, paths "
                       "{nodes, relationships}; dates and times ISO 8601 strings."})
    truncated = mf.Boolean(metadata={"description": "More rows matched than the node "
                                     "returns (JEMBATAN_CYPHER_MAX_ROWS)."})


def require_analyst() -> str:
    """The caller's role if it may run Cypher; 401/403 otherwise."""
    role = caller_role()
    if role is None:
        detail = "Cypher needs a bearer token of an analyst or admin."
        raise errors.Unauthorized(detail, errors=[{"field": "Authorization", "detail": detail}])
    if role not in CYPHER_ROLES:
        raise errors.Forbidden(f"The role {role!r} may not run Cypher; that needs an analyst "
                               "or admin token.")
    return role


def cypher_blueprint() -> Blueprint:
    blp = ApiBlueprint("cypher", __name__, url_prefix="/api/v1/cypher",
                       description="Read-only Cypher over the node's graph (Neo4j stores; "
                                   "analysts and admins).")

    @blp.before_request
    def _check() -> None:
        # credentials and the store before the body: a caller that may not run Cypher, or a
        # node that cannot, learns nothing from parsing it
        require_analyst()
        kind = node_state().store_kind
        if kind != "neo4j":
            raise errors.Conflict(f"This node's store is {_STORE_NAMES.get(kind, kind)}; "
                                  "Cypher needs a Neo4j store.")

    @blp.route("", methods=["POST"], endpoint="run")
    @blp.arguments(CypherArgs)
    @blp.response(200, CypherResultSchema, description="The rows, at most "
                  "JEMBATAN_CYPHER_MAX_ROWS of them.")
    @blp.doc(security=[{"bearer": []}])
    def run(args: dict) -> Response:
        settings = current_app.config
        result = node_state().store.cypher(args["query"], args["params"],
                                 timeout_s=settings["JEMBATAN_CYPHER_TIMEOUT"],
                                 max_rows=settings["JEMBATAN_CYPHER_MAX_ROWS"])
        return json_response({"columns": result.columns, "rows": result.rows,
                              "truncated": result.truncated})

    return blp
