"""The federation's state as this node sees it.

    GET /api/v1/federation             registry, peers (last sync, lag, failures, state),
                                       quarantine counts, and whether the node has converged
    GET /api/v1/federation/quarantine  the records refused from peers, with the reason
                                       (node users only: a bearer token)
    GET  /api/v1/agreements/<rid>/confirmation  confirmed by every party's home node?
    POST /api/v1/agreements/<rid>/endorsements  this node endorses the current version for
                                       one of its institutions (editor)
"""
from __future__ import annotations

import marshmallow as ma
from flask import Response, request
from flask_smorest import Blueprint
from marshmallow import fields as mf, validate

from jembatan.network import errors
from jembatan.graph.store import LOCAL
from jembatan.network.envelope import load_envelope, make_envelope
from jembatan.network.ids import new_rid, parse_rid
from jembatan.network.schemas import RidRef
from jembatan.sync.agreements import confirmation
from jembatan.sync.peers import PEERS_FILE, Peers

from .auth import caller_role, read_scope, require_reader, require_writer
from .records import ApiBlueprint, json_response, node_state, path_rid

class QuarantineArgs(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    reason = mf.String(validate=validate.Length(1, 40))
    before = mf.Integer(validate=validate.Range(1))
    limit = mf.Integer(validate=validate.Range(1, 500), load_default=50)


class EndorseArgs(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    party = RidRef("institution", required=True, metadata={
        "description": "The party this node endorses for: an institution of this node."})
    version = mf.Integer(strict=True, validate=validate.Range(1), metadata={
        "description": "The agreement version being endorsed; refused (409) if it is no "
                       "longer the current one."})


def federation_status(scope: frozenset[str] | None = None) -> dict:
    """The node's sync state; record counts within ``scope`` (default: the caller's)."""
    st = node_state()
    store = st.store
    registry = st.registry
    peers = [p.to_dict() for p in Peers(st.node.home / PEERS_FILE).list()]
    quarantine = store.quarantine_counts()
    return {
        "node": st.node.node_id,
        "epoch": store.epoch(),
        "last_seq": store.last_seq(),
        "records": store.counts(read_scope() if scope is None else scope),
        "registry": None if registry is None else {
            "alliance": registry.alliance, "serial": registry.serial,
            "issued_at": registry.issued_at,
            "members": sum(1 for n in registry.nodes() if n.status == "active")},
        "peers": peers,
        "quarantine": quarantine,
        # every peer pulled to its end at its last attempt and none failing
        "converged": all(p["state"] == "ok" and p["lag"] == 0 for p in peers),
    }


def federation_blueprint() -> Blueprint:
    blp = ApiBlueprint("federation", __name__, url_prefix="/api/v1/federation",
                       description="Peers, lag and quarantine: the federation seen from here.")

    @blp.route("", endpoint="status")
    @blp.response(200, description="The federation status.")
    def status() -> Response:
        caller_role()  # a bad token is refused even here
        return json_response(federation_status())

    @blp.route("/quarantine", endpoint="quarantine")
    @blp.arguments(QuarantineArgs, location="query")
    @blp.response(200, description="Refused records, newest first.")
    def quarantine(args: dict) -> Response:
        require_reader()
        entries = node_state().store.quarantined(limit=args["limit"], before=args.get("before"),
                                                 reason=args.get("reason"))
        items = [{"id": e.id, "at_ms": e.at_ms, "peer": e.peer, "rid": e.rid,
                  "reason": e.reason, "detail": e.detail, "text": e.text} for e in entries]
        more = len(entries) == args["limit"]
        return json_response({"items": items, "next_before": items[-1]["id"] if more else None})

    return blp


def confirmation_blueprint() -> Blueprint:
    blp = ApiBlueprint("confirmation", __name__, url_prefix="/api/v1/agreements",
                       description="Cross-node agreements: confirmed by every party's node?")

    @blp.before_request
    def _authenticate() -> None:
        # credentials before the body: a caller that may not write learns nothing from it
        if request.method == "POST":
            require_writer()

    @blp.route("/<rid>/confirmation", endpoint="confirmation")
    @blp.response(200, description="Confirmed only when every party's home node endorsed "
                  "this version (same content hash); the state of each party.")
    def confirmation_of(rid: str) -> Response:
        doc = confirmation(node_state().store, path_rid(rid), read_scope())
        if doc is None:
            raise errors.NotFound(f"No agreement {rid}.")
        return json_response(doc)

    @blp.route("/<rid>/endorsements", methods=["POST"], endpoint="endorse")
    @blp.arguments(EndorseArgs)
    @blp.response(201, description="The endorsement this node wrote and signed: the party's "
                  "home node vouches for this version and content of the agreement.")
    def endorse(args: dict, rid: str) -> Response:
        st = node_state()
        agreement = st.store.get(path_rid(rid), LOCAL)
        if agreement is None or agreement.envelope["kind"] != "agreement":
            raise errors.NotFound(f"No agreement {rid}.")
        env = agreement.envelope
        if env["deleted"]:
            raise errors.Gone(f"The agreement {rid} was deleted.")
        party = args["party"]
        if party not in [p["institution"] for p in env["body"]["parties"]]:
            raise errors.ValidationError("Not a party to this agreement.", errors=[
                {"field": "party", "detail": "Not one of the agreement's parties."}])
        if parse_rid(party).origin != st.node.node_id:
            raise errors.Conflict(f"{party} is homed at node {parse_rid(party).origin!r}; only "
                                  "that node endorses for it.", errors=[
                {"field": "party", "detail": "Not an institution of this node."}])
        if args.get("version", env["version"]) != env["version"]:
            raise errors.Conflict(f"The agreement is at version {env['version']} now; read it "
                                  "again before endorsing.", errors=[
                {"field": "version", "detail": f"Not the current version {env['version']}."}])
        body = {"agreement": rid, "version": env["version"], "content_hash": agreement.hash,
                "party": party}
        endorsement = make_envelope(rid=new_rid(st.node.node_id, "endorsement"), body=body,
                                    version=1, hlc=st.clock.tick(), visibility=env["visibility"])
        st.store.apply([load_envelope(st.sign(endorsement))], trusted=True)
        return json_response(st.store.get(endorsement["rid"], LOCAL), 201)

    return blp
