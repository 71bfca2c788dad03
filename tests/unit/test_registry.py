"""The alliance registry: schema, root signature, serials, key lookup, and the node's copy."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from jembatan.network import errors
from jembatan.network.keys import EPOCH, format_time, generate_key, parse_time
from jembatan.network.registry import (Registry, admit, install_registry, load_node_registry,
                                       load_registry, new_document, newer, publish, revoke_key,
                                       set_node_status)

T0 = parse_time("2025-06-01T00:00:00Z")
ROOT = generate_key()
NODE_KEY = generate_key("k-20250101-aaaaaa")


def document(*nodes: str) -> dict:
    doc = new_document("China–ASEAN TTA")
    for node in nodes:
        doc = admit(doc, node, url=f"https://{node}.example.org/", kid=NODE_KEY.kid,
                    public=NODE_KEY.public, not_before=EPOCH)
    return doc


def signed(doc: dict, serial: int = 1, root=ROOT) -> bytes:
    return publish(doc, root, serial=serial)


def test_round_trip_keeps_the_exact_text():
    text = signed(document("node-a", "node-b"))
    reg = load_registry(text, ROOT.public)
    assert reg.text == text and reg.serial == 1 and reg.alliance == "China–ASEAN TTA"
    assert [n.node for n in reg.nodes()] == ["node-a", "node-b"]
    assert reg.node("node-a").keys[0].public == NODE_KEY.public and reg.node("zz") is None
    with pytest.raises(AttributeError):
        reg.serial = 5
    # formatting does not matter, the content does: the signature covers JCS of the content
    compact = json.dumps(json.loads(text), separators=(",", ":")).encode()
    assert load_registry(compact, ROOT.public).serial == 1


def test_a_registry_not_signed_by_the_pinned_root_is_refused():
    with pytest.raises(errors.SignatureError) as exc:
        load_registry(signed(document("node-a"), root=generate_key()), ROOT.public)
    assert exc.value.reason == "bad_signature"
    text = signed(document("node-a")).replace(b"https://node-a.example.org/",
                                              b"https://evil.example.org/")
    with pytest.raises(errors.SignatureError) as exc:
        load_registry(text, ROOT.public)
    assert exc.value.reason == "bad_signature"


def _with(mutate) -> bytes:
    doc = json.loads(signed(document("node-a")))
    mutate(doc)
    return json.dumps(doc).encode()


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d.update(colour="red"), "colour"),
    (lambda d: d["nodes"][0].update(colour="red"), "nodes.0.colour"),
    (lambda d: d["nodes"][0]["keys"][0].update(colour="red"), "nodes.0.keys.0.colour"),
    (lambda d: d["sig"].update(colour="red"), "sig.colour"),
    (lambda d: d.update(serial="1"), "serial"),
    (lambda d: d.pop("issued_at"), "issued_at"),
    (lambda d: d["nodes"][0].update(status="sleeping"), "nodes.0.status"),
    (lambda d: d["nodes"][0].update(url="ftp://x.example/"), "nodes.0.url"),
    (lambda d: d["nodes"][0].update(node="Not A Node"), "nodes.0.node"),
    (lambda d: d["nodes"][0]["keys"][0].update(public="abc"), "nodes.0.keys.0.public"),
    (lambda d: d["nodes"][0]["keys"][0].update(not_after=EPOCH), "nodes.0.keys.0.not_after"),
    (lambda d: d["nodes"][0]["keys"][0].update(not_before="yesterday"), "nodes.0.keys.0.not_before"),
    (lambda d: d["nodes"].append(dict(d["nodes"][0])), "nodes"),
    (lambda d: d["sig"].update(alg="rsa"), "sig.alg"),
])
def test_schema_errors_name_the_field(mutate, field):
    with pytest.raises(errors.ValidationError) as exc:
        load_registry(_with(mutate), ROOT.public)
    assert field in {e["field"] for e in exc.value.errors}


def test_duplicate_keys_and_non_json_are_refused():
    text = signed(document()).replace(b'"serial": 1', b'"serial": 1, "serial": 9')
    with pytest.raises(errors.ValidationError) as exc:
        load_registry(text, ROOT.public)
    assert exc.value.errors == [{"field": "serial", "detail": "Duplicate key."}]
    with pytest.raises(errors.ValidationError):
        load_registry(b"[1, 2", ROOT.public)


def test_newer_accepts_only_a_higher_serial_of_the_same_alliance():
    one = load_registry(signed(document(), 1), ROOT.public)
    two = load_registry(signed(document(), 2), ROOT.public)
    assert newer(None, one) is one and newer(one, two) is two
    for stale in (one, load_registry(signed(document(), 0), ROOT.public)):
        with pytest.raises(errors.SignatureError) as exc:
            newer(one if stale is not one else two, stale)
        assert exc.value.reason == "stale_serial"
    other = new_document("Another alliance")
    with pytest.raises(errors.SignatureError) as exc:
        newer(one, load_registry(signed(other, 3), ROOT.public))
    assert exc.value.reason == "alliance_mismatch"


def _reason(reg: Registry, node: str, kid: str, at: int) -> str:
    with pytest.raises(errors.SignatureError) as exc:
        reg.key_for(node, kid, at)
    return exc.value.reason


def test_key_for_checks_node_key_and_window():
    new = generate_key("k-20250601-bbbbbb")
    doc = admit(document("node-a"), "node-a", url=None, kid=new.kid, public=new.public,
                not_before=format_time(T0))
    reg = load_registry(signed(doc), ROOT.public)
    old_kid = NODE_KEY.kid
    assert reg.node("node-a").keys[0].not_after == format_time(T0)   # the old window closed
    assert reg.key_for("node-a", old_kid, T0 - 1) == NODE_KEY.public
    assert reg.key_for("node-a", new.kid, T0) == new.public
    assert _reason(reg, "node-a", old_kid, T0) == "key_not_valid"     # expired
    assert _reason(reg, "node-a", new.kid, T0 - 1) == "key_not_valid"  # not yet valid
    assert _reason(reg, "node-a", "k-nope", T0) == "unknown_key"
    assert _reason(reg, "node-z", old_kid, T0) == "unknown_node"
    reg = load_registry(signed(revoke_key(doc, "node-a", new.kid)), ROOT.public)
    assert _reason(reg, "node-a", new.kid, T0) == "revoked_key"
    assert reg.key_for("node-a", old_kid, 0) == NODE_KEY.public


def test_suspension_keeps_keys_revocation_kills_them():
    doc = document("node-a")
    suspended = load_registry(signed(set_node_status(doc, "node-a", "suspended")), ROOT.public)
    assert not suspended.is_member("node-a")
    assert suspended.key_for("node-a", NODE_KEY.kid, T0) == NODE_KEY.public
    revoked = load_registry(signed(set_node_status(doc, "node-a", "revoked")), ROOT.public)
    assert not revoked.is_member("node-a")
    assert _reason(revoked, "node-a", NODE_KEY.kid, T0) == "revoked_key"
    assert load_registry(signed(doc), ROOT.public).is_member("node-a")


def test_admin_rules():
    doc = document("node-a")
    with pytest.raises(errors.ValidationError, match="must start after"):
        admit(doc, "node-a", url=None, kid="k-2", public=generate_key().public, not_before=EPOCH)
    with pytest.raises(errors.Conflict, match="already has a key"):
        admit(doc, "node-a", url=None, kid=NODE_KEY.kid, public=NODE_KEY.public,
              not_before=format_time(T0))
    with pytest.raises(errors.ValidationError, match="base URL"):
        admit(doc, "node-b", url=None, kid="k-1", public=NODE_KEY.public, not_before=EPOCH)
    revoked = set_node_status(doc, "node-a", "revoked")
    with pytest.raises(errors.Conflict, match="final"):
        set_node_status(revoked, "node-a", "active")
    with pytest.raises(errors.Conflict, match="final"):
        admit(revoked, "node-a", url=None, kid="k-3", public=NODE_KEY.public,
              not_before=format_time(T0))
    with pytest.raises(errors.NotFound):
        set_node_status(doc, "node-x", "suspended")
    assert doc["nodes"][0]["status"] == "active"       # the functions never change their input


def _node(tmp_path: Path, root: str | None = ROOT.public) -> Path:
    cfg = {"node_id": "node-a", "name": "A", "country": "ID", "store": "sqlite:///node.db"}
    if root:
        cfg["alliance_root"] = root
    (tmp_path / "node.json").write_text(json.dumps(cfg))
    return tmp_path


def test_node_installs_only_newer_registries_and_keeps_the_last_good_copy(tmp_path: Path):
    home = _node(tmp_path)
    assert load_node_registry(home) is None
    two = signed(document("node-a"), 2)
    assert install_registry(home, two).serial == 2
    for refused, reason in ((signed(document(), 2), "stale_serial"),
                            (signed(document(), 1), "stale_serial"),
                            (signed(document(), 3, root=generate_key()), "bad_signature")):
        with pytest.raises(errors.SignatureError) as exc:
            install_registry(home, refused)
        assert exc.value.reason == reason
        assert (home / "registry.json").read_bytes() == two
    with pytest.raises(errors.ValidationError):
        install_registry(home, b'{"alliance": 1}')
    assert load_node_registry(home).text == two
    three = signed(document("node-a", "node-b"), 3)
    install_registry(home, three)
    assert load_node_registry(home).text == three


def test_a_node_without_a_pinned_root_installs_nothing(tmp_path: Path):
    home = _node(tmp_path, root=None)
    with pytest.raises(errors.SignatureError) as exc:
        install_registry(home, signed(document(), 1))
    assert exc.value.reason == "no_root" and not (home / "registry.json").exists()
