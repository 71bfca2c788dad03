"""RFC 9421 request signatures between nodes: NodeAuth signs, verify_request checks against
a real registry; every refusal reason; and one round trip through a real HTTP server."""
from __future__ import annotations

import datetime
import json
import threading
import time

import pytest
import requests
from http_message_signatures import HTTPMessageSigner, algorithms
from http_message_signatures.digests import ContentDigest
from werkzeug.serving import make_server
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from jembatan.network import errors
from jembatan.network.keys import EPOCH, KeyInfo, KeyRing, b64u_decode, generate_key, parse_time
from jembatan.network.registry import (admit, load_registry, new_document, publish, revoke_key,
                                       set_node_status)
from jembatan.sync.httpsig import (COMPONENTS, NodeAuth, RequestSignatureError, content_digest,
                                   verify_request, wsgi_url)

T = parse_time("2025-06-01T00:00:00Z") / 1000        # the clock of most tests (seconds)
ROTATED = "2025-01-01T00:00:00Z"                    # node-e's second key starts here
ROOT = generate_key()
KEYS = {name: generate_key(f"k-20240101-{i:06x}") for i, name in enumerate(
    ("a", "b", "c", "d", "e1", "e2", "stray"))}
BASE = "https://node-h.example.org"


def _registry(doc_changes=()):
    doc = new_document("China–ASEAN TTA")
    for node, key in (("node-a", "a"), ("node-b", "b"), ("node-c", "c"), ("node-d", "d"),
                      ("node-e", "e1")):
        doc = admit(doc, node, url=f"https://{node}.example.org/", kid=KEYS[key].kid,
                    public=KEYS[key].public, not_before=EPOCH)
    doc = admit(doc, "node-e", url=None, kid=KEYS["e2"].kid, public=KEYS["e2"].public,
                not_before=ROTATED)
    doc = set_node_status(doc, "node-b", "suspended")
    doc = set_node_status(doc, "node-c", "revoked")
    doc = revoke_key(doc, "node-d", KEYS["d"].kid)
    return load_registry(publish(doc, ROOT, serial=1), ROOT.public)


REGISTRY = _registry()


def ring(*names: str) -> KeyRing:
    """A node's own keys as the node sees them (each window open: it may not know better)."""
    return KeyRing([(KeyInfo(KEYS[n].kid, KEYS[n].public, EPOCH, None), KEYS[n]) for n in names])


def signed(method="GET", path="/sync/v1/changes", *, node="node-a", key="a", clock=T, base=BASE,
           **kwargs) -> requests.PreparedRequest:
    req = requests.Request(method, base + path, **kwargs).prepare()
    return NodeAuth(node, ring(key), clock=lambda: clock)(req)


def verify(req, *, method=None, url=None, body=None, headers=None, now=T + 1,
           registry=REGISTRY, **kwargs):
    return verify_request(method=method or req.method, url=url or req.url,
                          headers=req.headers if headers is None else headers,
                          body=(req.body or b"") if body is None else body,
                          registry=registry, now=now, **kwargs)


def refused(req, reason: str, **kwargs) -> RequestSignatureError:
    with pytest.raises(RequestSignatureError) as exc:
        verify(req, **kwargs)
    assert exc.value.reason == reason, exc.value.detail
    return exc.value


class _TakeDigestAsIs(ContentDigest):
    # lets a test sign a Content-Digest the package itself would refuse to produce
    @classmethod
    def prepare(cls, headers, body, *, use_existing_digest):
        return None


class _CraftingSigner(HTTPMessageSigner):
    content_digest_class = _TakeDigestAsIs


def craft(req, *, components=COMPONENTS, key="a", node="node-a", label="jembatan", created=T,
          expires=None, append=False, take_digest=False) -> requests.PreparedRequest:
    """Sign ``req`` as a node could, but with a chosen label, components and times."""
    signer = (_CraftingSigner if take_digest else HTTPMessageSigner)(
        signature_algorithm=algorithms.ED25519)
    at = datetime.datetime.fromtimestamp(created, tz=datetime.timezone.utc)
    prepared = signer.prepare(
        req, key_id=f"{node}#{KEYS[key].kid}", created=at, label=label,
        expires=None if expires is None else datetime.datetime.fromtimestamp(
            expires, tz=datetime.timezone.utc), covered_component_ids=components)
    signer.apply(req, prepared, b64u_decode(KEYS[key].sign(prepared.signature_base), 64),
                 append_if_signature_exists=append)
    return req


