"""The record resources: one blueprint factory for institutions, technologies, demands,
agreements and events under ``/api/v1/<kind>s``.

    GET    /api/v1/<kind>s           list, filters + keyset cursor → {items, next_cursor}, Link
    POST   /api/v1/<kind>s           {visibility?, body} → 201, Location, ETag
    GET    /api/v1/<kind>s/<rid>     the envelope, ETag; If-None-Match → 304; tombstone → 410
    PUT    /api/v1/<kind>s/<rid>     new version; If-Match required (428), stale → 412
    DELETE /api/v1/<kind>s/<rid>     tombstone at version+1; If-Match honoured → 204

Records are owned by their origin node: only records this node created can be changed here
(others → 409); the changes themselves are made by ``api.writes``, the path the staff forms
write through too. Records outside the caller's scope do not exist for it (404) on every path.
Reads return the stored envelope serialised once; no response schema runs on the read path
(the schemas below document the API only).
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlencode

import marshmallow as ma
from flask import Response, current_app, g, request, url_for
from flask_smorest import Blueprint
from marshmallow import fields as mf, validate

from jembatan.graph.store import Page, RecordQuery, StoredRecord
from jembatan.network import errors, vocab
from jembatan.network.envelope import Sig
from jembatan.network.hlc import HLC_RE, from_datetime
from jembatan.network.ids import parse_rid
from jembatan.network.schemas import BODY_SCHEMAS, Country, FieldCode, RidRef

from . import writes
from .auth import caller_role, require_writer, scope_for
from .jsonbody import StrictParser

if TYPE_CHECKING:
    from .app import NodeState

PLURALS = {"institution": "institutions", "technology": "technologies", "demand": "demands",
           "agreement": "agreements", "event": "events"}
RESOURCE_KINDS = tuple(PLURALS)
MAX_PAGE = 500
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# The filters that mean something for each kind, and the name its ``party`` filter also goes by.
_FILTERS = {
    "institution": (),
    "technology": ("field", "trl", "party", "stage"),
    "demand": ("field", "trl", "party"),
    "agreement": ("field", "party", "event"),
    "event": ("party",),
}
_PARTY_ALIAS = {"technology": "owner", "demand": "requester"}


def node_state() -> NodeState:
    return current_app.extensions["jembatan"]


class ApiBlueprint(Blueprint):
    """flask-smorest blueprint with the strict JSON/query parser."""

    ARGUMENTS_PARSER = StrictParser()


# ---------------------------------------------------------------- schemas (built once per kind)

class Since(mf.Field):
    """An ISO 8601 date or date-time, loaded as the HLC stamp of that moment.

    Moments before 1970 or after the stamp's range (year 2286) are clamped: they still mean
    "everything" and "nothing".
    """

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        try:
            moment = datetime.fromisoformat(str(value))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            if moment.timestamp() < 0:
                return "0000000000000-0000"
            stamp = from_datetime(moment)
        except (TypeError, ValueError, OverflowError, OSError):
            raise ma.ValidationError("Not an ISO 8601 date-time, e.g. 2025-01-31T00:00:00Z.")
        return stamp if HLC_RE.match(stamp) else "9999999999999-9999"


class Cursor(mf.String):
    def __init__(self, **kwargs):
        super().__init__(validate=validate.Length(min=1, max=1000), **kwargs)


class _QueryBase(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    country = Country(metadata={"description": "ISO 3166-1 alpha-2 country code."})
    visibility = mf.String(validate=validate.OneOf(vocab.VISIBILITIES))
    updated_since = Since(metadata={"description": "Only records changed at or after this "
                                    "ISO 8601 date-time.", "type": "string",
                                    "format": "date-time"})
    include_deleted = mf.Boolean(load_default=False)
    limit = mf.Integer(validate=validate.Range(1, MAX_PAGE))
    cursor = Cursor(metadata={"description": "The next_cursor of the previous page."})

    @ma.validates_schema
    def _trl_range(self, data, **kwargs):
        if data.get("trl_min") and data.get("trl_max") and data["trl_min"] > data["trl_max"]:
            raise ma.ValidationError("Must not be greater than trl_max.", "trl_min")


def _query_schema(kind: str) -> ma.Schema:
    attrs: dict[str, Any] = {}
    filters = _FILTERS[kind]
    if "field" in filters:
        attrs["field"] = FieldCode(metadata={"description": "Technology field code."})
    if "trl" in filters:
        attrs["trl_min"] = mf.Integer(validate=validate.Range(1, 9))
        attrs["trl_max"] = mf.Integer(validate=validate.Range(1, 9))
    if "party" in filters:
        attrs["party"] = RidRef("institution", metadata={"description": "Institution rid."})
        if kind in _PARTY_ALIAS:
            attrs[_PARTY_ALIAS[kind]] = RidRef("institution",
                                               metadata={"description": "Same as party."})
    if "stage" in filters:
        attrs["stage"] = mf.String(validate=validate.OneOf(vocab.STAGES))
    if "event" in filters:
        attrs["event"] = RidRef("event", metadata={"description": "Event rid: the agreements "
                                                   "signed at it."})
    name = kind.capitalize() + "ListArgs"
    return type(name, (_QueryBase,), attrs)()


class _BodyRef(mf.Nested):
    """Documents the kind's body schema; the view validates it with ``load_body``."""

    def _deserialize(self, value, attr, data, partial=None, **kwargs):
        if not isinstance(value, dict):
            raise ma.ValidationError("Must be an object.")
        return value


