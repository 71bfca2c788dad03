"""Federation protocol v1, the serving side: ``/sync/v1``.

    GET  /sync/v1/registry        the node's alliance registry, as received (root-signed)
    GET  /sync/v1/changes         the changes feed: one stored record per line (NDJSON)
    GET  /sync/v1/records/<rid>   one record's stored text
    POST /sync/v1/have            {rid: version} → the versions this node holds that are newer

Records go out as the exact bytes stored — the origin's signature covers them, so a relay
serves other nodes' records and the receiver verifies the origin itself. Who sees what:
anonymous callers get public records; a request signed (RFC 9421) by an *active* member node
gets public and alliance records; private records are never served here, whoever asks. A
record narrowed to a visibility the caller may not see reaches it as its signed tombstone.

The feed cursor is ``[epoch, seq]`` under an HMAC bound to the caller's scope: a cursor
issued to an anonymous caller does not open the alliance feed, and a cursor from before the
node was restored from a backup (another epoch, or a sequence beyond the node's last) is
answered 410 so the peer starts again from the beginning.
"""
from __future__ import annotations

import json
import secrets
from pathlib import Path

import marshmallow as ma
from flask import Response, current_app, g, request
from flask_smorest import Blueprint
from marshmallow import fields as mf, validate

from jembatan.graph.cursor import CursorCodec, fingerprint
from jembatan.graph.store import ALLIANCE, PUBLIC
from jembatan.network import errors
from jembatan.network.ids import parse_rid
from jembatan.network.keys import write_private
from jembatan.sync.httpsig import verify_request, wsgi_url

from .jsonbody import strict_json
from .records import ApiBlueprint, node_state, path_rid

NDJSON = "application/x-ndjson"
MAX_CHANGES = 5000
DEFAULT_CHANGES = 1000
MAX_HAVE = 10_000
CURSOR_KEY_FILE = "sync-cursor.key"