def edit(req, field: str, old: str, new: str) -> requests.PreparedRequest:
    assert old in req.headers[field]
    req.headers[field] = req.headers[field].replace(old, new)
    return req


# -- accepted -------------------------------------------------------------------------------

def test_a_signed_get_names_its_node_and_covers_the_four_components():
    req = signed(params={"since": "c1.abc", "limit": "500"})
    assert verify(req) == "node-a"
    sig_input = req.headers["Signature-Input"]
    assert sig_input.startswith('jembatan=("@method" "@authority" "@path" "@query");')
    assert f'keyid="node-a#{KEYS["a"].kid}"' in sig_input and 'alg="ed25519"' in sig_input
    assert f"created={int(T)}" in sig_input and "Content-Digest" not in req.headers


def test_a_signed_post_carries_and_covers_the_body_digest():
    req = signed("POST", "/sync/v1/have", json={"urn:jembatan:node-b:org:x": "v1"})
    assert req.headers["Content-Digest"] == content_digest(req.body)
    assert '"@query" "content-digest");' in req.headers["Signature-Input"]
    assert verify(req) == "node-a"


def test_a_str_body_is_sent_as_the_utf8_bytes_that_were_digested():
    req = signed("POST", "/sync/v1/have", data="naïve=1",
                 headers={"Content-Type": "text/plain"})
    assert req.body == "naïve=1".encode() and req.headers["Content-Length"] == str(len(req.body))
    assert verify(req) == "node-a"


def test_a_streamed_body_cannot_be_signed():
    req = requests.Request("POST", BASE + "/sync/v1/have", data=iter([b"a", b"b"])).prepare()
    with pytest.raises(TypeError, match="in memory"):
        NodeAuth("node-a", ring("a"), clock=lambda: T)(req)


def test_signing_again_replaces_the_previous_fields():
    req = signed("POST", "/sync/v1/have", json={"a": 1})
    NodeAuth("node-a", ring("a"), clock=lambda: T + 60)(req)
    assert req.headers["Signature-Input"].count("jembatan=") == 1
    assert f"created={int(T) + 60}" in req.headers["Signature-Input"]
    assert verify(req, now=T + 61) == "node-a"


def test_authority_is_lower_case_without_the_default_port():
    req = signed(base="https://NODE-H.Example.org:443")
    assert verify(req, url="https://node-h.example.org/sync/v1/changes") == "node-a"
    req = signed(base="http://127.0.0.1:8080")
    refused(req, "bad_signature", url="http://127.0.0.1:8081/sync/v1/changes")


def test_the_nodes_current_key_signs_after_a_rotation():
    both = KeyRing([(KeyInfo(KEYS["e1"].kid, KEYS["e1"].public, EPOCH, ROTATED), KEYS["e1"]),
                    (KeyInfo(KEYS["e2"].kid, KEYS["e2"].public, ROTATED, None), KEYS["e2"])])
    req = NodeAuth("node-e", both, clock=lambda: T)(
        requests.Request("GET", BASE + "/sync/v1/registry").prepare())
    assert KEYS["e2"].kid in req.headers["Signature-Input"] and verify(req) == "node-e"


def test_the_time_window_is_inclusive_and_configurable():
    req = signed()
    assert verify(req, now=T + 300) == "node-a" and verify(req, now=T - 300) == "node-a"
    assert verify(req, now=T + 1000, window=1000) == "node-a"
    assert verify(craft(signed(), expires=T + 10), now=T + 9) == "node-a"


def test_an_unsigned_request_is_anonymous():
    req = requests.Request("GET", BASE + "/sync/v1/changes",
                           headers={"Authorization": "Bearer x"}).prepare()
    assert verify(req) is None
    assert verify(req, registry=None) is None


def test_a_suspended_node_still_verifies_but_is_not_a_member():
    req = signed(node="node-b", key="b")
    assert verify(req) == "node-b"
    assert REGISTRY.is_member("node-b") is False and REGISTRY.is_member("node-a") is True


