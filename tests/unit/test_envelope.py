import json

import pytest
import rfc8785

from jembatan.network import errors
from jembatan.network.envelope import canonical_bytes, content_hash, load_envelope, make_envelope
from jembatan.network.ids import new_rid

INST = new_rid("node-a", "institution")


def tech_envelope(**over):
    env = make_envelope(rid=new_rid("node-a", "technology"), version=1, hlc="1700000000000-0000",
                        visibility="public",
                        body={"title": {"zh-Hans": "高能量密度锂电池", "th": "แบตเตอรี่", "en": "Battery \"x\"\n\t\\"},
                              "owner": INST, "fields": ["energy_storage"], "trl": 6,
                              "transfer_modes": ["licence"], "stage": "registered",
                              "keywords": ["é", "😀", "x\u2028y"]})
    env.update(over)
    return env


def test_canonical_bytes_equal_rfc8785():
    env = tech_envelope()
    assert canonical_bytes(env) == rfc8785.dumps(env)
    assert canonical_bytes({"k": ["\u007f", "\u2028", "\ud7ff\ue000"]}) == rfc8785.dumps({"k": ["\u007f", "\u2028", "\ud7ff\ue000"]})
    weird = {"b": [1, -2, 2**53 - 1, True, None], "a": {"z": "\u0001\u001f\"", "é": "x"}, "": ""}
    assert canonical_bytes(weird) == rfc8785.dumps(weird)


def test_load_envelope_is_identity_on_valid_records():
    env = tech_envelope()
    assert load_envelope(json.loads(json.dumps(env))) == env


def test_hash_covers_content_not_signatures():
    env = tech_envelope()
    signed = dict(env, sigs=[{"signer": "node-a", "kid": "k1", "alg": "ed25519", "sig": "abc"}])
    assert content_hash(env) == content_hash(signed)
    assert content_hash(env) != content_hash(dict(env, visibility="private"))


@pytest.mark.parametrize("over,field", [
    ({"kind": "demand"}, "kind"),
    ({"origin": "node-b"}, "origin"),
    ({"version": 0}, "version"),
    ({"version": "1"}, "version"),
    ({"hlc": "yesterday"}, "hlc"),
    ({"visibility": "secret"}, "visibility"),
    ({"deleted": True}, "body"),
    ({"body": None}, "body"),
    ({"extra": 1}, "extra"),
    ({"rid": "urn:jembatan:node-a:technology:1"}, "rid"),
    ({"sigs": [{"signer": "a", "kid": "k", "alg": "rsa", "sig": "x"}]}, "sigs.0.alg"),
])
def test_bad_envelopes(over, field):
    with pytest.raises(errors.ValidationError) as exc:
        load_envelope(tech_envelope(**over))
    assert field in {e["field"] for e in exc.value.errors}


def test_tombstone_is_valid():
    env = tech_envelope(deleted=True, body=None, version=2)
    assert load_envelope(env)["deleted"] is True
