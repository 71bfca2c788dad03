"""Signed records: sign, cut the signature out of the canonical text, verify against the
registry, and refuse every way a record can be wrong."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from jembatan.graph.prepare import encode
from jembatan.network import errors
from jembatan.network.envelope import load_envelope, make_envelope, signing_bytes
from jembatan.network.hlc import format_hlc
from jembatan.network.ids import new_rid
from jembatan.network.keys import EPOCH, add_key, format_time, generate_key, load_keyring, parse_time
from jembatan.network.registry import (admit, load_registry, new_document, publish, revoke_key,
                                       set_node_status)
from jembatan.network.signing import sign_all, sign_envelope, split_signed, verify_text

T0 = parse_time("2025-06-01T00:00:00Z")
ROOT = generate_key()
KEY_A, KEY_B = generate_key("k-20250101-aaaaaa"), generate_key("k-20250101-bbbbbb")
INST = "urn:jembatan:node-a:institution:0190a5b0-0000-7000-8000-000000000001"


def body() -> dict:
    return {"title": {"zh-Hans": "高效钙钛矿太阳能电池", "en": "Perovskite cells \"quoted\" \\ ok"},
            "owner": INST, "fields": ["new_energy"], "trl": 6, "transfer_modes": ["licence"],
            "stage": "registered"}


def envelope(namespace: str = "node-a", ms: int = T0, **over) -> dict:
    env = make_envelope(rid=new_rid(namespace, "technology", ms=ms), body=body(), version=1,
                        hlc=format_hlc(ms, 3), visibility="public")
    env.update(over)
    return env


def registry_doc() -> dict:
    doc = new_document("TTA")
    for node, key in (("node-a", KEY_A), ("node-b", KEY_B)):
        doc = admit(doc, node, url=f"https://{node}.example/", kid=key.kid, public=key.public,
                    not_before=EPOCH)
    return doc


def registry(doc: dict | None = None):
    return load_registry(publish(doc or registry_doc(), ROOT, serial=1), ROOT.public)


def text_of(env: dict) -> bytes:
    return encode(env)[0].encode("utf-8")


def reason(text: bytes | str, reg=None) -> str:
    with pytest.raises(errors.SignatureError) as exc:
        verify_text(text, reg or registry())
    return exc.value.reason


def test_sign_and_verify_round_trip():
    env = sign_envelope(envelope(), KEY_A, "node-a")
    assert env["sigs"] == [{"signer": "node-a", "kid": KEY_A.kid, "alg": "ed25519",
                            "sig": env["sigs"][0]["sig"]}]
    text = text_of(env)
    assert verify_text(text, registry()) == env
    assert verify_text(text.decode("utf-8"), registry()) == env
    # the caller's check: the verified text is exactly what prepare makes of the record
    assert encode(load_envelope(verify_text(text, registry())))[0].encode() == text


def test_split_signed_gives_the_signing_bytes_without_parsing():
    env = sign_envelope(envelope(deleted=True, body=None), KEY_A, "node-a")
    data, sigs = split_signed(text_of(env))
    assert data == signing_bytes(env) and sigs == env["sigs"]


def test_every_single_byte_tampered_fails():
    text = text_of(sign_envelope(envelope(), KEY_A, "node-a"))
    reg = registry()
    for i in range(len(text)):
        for new in {text[i] ^ 1, ord("0") if text[i] != ord("0") else ord("1")}:
            tampered = text[:i] + bytes([new]) + text[i + 1:]
            with pytest.raises(errors.SignatureError):
                verify_text(tampered, reg)
    assert verify_text(text, reg)["origin"] == "node-a"


def test_sigs_member_moved_or_duplicated_is_not_canonical():
    env = sign_envelope(envelope(), KEY_A, "node-a")
    text = text_of(env).decode()
    sigs = ',"sigs":' + json.dumps(env["sigs"], separators=(",", ":"), sort_keys=True)
    assert sigs in text
    without = text.replace(sigs, "")
    moved = '{"sigs":' + sigs[8:] + "," + without[1:]
    assert reason(moved) == "not_canonical"
    at_end = without[:-1] + sigs + "}"
    assert reason(at_end) == "not_canonical"
    doubled = text.replace(sigs, sigs + sigs)
    assert reason(doubled) == "not_canonical"
    twice = text.replace(sigs, ',"sigs":' + json.dumps(env["sigs"] * 2, separators=(",", ":"),
                                                          sort_keys=True))
    assert reason(twice) == "not_canonical"
    pretty = json.dumps(env, indent=1, sort_keys=True)
    assert reason(pretty) == "not_canonical"
    with pytest.raises(errors.SignatureError) as exc:
        split_signed(pretty)
    assert exc.value.reason == "not_canonical"


def test_unsigned_records_are_refused():
    assert reason(text_of(envelope())) == "unsigned"


def test_a_rid_in_another_nodes_namespace_is_refused():
    # node-b signs a record whose rid lies in node-a's namespace (and claims node-a)
    assert reason(text_of(sign_envelope(envelope("node-a"), KEY_B, "node-b"))) == "namespace_mismatch"


def test_a_record_claiming_another_origin_is_refused():
    # node-b signs a record in its own namespace that claims to come from node-a
    env = sign_envelope(envelope("node-b", origin="node-a"), KEY_B, "node-b")
    assert reason(text_of(env)) == "origin_mismatch"


def test_a_signature_by_the_right_node_with_the_wrong_key_is_refused():
    env = sign_envelope(envelope(), generate_key(KEY_A.kid), "node-a")
    assert reason(text_of(env)) == "bad_signature"


def test_unknown_node_unknown_key_revoked_key():
    other = generate_key()
    assert reason(text_of(sign_envelope(envelope("node-z"), other, "node-z"))) == "unknown_node"
    assert reason(text_of(sign_envelope(envelope(), other, "node-a"))) == "unknown_key"
    text = text_of(sign_envelope(envelope(), KEY_A, "node-a"))
    assert reason(text, registry(revoke_key(registry_doc(), "node-a", KEY_A.kid))) == "revoked_key"
    assert reason(text, registry(set_node_status(registry_doc(), "node-a", "revoked"))) == "revoked_key"
    # a suspended node's records still verify: suspension only stops its sync access
    assert verify_text(text, registry(set_node_status(registry_doc(), "node-a", "suspended")))


def test_a_record_outside_the_keys_window_is_refused():
    new = generate_key("k-20250601-cccccc")
    doc = admit(registry_doc(), "node-a", url=None, kid=new.kid, public=new.public,
                not_before=format_time(T0))
    late = text_of(sign_envelope(envelope(ms=T0 + 5), KEY_A, "node-a"))
    assert reason(late, registry(doc)) == "key_not_valid"          # old key after its window
    early = text_of(sign_envelope(envelope(ms=T0 - 5), new, "node-a"))
    assert reason(early, registry(doc)) == "key_not_valid"         # new key before its window


def test_rotated_keys_old_records_verify_and_new_ones_use_the_new_kid(tmp_path: Path):
    first = add_key(tmp_path)
    second = add_key(tmp_path, T0, now=T0 - 60_000)
    ring = load_keyring(tmp_path)
    doc = new_document("TTA")
    doc = admit(doc, "node-a", url="https://a.example/", kid=first.kid, public=first.public,
                not_before=first.not_before)
    doc = admit(doc, "node-a", url=None, kid=second.kid, public=second.public,
                not_before=second.not_before)
    reg = registry(doc)
    old = envelope(ms=T0 - 1000)
    new = envelope(ms=T0 + 1000)
    old_signed = sign_envelope(old, ring.at(T0 - 1000), "node-a")
    new_signed = sign_envelope(new, ring.at(T0 + 1000), "node-a")
    assert old_signed["sigs"][0]["kid"] == first.kid
    assert new_signed["sigs"][0]["kid"] == second.kid
    assert verify_text(text_of(old_signed), reg) == old_signed
    assert verify_text(text_of(new_signed), reg) == new_signed


def test_signing_outside_the_keys_own_window_is_refused(tmp_path: Path):
    add_key(tmp_path, T0)
    key = load_keyring(tmp_path).at(T0)
    with pytest.raises(errors.SignatureError) as exc:
        sign_envelope(envelope(ms=T0 - 1), key, "node-a")
    assert exc.value.reason == "key_not_valid"


def test_sign_all_streams_and_signature_error_is_a_422_problem_with_a_reason():
    envs = list(sign_all((envelope(ms=T0 + i) for i in range(3)), KEY_A, "node-a"))
    assert all(verify_text(text_of(e), registry()) == e for e in envs)
    problem = errors.SignatureError("unknown_key").to_problem()
    assert problem["status"] == 422 and problem["reason"] == "unknown_key"
    assert problem["type"] == "urn:jembatan:problem:signature"