def test_extra_covered_components_are_allowed():
    req = requests.Request("GET", BASE + "/sync/v1/changes",
                           headers={"Accept": "application/json"}).prepare()
    assert verify(craft(req, components=COMPONENTS + ("accept",))) == "node-a"


# -- refused: time, path, query, body, method, authority ------------------------------------

def test_expired_and_future_signatures():
    err = refused(signed(), "expired", now=T + 301)
    assert err.status == 401 and isinstance(err, errors.Unauthorized)
    refused(signed(), "in_future", now=T - 301)
    refused(craft(signed(), expires=T + 10), "expired", now=T + 10)


def test_a_signature_replayed_to_another_path_does_not_verify():
    req = signed(path="/sync/v1/records/urn:jembatan:node-a:org:1")
    refused(req, "bad_signature", url=BASE + "/sync/v1/records/urn:jembatan:node-a:org:2")
    refused(req, "bad_signature", url=BASE + "/sync/v1/changes")


def test_a_tampered_query_does_not_verify():
    req = signed(params={"since": "c1.abc", "limit": "500"})
    refused(req, "bad_signature", url=req.url.replace("limit=500", "limit=5000"))
    refused(req, "bad_signature", url=req.url + "&scope=alliance")
    refused(req, "bad_signature", url=BASE + "/sync/v1/changes")
    refused(signed(), "bad_signature", url=BASE + "/sync/v1/changes?since=0")


def test_a_tampered_body_is_refused():
    req = signed("POST", "/sync/v1/have", json={"a": "v1"})
    refused(req, "digest_mismatch", body=req.body.replace(b"v1", b"v2"))
    # the digest recomputed for the new body is not the one that was signed
    req.headers["Content-Digest"] = content_digest(b'{"a": "v2"}')
    refused(req, "bad_signature", body=b'{"a": "v2"}')


def test_a_body_added_to_a_request_signed_without_one_is_refused():
    err = refused(signed("POST", "/sync/v1/have"), "missing_component", body=b"{}")
    assert "content-digest" in err.detail


def test_a_stripped_digest_field_is_refused():
    req = signed("POST", "/sync/v1/have", json={"a": 1})
    del req.headers["Content-Digest"]
    refused(req, "digest_missing")


def test_a_digest_of_an_unsupported_algorithm_is_refused():
    req = requests.Request("POST", BASE + "/sync/v1/have", data=b"{}",
                           headers={"Content-Digest": "md5=:mZFLkyvTelC5g8XnyQrpOw==:"}).prepare()
    craft(req, components=COMPONENTS + ("content-digest",), take_digest=True)
    refused(req, "digest_unsupported")


def test_another_method_or_authority_does_not_verify():
    req = signed("POST", "/sync/v1/have", json={})
    refused(req, "bad_signature", method="PUT")
    refused(signed(), "bad_signature", url="https://node-x.example.org/sync/v1/changes")


# -- refused: keys and the registry ---------------------------------------------------------

def test_unknown_node_and_unknown_key():
    refused(signed(node="node-z"), "unknown_node")
    err = refused(signed(key="stray"), "unknown_key")
    assert KEYS["stray"].kid in err.errors[0]["detail"]


def test_revoked_key_and_revoked_node():
    refused(signed(node="node-d", key="d"), "revoked_key")
    refused(signed(node="node-c", key="c"), "revoked_key")


def test_a_key_outside_its_window_is_refused():
    # node-e rotated on ROTATED; its first key no longer signs anything after that
    refused(signed(node="node-e", key="e1"), "key_not_valid")
    assert verify(signed(node="node-e", key="e1", clock=T - 86400 * 200),
                  now=T - 86400 * 200) == "node-e"


def test_a_node_without_a_registry_refuses_every_signature():
    refused(signed(), "no_registry", registry=None)


def test_a_key_carried_in_the_message_is_never_used():
    # a stray key signing as node-a, naming node-a's registered kid: registry key ≠ signer
    req = requests.Request("GET", BASE + "/sync/v1/changes").prepare()
    craft(req, key="stray")
    edit(req, "Signature-Input", KEYS["stray"].kid, KEYS["a"].kid)
    refused(req, "bad_signature")


# -- refused: shape of the signature --------------------------------------------------------