class ChangesArgs(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    since = mf.String(validate=validate.Length(1, 512), metadata={
        "description": "The Sync-Next value of the previous page; absent: from the beginning."})
    limit = mf.Integer(validate=validate.Range(1, MAX_CHANGES),
                       metadata={"description": f"Records per page (default {DEFAULT_CHANGES})."})


def _codec() -> CursorCodec:
    """The feed cursors' key, made on first use and kept in the node directory."""
    state = node_state()
    codec = getattr(state, "sync_codec", None)
    if codec is None:
        path = Path(state.node.home) / CURSOR_KEY_FILE
        try:
            key = path.read_bytes()
        except FileNotFoundError:
            key = secrets.token_bytes(32)
            write_private(path, key)
            key = path.read_bytes()
        codec = state.sync_codec = CursorCodec(key)
    return codec


def _feed_fp(scope: frozenset[str]) -> bytes:
    return fingerprint("sync-changes", scope=scope)


def caller_scope() -> frozenset[str]:
    """PUBLIC, or ALLIANCE for a request signed by an active member (verified once)."""
    if "sync_scope" not in g:
        state = node_state()
        registry = state.registry
        peer = verify_request(method=request.method, url=wsgi_url(request.environ), headers=request.headers,
                              body=request.get_data(cache=True), registry=registry)
        g.sync_peer = peer
        g.sync_scope = ALLIANCE if peer and registry and registry.is_member(peer) else PUBLIC
    return g.sync_scope


def _gone_epoch() -> errors.Gone:
    return errors.Gone(
        "This node's history changed (it was restored from a backup); start again from the "
        "beginning of the feed.", errors=[{"field": "since", "detail": "Issued in another "
                                           "epoch of this node."}])


def decode_since(token: str | None, scope: frozenset[str], epoch: str, last_seq: int) -> int:
    if token is None:
        return 0
    try:
        cursor_epoch, seq = _codec().decode(token, _feed_fp(scope), (str, int))
    except errors.BadRequest:
        raise errors.BadRequest("The cursor is not valid; start again without it.", errors=[
            {"field": "since", "detail": "Damaged, forged, or issued to another caller."}]) \
            from None
    if cursor_epoch != epoch or not 0 <= seq <= last_seq:
        raise _gone_epoch()
    return seq


def sync_blueprint() -> Blueprint:
    blp = ApiBlueprint("sync", __name__, url_prefix="/sync/v1",
                       description="Federation protocol v1: what peers pull from this node.")

    @blp.before_request
    def _authenticate() -> None:
        caller_scope()  # a bad signature is refused before anything is read or served

    @blp.route("/registry", endpoint="registry")
    @blp.response(200, description="The alliance registry this node holds, as signed by the "
                  "alliance root.")
    def registry() -> Response:
        reg = node_state().registry
        if reg is None:
            raise errors.NotFound("This node holds no alliance registry yet.")
        return current_app.response_class(reg.text, mimetype="application/json")

    @blp.route("/changes", endpoint="changes")
    @blp.arguments(ChangesArgs, location="query")
    @blp.response(200, description="NDJSON: one record per line, in change order. Headers: "
                  "Sync-Next (the cursor to continue from), Sync-More (?1 if more follow), "
                  "Sync-Behind (changes after this page, an upper bound).")
    def changes(args: dict) -> Response:
        scope = caller_scope()
        store = node_state().store
        epoch = store.epoch()
        # read before the page: every change up to it is committed and so in the page below
        # if it falls within it, which lets an empty page move the cursor past private writes
        last = store.last_seq()
        since = decode_since(args.get("since"), scope, epoch, last)
        limit = args.get("limit", DEFAULT_CHANGES)
        records = store.changes(since, limit, scope)
        more = len(records) == limit
        upto = records[-1].seq if more else max([last, since] + [r.seq for r in records[-1:]])
        body = "".join(r.text + "\n" for r in records)
        headers = {"Sync-Next": _codec().encode([epoch, upto], _feed_fp(scope)),
                   "Sync-More": "?1" if more else "?0",
                   "Sync-Behind": str(max(0, last - upto)),
                   "Cache-Control": "no-store"}
        return current_app.response_class(body, headers=headers, mimetype=NDJSON)

    @blp.route("/records/<rid>", endpoint="record")
    @blp.response(200, description="The record's stored text (a tombstone included).")
    def record(rid: str) -> Response:
        stored = node_state().store.get(path_rid(rid), caller_scope())
        if stored is None:
            raise errors.NotFound(f"No record {rid} here.")
        return current_app.response_class(stored.text, mimetype="application/json",
                                          headers={"Cache-Control": "no-store"})

    @blp.route("/have", methods=["POST"], endpoint="have")
    @blp.response(200, description="{rid: version} for each listed record this node holds "
                  "at a higher version than the caller's (the caller lacks it).")
    def have() -> Response:
        scope = caller_scope()
        doc = _have_body()
        store = node_state().store
        newer = {}
        for rid, version in doc.items():
            stored = store.get(rid, scope)
            if stored is not None and stored.version > version:
                newer[rid] = stored.version
        return current_app.response_class(json.dumps(newer, sort_keys=True),
                                          mimetype="application/json")

    return blp


def _have_body() -> dict[str, int]:
    doc = strict_json(request)  # the same strict reader as every write path
    if len(doc) > MAX_HAVE:
        raise errors.ValidationError(f"At most {MAX_HAVE} records per request.",
                                     errors=[{"field": "(body)", "detail": "Too many entries."}])
    bad = []
    for rid, version in doc.items():
        try:
            parse_rid(rid)
        except ValueError:
            bad.append({"field": rid[:200], "detail": "Not a well-formed rid."})
            continue
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            bad.append({"field": rid, "detail": "The version must be an integer ≥ 0."})
    if bad:
        raise errors.ValidationError("Some entries are invalid.", errors=bad[:50])
    return doc
