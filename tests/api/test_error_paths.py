"""Every error path of the REST API, one table.

Each case sends one bad request to the real app and checks the same contract: the status, a
``application/problem+json`` body ``{type, title, status, detail, errors?}`` whose status is the
HTTP status, ``errors[].field`` naming the offending field where there is one, no traceback
or internals in the body, and a store left exactly as it was.
"""
from __future__ import annotations

import io
import json
from typing import Any, Callable

import pytest

from jembatan.network.envelope import load_envelope, make_envelope

from apikit import MAX_BODY, body, dumps, foreign_rid, make_node

TECHS = "/api/v1/technologies"
JSON = "application/json"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """One node for the whole table: every case must leave its store as it found it."""
    node = make_node(tmp_path_factory.mktemp("errors") / "node")
    yield node
    node.app.extensions["jembatan"].close()


@pytest.fixture(scope="module")
def world(node) -> dict[str, Any]:
    """Records the bad requests aim at, made before the store's state is recorded."""
    tech = node.created("technology")
    private = node.created("technology", visibility="private")
    dead = node.created("event")
    assert node.delete("event", dead["rid"]).status_code == 204
    foreign = load_envelope(make_envelope(rid=foreign_rid("technology"), body=body("technology"),
                                          version=1, hlc="1750000000000-0000",
                                          visibility="public"))
    assert node.store.apply([foreign], trusted=True)[0].status == "created"
    return {"tech": tech["rid"], "etag": node.get("technology", tech["rid"]).headers["ETag"],
            "private": private["rid"], "dead": dead["rid"], "foreign": foreign["rid"]}


def post_raw(data: bytes, content_type: str = JSON, role: str | None = "editor",
             url: str = TECHS, **kwargs) -> Callable:
    def send(node, w):
        return node.client.post(url, data=data, content_type=content_type,
                                headers=node.headers(role), **kwargs)
    return send


def post_body(kind_url: str, data: dict, **extra) -> Callable:
    return post_raw(dumps({"body": data, **extra}), url=kind_url)


def put_tech(data: dict | None = None, *, etag: str | None = "current", role: str = "editor",
             rid: str = "tech") -> Callable:
    def send(node, w):
        headers = node.headers(role)
        if etag is not None:
            headers["If-Match"] = {"current": w["etag"], "weak": "W/" + w["etag"]}.get(etag, etag)
        return node.client.put(f"{TECHS}/{w.get(rid, rid)}",
                               json={"body": data or body("technology", trl=7)}, headers=headers)
    return send


def delete_tech(etag: str) -> Callable:
    def send(node, w):
        return node.delete("technology", w["tech"], **{"If-Match": etag})
    return send


def get(url: str, role: str | None = None, **headers: str) -> Callable:
    def send(node, w):
        return node.client.get(url.format(**w), headers=node.headers(role, **headers))
    return send


def call(method: str, url: str, role: str | None = None, **kwargs) -> Callable:
    def send(node, w):
        return node.client.open(url.format(**w), method=method, headers=node.headers(role),
                                **kwargs)
    return send