def test_components_left_unsigned_are_refused():
    for left_out in COMPONENTS:
        req = requests.Request("GET", BASE + "/sync/v1/changes?since=x").prepare()
        craft(req, components=[c for c in COMPONENTS if c != left_out])
        err = refused(req, "missing_component")
        assert left_out in err.errors[0]["detail"]
    # a component with a parameter is not the component itself
    req = requests.Request("GET", BASE + "/sync/v1/changes?since=x").prepare()
    edit(craft(req), "Signature-Input", '"@path"', '"@path";bs')
    refused(req, "missing_component")


def test_two_signatures_or_another_label_are_refused():
    req = craft(signed(), label="other", append=True)
    assert "other=" in req.headers["Signature"]
    refused(req, "label")
    req = craft(requests.Request("GET", BASE + "/sync/v1/changes").prepare(), label="other")
    refused(req, "label")
    req = signed()
    req.headers["Signature-Input"] += ", " + req.headers["Signature-Input"]
    req.headers["Signature"] += ", " + req.headers["Signature"]
    refused(req, "malformed")     # the same label twice


@pytest.mark.parametrize("old, new, reason", [
    ('alg="ed25519"', 'alg="rsa-pss-sha512"', "unsupported_alg"),
    (';alg="ed25519"', "", "unsupported_alg"),
    (f"created={int(T)}", "created=1.5", "malformed"),
    (f"created={int(T)}", 'created="today"', "malformed"),
    (f"created={int(T)};", "", "no_created"),
    ('keyid="node-a#', 'keyid="node-a', "bad_keyid"),
    ('keyid="node-a#', 'keyid="Node A#', "bad_keyid"),
    ('keyid="node-a#', 'keyid="node-a##', "bad_keyid"),
    ('alg="ed25519"', 'alg="ed25519";colour="red"', "malformed"),
    ('jembatan=(', "jembatan=", "malformed"),
])
def test_bad_signature_parameters(old, new, reason):
    refused(edit(signed(), "Signature-Input", old, new), reason)


@pytest.mark.parametrize("field, value", [
    ("Signature-Input", "((("),
    ("Signature-Input", "jembatan=(\"@method\""),
    ("Signature", "jembatan=not base64"),
    ("Signature", 'jembatan="a string"'),
    ("Signature", "jembatan=:AAAA:"),
    ("Signature", "jembatan=:" + "é" * 10 + ":"),
    ("Signature-Input", None),
    ("Signature", None),
])
def test_garbage_headers_are_refused_as_malformed(field, value):
    req = signed()
    if value is None:
        del req.headers[field]
    else:
        req.headers[field] = value
    err = refused(req, "malformed")
    assert err.errors[0]["field"] == "Signature"


def test_a_component_that_cannot_be_resolved_is_malformed():
    req = requests.Request("GET", BASE + "/sync/v1/changes",
                           headers={"Accept": "application/json"}).prepare()
    craft(req, components=COMPONENTS + ("accept",))
    del req.headers["Accept"]
    refused(req, "malformed")


def test_the_refusal_is_a_401_problem_with_a_reason():
    err = refused(signed(), "expired", now=T + 3600)
    doc = err.to_problem()
    assert doc["status"] == 401 and doc["reason"] == "expired"
    assert doc["type"] == "urn:jembatan:problem:unauthorized"
    assert doc["errors"] == [{"field": "Signature", "detail": err.errors[0]["detail"]}]
    assert "3600 s ago" in doc["detail"]
    assert "jembatan=" in err.headers["Accept-Signature"]
    assert set(RequestSignatureError.REASONS) >= {"expired", "bad_signature", "no_registry"}


# -- URLs as a server sees them -------------------------------------------------------------

def test_wsgi_url_keeps_the_target_as_sent():
    environ = {"wsgi.url_scheme": "http", "HTTP_HOST": "127.0.0.1:8080",
               "RAW_URI": "/sync/v1/records/urn%3Ajembatan?x=a+b", "PATH_INFO": "ignored"}
    assert wsgi_url(environ) == "http://127.0.0.1:8080/sync/v1/records/urn%3Ajembatan?x=a+b"
    environ = {"wsgi.url_scheme": "https", "SERVER_NAME": "node-h.example.org",
               "SERVER_PORT": "443", "SCRIPT_NAME": "", "PATH_INFO": "/sync/v1/a b",
               "QUERY_STRING": "since=1"}
    assert wsgi_url(environ) == "https://node-h.example.org/sync/v1/a%20b?since=1"


