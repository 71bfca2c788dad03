"""A technology's lifecycle: its stage, changed one step at a time, and the history of steps.

    POST /api/v1/technologies/<rid>/stage    {stage} → the new version (as the record GET
                                             returns it), ETag; If-Match honoured
    GET  /api/v1/technologies/<rid>/stages   {rid, version, stage, history: [{stage, at, by}]}

The stages run registered → evaluated → matched → negotiating → transferred →
commercialised, and a technology may be withdrawn at any of them; any move but to the
stage it is at is accepted (a negotiation that fails goes back to matched). Changing the
stage needs an editor or admin token and works on this node's own technologies only
(others → 409); the step is recorded with who made it (the token's label, else its role)
and when, by ``api.writes``, the path every write of this node takes. Reading the history
follows the record GET: anonymous callers see public records, node users all of them, and a
record outside the caller's scope does not exist for it (404).
"""
from __future__ import annotations

import marshmallow as ma
from flask import Response, g, request
from flask_smorest import Blueprint
from marshmallow import fields as mf, validate

from jembatan.graph.store import StoredRecord
from jembatan.network import errors, vocab
from jembatan.network.ids import parse_rid
from jembatan.network.schemas import StageChange

from . import writes
from .auth import caller_role, require_writer, scope_for
from .records import ApiBlueprint, etag_of, json_response, node_state, path_rid


class StageArgs(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    stage = mf.String(required=True, validate=validate.OneOf(vocab.STAGES),
                      metadata={"description": "The stage the technology moves to."})


class StagesSchema(ma.Schema):
    rid = mf.String()
    version = mf.Integer()
    stage = mf.String(metadata={"description": "The stage the technology is at."})
    history = mf.List(mf.Nested(StageChange), metadata={
        "description": "Every stage the technology entered, oldest first, with when (UTC) "
                       "and by whom; empty for a record written before stages were recorded."})


def stages_doc(stored: StoredRecord) -> dict:
    """The stage history of a live technology, as the API serves it."""
    body = stored.envelope["body"]
    return {"rid": stored.envelope["rid"], "version": stored.version, "stage": body["stage"],
            "history": list(body.get("stage_history") or [])}


def _version_if_match(current: StoredRecord) -> int | None:
    """The version If-Match pins the write to (None: no condition); 412 if it is stale."""
    if "If-Match" not in request.headers:
        return None
    cond = request.if_match
    if not (cond.star_tag or cond.contains(etag_of(current).strip('"'))):
        raise errors.PreconditionFailed(
            f"If-Match does not name the current version ({etag_of(current)}).",
            errors=[{"field": "If-Match", "detail": "Stale or unknown ETag."}])
    return current.version


def lifecycle_blueprint() -> Blueprint:
    """The lifecycle endpoints, mounted beside the technology records."""
    blp = ApiBlueprint("lifecycle", __name__, url_prefix="/api/v1/technologies",
                       description="Technology stages: changing them, and who changed them when.")

    @blp.before_request
    def _authenticate() -> None:
        # credentials before the body: a caller that may not write learns nothing from it
        g.role = require_writer() if request.method == "POST" else caller_role()

    @blp.route("/<rid>/stage", methods=["POST"], endpoint="set_stage")
    @blp.arguments(StageArgs)
    @blp.response(200, {"$ref": "#/components/schemas/TechnologyRecord"},
                  headers={"ETag": "ETAG"},
                  description="The technology's new version, as GET returns it.")
    @blp.doc(security=[{"bearer": []}], parameters=["IF_MATCH"])
    @blp.alt_response(401, "UNAUTHORIZED")
    @blp.alt_response(403, "FORBIDDEN")
    @blp.alt_response(404, "NOT_FOUND")
    @blp.alt_response(409, "CONFLICT")
    @blp.alt_response(410, "GONE")
    @blp.alt_response(412, "PRECONDITION_FAILED")
    @blp.alt_response(415, "UNSUPPORTED_MEDIA_TYPE")
    def set_stage(args: dict, rid: str) -> Response:
        current = writes.owned("technology", path_rid(rid))
        stored = writes.set_stage(rid, args["stage"], _version_if_match(current))
        return json_response(stored, 200, {"ETag": etag_of(stored)})

    @blp.route("/<rid>/stages", endpoint="stages")
    @blp.response(200, StagesSchema)
    @blp.alt_response(400, "BAD_REQUEST")
    @blp.alt_response(404, "NOT_FOUND")
    @blp.alt_response(410, "GONE")
    def stages(rid: str) -> Response:
        ours = parse_rid(path_rid(rid)).kind == "technology"
        stored = node_state().store.get(rid, scope_for(g.role)) if ours else None
        if stored is None:
            raise errors.NotFound(f"No technology {rid}.")
        if stored.envelope["deleted"]:
            raise errors.Gone(f"The technology {rid} was deleted.")
        return json_response(stages_doc(stored))

    return blp