def chunked_too_large(node, w):
    raw = dumps({"body": body("technology", keywords=["x" * 50] * (MAX_BODY // 40))})
    assert len(raw) > MAX_BODY
    return node.client.post(TECHS, input_stream=io.BytesIO(raw), content_type=JSON,
                            headers={**node.headers("editor"), "Transfer-Encoding": "chunked"},
                            environ_overrides={"wsgi.input_terminated": True})


def with_token(token: str, method: str = "GET", url: str = TECHS) -> Callable:
    def send(node, w):
        return node.client.open(url, method=method, headers={"Authorization": token},
                                json={"body": body("technology")} if method != "GET" else None)
    return send


TECH = body("technology")
INST_URL, DEMAND_URL = "/api/v1/institutions", "/api/v1/demands"
MALFORMED_RID = "urn:jembatan:univ-a:institution:not-a-uuid"
HAVE, ENDORSE = "/sync/v1/have", "/api/v1/agreements/{tech}/endorsements"
HAVE_RID = foreign_rid("technology")

CASES: list[tuple[str, Callable, int, str | None]] = [
    # --- invalid records (422)
    ("unknown field", post_body(TECHS, {**TECH, "colour": "red"}), 422, "body.colour"),
    ("unknown top-level key", post_body(TECHS, TECH, extra=1), 422, "extra"),
    ("missing body", post_raw(b'{"visibility": "public"}'), 422, "body"),
    ("body not an object", post_raw(b'{"body": [1, 2]}'), 422, "body"),
    ("bad visibility", post_body(TECHS, TECH, visibility="secret"), 422, "visibility"),
    ("bad country", post_body(INST_URL, body("institution", country="XX")), 422, "body.country"),
    ("bad currency", post_body(DEMAND_URL, body("demand", budget={"amount": "10.00",
                                                                  "currency": "ABC"})),
     422, "body.budget.currency"),
    ("TRL 10", post_body(TECHS, {**TECH, "trl": 10}), 422, "body.trl"),
    ("bad language tag", post_body(TECHS, {**TECH, "title": {"xx-!!": "t"}}), 422,
     "body.title.xx-!!"),
    ("unknown field code", post_body(TECHS, {**TECH, "fields": ["alchemy"]}), 422,
     "body.fields.0"),
    ("malformed rid reference", post_body(TECHS, {**TECH, "owner": MALFORMED_RID}), 422,
     "body.owner"),
    ("reference to the wrong kind", post_body(TECHS, {**TECH, "owner": foreign_rid("event")}),
     422, "body.owner"),
    ("top level not an object", post_raw(b"[1, 2, 3]"), 422, "(body)"),
    # --- malformed bodies (400)
    ("malformed JSON", post_raw(b'{"body": {"trl": 3,}}'), 400, "(body)"),
    ("non-UTF-8 body", post_raw(b'{"body": {"title": {"en": "caf\xe9"}}}'), 400, "(body)"),
    ("duplicate key", post_raw(b'{"body": {}, "body": {}}'), 400, "body"),
    ("nested duplicate key", post_raw(b'{"body": {"title": {"en": "a", "en": "b"}}}'), 400, "en"),
    ("NaN", post_raw(b'{"body": {"trl": NaN}}'), 400, "(body)"),
    ("Infinity", post_raw(b'{"body": {"trl": -Infinity}}'), 400, "(body)"),
    ("empty body", post_raw(b""), 400, "(body)"),
    ("nested too deeply", post_raw(b"[" * 30000 + b"]" * 30000), 400, "(body)"),
    ("huge integer", post_raw(b'{"body": {"trl": ' + b"9" * 5000 + b"}}"), 400, "(body)"),
    # --- media type and size
    ("wrong content type", post_raw(dumps({"body": TECH}), "text/plain"), 415, "Content-Type"),
    ("form content type", post_raw(b"body=x", "application/x-www-form-urlencoded"), 415,
     "Content-Type"),
    ("non-UTF-8 charset", post_raw(dumps({"body": TECH}), "application/json; charset=latin-1"),
     415, "Content-Type"),
    ("oversized body", post_raw(b'{"body": "' + b"x" * MAX_BODY + b'"}'), 413, None),
    ("oversized chunked body", chunked_too_large, 413, None),
    # --- credentials and roles
    ("no token", post_raw(dumps({"body": TECH}), role=None), 401, "Authorization"),
    ("unknown token", with_token("Bearer jbt_unknown-token", "POST"), 401, "Authorization"),
    ("unknown token on a read", with_token("Bearer jbt_unknown-token"), 401, "Authorization"),
    ("malformed Authorization", with_token("Basic dXNlcjpwYXNz"), 401, "Authorization"),
    ("token with bad characters", with_token("Bearer a b\tc"), 401, "Authorization"),
    ("viewer writing", post_raw(dumps({"body": TECH}), role="viewer"), 403, None),
    ("viewer deleting", call("DELETE", TECHS + "/{tech}", role="viewer"), 403, None),
    ("anonymous update of a private record", call("PUT", TECHS + "/{private}",
                                                  json={"body": TECH}), 401, "Authorization"),
    # --- conditional requests
    ("stale If-Match", put_tech(etag='"1-0000000000000000"'), 412, "If-Match"),
    ("weak If-Match", put_tech(etag="weak"), 412, "If-Match"),
    ("missing If-Match", put_tech(etag=None), 428, "If-Match"),
    ("stale If-Match on delete", delete_tech('"1-ffffffffffffffff"'), 412, "If-Match"),
    # --- records that are not there (for this caller) or not ours
    ("unknown rid", get(TECHS + "/" + foreign_rid("technology")), 404, None),
    ("private record, anonymous", get(TECHS + "/{private}"), 404, None),
    ("private record, anonymous, If-None-Match", get(TECHS + "/{private}",
                                                     **{"If-None-Match": "*"}), 404, None),
    ("rid of another kind", get("/api/v1/institutions/{tech}"), 404, None),
    ("malformed rid in the path", get(TECHS + "/not-a-rid"), 400, "rid"),
    ("deleted record", get("/api/v1/events/{dead}"), 410, None),
    ("update of a deleted record", call("PUT", "/api/v1/events/{dead}", role="editor",
                                        json={"body": body("event")}), 410, None),
    ("update of another node's record", put_tech(rid="foreign", etag="*"), 409, None),
    ("delete of another node's record", call("DELETE", TECHS + "/{foreign}", role="admin"),
     409, None),
    # --- URLs and methods
    ("unknown URL", get("/api/v1/nothing-here"), 404, None),
    ("unknown URL under a resource", get(TECHS + "/{tech}/history"), 404, None),
    ("wrong method", call("PATCH", TECHS + "/{tech}", role="editor"), 405, None),
    ("wrong method on a list", call("DELETE", TECHS, role="editor"), 405, None),
    # --- query parameters
    ("bad cursor", get(TECHS + "?cursor=not-a-cursor"), 400, "cursor"),
    ("unknown query parameter", get(TECHS + "?colour=red"), 422, "colour"),
    ("filter not for this kind", get(INST_URL + "?stage=registered"), 422, "stage"),
    ("limit not a number", get(TECHS + "?limit=many"), 422, "limit"),
    ("limit too large", get(TECHS + "?limit=100000"), 422, "limit"),
    ("limit zero", get(TECHS + "?limit=0"), 422, "limit"),
    ("bad country filter", get(TECHS + "?country=XX"), 422, "country"),
    ("bad field filter", get(TECHS + "?field=alchemy"), 422, "field"),
    ("TRL filter 10", get(TECHS + "?trl_min=10"), 422, "trl_min"),
    ("TRL range reversed", get(TECHS + "?trl_min=7&trl_max=3"), 422, "trl_min"),
    ("malformed party filter", get(TECHS + "?owner=" + MALFORMED_RID), 422, "owner"),
    ("bad updated_since", get(TECHS + "?updated_since=yesterday"), 422, "updated_since"),
    ("bad include_deleted", get(TECHS + "?include_deleted=perhaps"), 422, "include_deleted"),
    ("search without q", get("/api/v1/search"), 422, "q"),
    ("search with empty q", get("/api/v1/search?q=%20"), 422, "q"),
    ("search of an unknown kind", get("/api/v1/search?q=x&kind=endorsement"), 422, "kind"),
    ("search with a bad cursor", get("/api/v1/search?q=x&cursor=zzz"), 400, "cursor"),
    # --- flows and statistics
    ("flows: period reversed", get("/api/v1/flows?from=2025&to=2020"), 422, "from"),
    ("flows: unknown field", get("/api/v1/flows?field=alchemy"), 422, "field"),
    ("flows: unknown format", get("/api/v1/flows?format=xlsx"), 422, "format"),
    ("flows: unknown institution kind", get("/api/v1/flows?provider_kind=guild"), 422, "provider_kind"),
    ("flow series: no recipient", get("/api/v1/flows/series?provider=CN"), 422, "recipient"),
    ("stats: bad country", get("/api/v1/stats?country=XX"), 422, "country"),
    ("stats: bad year", get("/api/v1/stats?to=soon"), 422, "to"),
    # --- the sync protocol (anonymous callers) and the federation API
    ("feed: forged cursor", get("/sync/v1/changes?since=eyJ4IjoxfQ.AAAA"), 400, "since"),
    ("feed: limit too large", get("/sync/v1/changes?limit=100000"), 422, "limit"),
    ("feed: unknown parameter", get("/sync/v1/changes?colour=red"), 422, "colour"),
    ("feed: malformed request signature", get("/sync/v1/changes", **{
        "Signature-Input": "jembatan=garbage", "Signature": "jembatan=:AAAA:"}), 401, "Signature"),
    ("sync record: malformed rid", get("/sync/v1/records/not-a-rid"), 400, "rid"),
    ("sync record: private", get("/sync/v1/records/{private}"), 404, None),
    ("sync registry: none yet", get("/sync/v1/registry"), 404, None),
    ("have: not an object", post_raw(b"[1]", url=HAVE, role=None), 422, "(body)"),
    ("have: malformed JSON", post_raw(b"{", url=HAVE, role=None), 400, "(body)"),
    ("have: not a rid", post_raw(b'{"x": 1}', url=HAVE, role=None), 422, "x"),
    ("have: bad version", post_raw(dumps({HAVE_RID: -1}), url=HAVE, role=None), 422, HAVE_RID),
    ("quarantine: anonymous", get("/api/v1/federation/quarantine"), 401, "Authorization"),
    ("quarantine: limit zero", get("/api/v1/federation/quarantine?limit=0", "viewer"), 422, "limit"),
    ("confirmation: malformed rid", get("/api/v1/agreements/zzz/confirmation"), 400, "rid"),
    ("confirmation: not an agreement", get("/api/v1/agreements/{tech}/confirmation"), 404, None),
    ("endorse: anonymous", call("POST", ENDORSE, json={"party": "x"}), 401, "Authorization"),
    ("endorse: viewer", call("POST", ENDORSE, "viewer", json={"party": "x"}), 403, None),
    ("endorse: no party", call("POST", ENDORSE, "editor", json={}), 422, "party"),
    ("endorse: not an agreement", call("POST", ENDORSE, "editor", json={
        "party": foreign_rid("institution")}), 404, None),
    # --- read-only Cypher (this node's store is SQLite; the Neo4j paths: test_cypher.py)
    ("cypher: anonymous", call("POST", "/api/v1/cypher", json={"query": "RETURN 1"}), 401,
     "Authorization"),
    ("cypher: viewer", call("POST", "/api/v1/cypher", "viewer", json={"query": "RETURN 1"}),
     403, None),
    ("cypher: editor", call("POST", "/api/v1/cypher", "editor", json={"query": "RETURN 1"}),
     403, None),
    ("cypher: SQLite store", call("POST", "/api/v1/cypher", "analyst",
                                  json={"query": "RETURN 1"}), 409, None),
]

LEAKS = ("Traceback", 'File "', "sqlite3", "OperationalError", "werkzeug", "marshmallow",
         "webargs", "/site-packages/")


@pytest.mark.parametrize("send,status,field", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_path(node, world, send, status, field):
    before = node.snapshot()
    resp = send(node, world)
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"] == "application/problem+json"
    text = resp.get_data(as_text=True)
    doc = json.loads(text)
    assert {"type", "title", "status", "detail"} <= set(doc)
    assert set(doc) <= {"type", "title", "status", "detail", "errors", "reason"}
    assert doc["status"] == status
    assert doc["type"].startswith("urn:jembatan:problem:")
    assert isinstance(doc["title"], str) and isinstance(doc["detail"], str) and doc["detail"]
    if field is not None:
        assert field in [e["field"] for e in doc.get("errors", [])], doc
    for e in doc.get("errors", []):
        assert set(e) == {"field", "detail"} and e["detail"]
    for leak in LEAKS:
        assert leak not in text
    if status == 401 and field == "Authorization":
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    if status == 401 and field == "Signature":
        assert doc["reason"] and "Accept-Signature" in resp.headers
    if status == 405:
        assert "GET" in resp.headers["Allow"]
    assert node.snapshot() == before


def test_unexpected_errors_say_nothing(node_home):
    from jembatan.api.app import create_app
    app = create_app({"JEMBATAN_HOME": str(node_home), "TESTING": True})

    def boom():
        raise RuntimeError("secret internal detail at /srv/node.db")

    app.add_url_rule("/boom", view_func=boom)
    resp = app.test_client().get("/boom")
    assert resp.status_code == 500
    assert resp.headers["Content-Type"] == "application/problem+json"
    doc = resp.get_json()
    assert doc == {"type": "urn:jembatan:problem:internal", "title": "Internal error",
                   "status": 500, "detail": "Internal error"}
    assert "secret" not in resp.get_data(as_text=True)