def test_wsgi_url_of_a_test_client_request_verifies():
    # werkzeug's (and so Flask's) test client keeps a separate query out of RAW_URI
    req = signed("POST", "/sync/v1/records/urn%3Ajembatan%3Anode-a%3Aorg%3A1",
                 base="http://localhost", params={"since": "c1 x"}, json={"a": 1})
    path, _, query = req.path_url.partition("?")
    environ = EnvironBuilder(path=path, query_string=query, method="POST", data=req.body,
                             headers=dict(req.headers)).get_environ()
    assert "?" not in environ["RAW_URI"]
    request = Request(environ)
    assert verify_request(method=request.method, url=wsgi_url(environ),
                          headers=request.headers, body=request.get_data(),
                          registry=REGISTRY, now=T) == "node-a"
    # the framework's own URL has decoded the path: what was signed is gone
    with pytest.raises(RequestSignatureError):
        verify_request(method=request.method, url=request.url, headers=request.headers,
                       body=request.get_data(), registry=REGISTRY, now=T)


def test_an_iri_given_by_a_framework_is_encoded_back():
    req = signed(path="/sync/v1/records/%E4%B8%AD")
    assert verify(req, url=BASE + "/sync/v1/records/中") == "node-a"


# -- through a real HTTP server -------------------------------------------------------------

@pytest.fixture(scope="module")
def server():
    """A tiny node on 127.0.0.1:0 that answers 200 with the caller or 401 with the reason."""

    @Request.application
    def app(request: Request) -> Response:
        url = request.url if request.args.get("via") == "framework" else wsgi_url(request.environ)
        try:
            node = verify_request(method=request.method, url=url, headers=request.headers,
                                  body=request.get_data(), registry=REGISTRY)
        except RequestSignatureError as exc:
            return Response(json.dumps(exc.to_problem()), 401,
                            content_type="application/problem+json")
        return Response(json.dumps({"node": node}), 200, content_type="application/json")

    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    thread.join(timeout=10)


def test_over_http_signed_calls_are_verified(server):
    with requests.Session() as session:
        session.auth = NodeAuth("node-a", ring("a"))
        r = session.get(server + "/sync/v1/changes", params={"since": "c1.x", "limit": 10},
                        timeout=10)
        assert r.status_code == 200 and r.json() == {"node": "node-a"}
        r = session.post(server + "/sync/v1/have", json={"urn:jembatan:node-a:org:1": "v"},
                         timeout=10)
        assert r.status_code == 200 and r.json() == {"node": "node-a"}
        r = session.get(server + "/sync/v1/records/urn%3Ajembatan%3Anode-a%3Aorg%3A1",
                        timeout=10)
        assert r.status_code == 200, r.text
        r = session.get(server + "/sync/v1/records/urn:jembatan:node-a:org:1",
                        params={"via": "framework"}, timeout=10)
        assert r.status_code == 200, r.text
    r = requests.get(server + "/sync/v1/changes", timeout=10)
    assert r.status_code == 200 and r.json() == {"node": None}


def test_over_http_replays_and_tampering_get_401(server):
    req = signed(path="/sync/v1/changes", base=server, clock=time.time(),
                 params={"since": "c1.x"})
    stolen = {k: v for k, v in req.headers.items() if k.startswith("Signature")}
    r = requests.get(server + "/sync/v1/changes?since=c1.x", headers=stolen, timeout=10)
    assert r.status_code == 200
    r = requests.get(server + "/sync/v1/records/x?since=c1.x", headers=stolen, timeout=10)
    assert r.status_code == 401 and r.json()["reason"] == "bad_signature"
    r = requests.get(server + "/sync/v1/changes?since=c2.x", headers=stolen, timeout=10)
    assert r.status_code == 401 and r.json()["reason"] == "bad_signature"
    r = requests.post(server + "/sync/v1/changes?since=c1.x", headers=stolen, data=b"{}",
                      timeout=10)
    assert r.status_code == 401 and r.json()["reason"] == "missing_component"
    old = signed(path="/sync/v1/changes", base=server, clock=time.time() - 301)
    r = requests.get(server + "/sync/v1/changes", headers=dict(old.headers), timeout=10)
    assert r.status_code == 401 and r.json()["reason"] == "expired"