def _schemas(kind: str) -> dict[str, ma.Schema]:
    body = BODY_SCHEMAS[kind]
    cap = kind.capitalize()

    def payload(name: str, **visibility: Any) -> ma.Schema:
        return type(cap + name, (ma.Schema,), {
            "Meta": type("Meta", (), {"unknown": ma.RAISE}),
            "visibility": mf.String(validate=validate.OneOf(vocab.VISIBILITIES), **visibility),
            "body": _BodyRef(body, required=True),
        })()

    record = type(cap + "Record", (ma.Schema,), {
        "rid": mf.String(), "kind": mf.String(), "origin": mf.String(),
        "version": mf.Integer(), "hlc": mf.String(), "visibility": mf.String(),
        "deleted": mf.Boolean(), "body": mf.Nested(body, allow_none=True),
        "sigs": mf.List(mf.Nested(Sig)),
    })
    page = type(cap + "Page", (ma.Schema,), {
        "items": mf.List(mf.Nested(record)), "next_cursor": mf.String(allow_none=True)})
    return {"query": _query_schema(kind), "record": record, "page": page,
            "create": payload("Create", load_default="public"),
            # An update without visibility keeps the record's: leaving it out must never
            # publish a private record.
            "update": payload("Update", metadata={"description": "Default: unchanged."})}


# ---------------------------------------------------------------- response helpers

def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``obj`` as JSON; a ``StoredRecord`` is served as its stored canonical text."""
    text = obj.text if isinstance(obj, StoredRecord) else json.dumps(
        obj, ensure_ascii=False, separators=(",", ":"))
    return current_app.response_class(text, status=status, headers=headers,
                                      mimetype="application/json")


def etag_of(stored: StoredRecord) -> str:
    """A strong ETag: the version plus the start of the content hash."""
    return f'"{stored.version}-{stored.hash.rpartition(":")[2][:16]}"'


def page_response(page: Page) -> Response:
    # the stored texts are spliced in as they are: no parse and re-encode per item
    doc = ('{"items":[' + ",".join(r.text for r in page.items) + '],"next_cursor":'
           + json.dumps(page.next_cursor) + "}")
    headers = None
    if page.next_cursor:
        args = [(k, v) for k, v in request.args.items(multi=True) if k != "cursor"]
        args.append(("cursor", page.next_cursor))
        headers = {"Link": f'<{request.path}?{urlencode(args)}>; rel="next"'}
    return current_app.response_class(doc, status=200, headers=headers,
                                      mimetype="application/json")


def fetch_page(run: Callable[[RecordQuery], Page], query: RecordQuery) -> Page:
    """Run a list or search; a cursor the store refuses is named as the culprit."""
    try:
        return run(query)
    except errors.BadRequest as exc:
        if query.cursor is None or exc.errors:
            raise
        raise errors.BadRequest(
            "The cursor is not valid for this query; start again without it.",
            errors=[{"field": "cursor", "detail": "Damaged, or issued for other filters or "
                     "another caller."}]) from None


def page_size(args: dict) -> int:
    return args.get("limit") or min(node_state().page_size, MAX_PAGE)


def _doc_only(func: Callable, *decorators: Callable) -> Callable:
    """Give ``func`` the OpenAPI docs of ``decorators`` without their per-request wrappers."""
    wrapped = func
    for deco in reversed(decorators):
        wrapped = deco(wrapped)
    func._apidoc = wrapped._apidoc  # type: ignore[attr-defined]
    return func


def path_rid(rid: str) -> str:
    """``rid`` from a URL path, or 400 naming ``rid`` if it is not well formed."""
    try:
        parse_rid(rid)
    except ValueError:
        raise errors.BadRequest("The path does not hold a well-formed rid.",
                                errors=[{"field": "rid", "detail": "Not a well-formed rid "
                                         "(urn:jembatan:<node>:<kind>:<uuid7>)."}]) from None
    return rid


# ---------------------------------------------------------------- the factory

def records_blueprint(kind: str) -> Blueprint:
    """The blueprint of one record kind, mounted at ``/api/v1/<kind>s``."""
    plural = PLURALS[kind]
    schemas = _schemas(kind)
    alias = _PARTY_ALIAS.get(kind)
    blp = ApiBlueprint(plural, __name__, url_prefix=f"/api/v1/{plural}",
                       description=f"{kind.capitalize()} records.")

    @blp.before_request
    def _authenticate() -> None:
        # Credentials are checked before the body is read: a caller that may not write
        # learns nothing about its payload or about which records exist.
        if request.method in WRITE_METHODS:
            g.role = require_writer()
        else:
            g.role = caller_role()

    def fetch(rid: str, scope: frozenset[str]) -> StoredRecord:
        ours = parse_rid(path_rid(rid)).kind == kind
        stored = node_state().store.get(rid, scope) if ours else None
        if stored is None:
            raise errors.NotFound(f"No {kind} {rid}.")
        return stored

    def owned_live(rid: str) -> StoredRecord:
        return writes.owned(kind, path_rid(rid))

    def check_if_match(current: StoredRecord, required: bool) -> None:
        if "If-Match" not in request.headers:
            if required:
                raise errors.PreconditionRequired(
                    "Send If-Match with the record's current ETag to change it.",
                    errors=[{"field": "If-Match", "detail": "Required."}])
            return
        cond = request.if_match
        if not (cond.star_tag or cond.contains(etag_of(current).strip('"'))):
            raise errors.PreconditionFailed(
                f"If-Match does not name the current version ({etag_of(current)}).",
                errors=[{"field": "If-Match", "detail": "Stale or unknown ETag."}])

    def list_records(args: dict) -> Response:
        scope = scope_for(g.role)
        party = args.get("party")
        if alias and args.get(alias):
            if party and party != args[alias]:
                raise errors.ValidationError("Conflicting filters.", errors=[
                    {"field": alias, "detail": "Differs from party; give one of them."}])
            party = args[alias]
        visibility = args.get("visibility")
        if visibility is not None and visibility not in scope:
            return page_response(Page([], None))
        query = RecordQuery(
            kinds=(kind,), scope=scope, country=args.get("country"), field=args.get("field"),
            trl_min=args.get("trl_min"), trl_max=args.get("trl_max"), party=party,
            stage=args.get("stage"), event=args.get("event"), visibility=visibility,
            updated_since=args.get("updated_since"),
            include_deleted=args.get("include_deleted", False),
            limit=page_size(args), cursor=args.get("cursor"))
        return page_response(fetch_page(node_state().store.list, query))

    def create_record(payload: dict) -> Response:
        stored = writes.create(kind, payload["body"], payload["visibility"])
        return json_response(stored, 201, {
            "ETag": etag_of(stored),
            "Location": url_for(f"{plural}.get_record", rid=stored.envelope["rid"])})

    def get_record(rid: str) -> Response:
        stored = fetch(rid, scope_for(g.role))
        if stored.envelope["deleted"]:
            raise errors.Gone(f"The {kind} {rid} was deleted.")
        etag = etag_of(stored)
        cond = request.if_none_match
        if cond and (cond.star_tag or cond.contains_weak(etag.strip('"'))):
            return current_app.response_class(status=304, headers={"ETag": etag})
        return json_response(stored, 200, {"ETag": etag})

    def update_record(payload: dict, rid: str) -> Response:
        current = owned_live(rid)
        check_if_match(current, required=True)
        stored = writes.update(kind, rid, payload["body"], payload.get("visibility"),
                               current.version)
        return json_response(stored, 200, {"ETag": etag_of(stored)})

    def delete_record(rid: str) -> Response:
        current = owned_live(rid)
        check_if_match(current, required=False)
        writes.delete(kind, rid, current.version)
        return current_app.response_class(status=204)

    record, page = schemas["record"], schemas["page"]
    etag_hdr = {"ETag": "ETAG"}
    problems = {code: blp.alt_response(code, name) for code, name in (
        (400, "BAD_REQUEST"), (401, "UNAUTHORIZED"), (403, "FORBIDDEN"), (404, "NOT_FOUND"),
        (409, "CONFLICT"), (410, "GONE"), (412, "PRECONDITION_FAILED"),
        (415, "UNSUPPORTED_MEDIA_TYPE"), (428, "PRECONDITION_REQUIRED"))}
    if_match = blp.doc(parameters=["IF_MATCH"])
    secured = blp.doc(security=[{"bearer": []}])

    blp.route("", endpoint="list_records")(_doc_only(
        blp.arguments(schemas["query"], location="query")(list_records),
        blp.response(200, page, description=f"A page of {plural}, newest change first."),
        problems[401]))
    blp.route("", methods=["POST"], endpoint="create_record")(_doc_only(
        blp.arguments(schemas["create"])(create_record),
        blp.response(201, record, headers=etag_hdr), secured, problems[401], problems[403],
        problems[415]))
    blp.route("/<rid>", endpoint="get_record")(_doc_only(
        get_record, blp.response(200, record, headers=etag_hdr),
        blp.alt_response(304, "NOT_MODIFIED"), blp.doc(parameters=["IF_NONE_MATCH"]),
        problems[400], problems[404], problems[410]))
    blp.route("/<rid>", methods=["PUT"], endpoint="update_record")(_doc_only(
        blp.arguments(schemas["update"])(update_record),
        blp.response(200, record, headers=etag_hdr), if_match, secured,
        *(problems[c] for c in (401, 403, 404, 409, 410, 412, 415, 428))))
    blp.route("/<rid>", methods=["DELETE"], endpoint="delete_record")(_doc_only(
        delete_record, blp.response(204), if_match, secured,
        *(problems[c] for c in (401, 403, 404, 409, 410, 412))))
    return blp
