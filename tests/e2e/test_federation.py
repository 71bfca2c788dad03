"""Federation between real node processes: relay, visibility, deletion, cursors, signatures.

Three nodes on 127.0.0.1 — C pulls from B, B from A — plus, where a peer must misbehave, a
hostile peer (``rogue.RoguePeer``) serving records the test wrote.
"""
from __future__ import annotations

import json
import subprocess

import pytest
import requests

from nodes import CLI
from fedkit import Federation, institution, make_federation, stop_federation
from rogue import RoguePeer


@pytest.fixture(scope="module")
def fed(tmp_path_factory) -> Federation:
    fed = make_federation(tmp_path_factory.mktemp("fed"))
    yield fed
    stop_federation(fed)


def feed(node, auth=None, **params) -> requests.Response:
    return node.http.get(node.url + "/sync/v1/changes", params=params, auth=auth, timeout=60)


def feed_rids(node, auth=None) -> set[str]:
    """Every rid in the node's whole feed as this caller sees it."""
    rids, since = set(), None
    while True:
        reply = feed(node, auth, **({"since": since} if since else {}))
        assert reply.status_code == 200, reply.text
        rids |= {json.loads(line)["rid"] for line in reply.text.splitlines()}
        since = reply.headers["Sync-Next"]
        if reply.headers["Sync-More"] == "?0":
            return rids


def raw(node, rid: str, auth=None) -> requests.Response:
    return node.http.get(f"{node.url}/sync/v1/records/{rid}", auth=auth, timeout=60)


def test_relay_a_to_b_to_c_verified_at_c(fed: Federation):
    rec = fed.a.create("institution", institution())
    alliance_only = fed.a.create("institution", institution(), visibility="alliance")
    fed.b.sync()
    fed.c.sync()
    original = raw(fed.a, rec["rid"]).content
    assert raw(fed.c, rec["rid"]).content == original          # byte for byte, two hops on
    assert fed.c.holds(rec["rid"])["sigs"][0]["signer"] == "node-a"
    assert fed.c.holds(alliance_only["rid"])["visibility"] == "alliance"
    peers = {p["url"]: p for p in fed.c.status()["peers"]}
    assert peers[fed.b.url]["state"] == "ok" and peers[fed.b.url]["lag"] == 0
    assert peers[fed.b.url]["totals"]["quarantined"] == 0


def test_private_records_never_leave_by_any_path(fed: Federation):
    secret = fed.a.create("institution", institution("Rahasia"), visibility="private")
    rid = secret["rid"]
    member = fed.auth(fed.b)
    assert rid not in feed_rids(fed.a) and rid not in feed_rids(fed.a, member)
    for auth in (None, member):
        assert raw(fed.a, rid, auth).status_code == 404
        have = fed.a.http.post(fed.a.url + "/sync/v1/have", json={rid: 0}, auth=auth, timeout=60)
        assert have.status_code == 200 and have.json() == {}
    assert fed.a.request("GET", f"/api/v1/institutions/{rid}").status_code == 404
    # a node user's bearer token does not open the sync feed to private records either
    bearer = fed.a.request("GET", "/sync/v1/changes", "admin")
    assert rid not in bearer.text
    fed.b.sync()
    fed.c.sync()
    assert fed.b.holds(rid) is None and fed.c.holds(rid) is None
    assert fed.a.holds(rid)["visibility"] == "private"             # still there at home


def test_alliance_records_only_to_active_members(fed: Federation, tmp_path):
    from nodes import Node
    rec = fed.a.create("institution", institution(), visibility="alliance")
    assert rec["rid"] in feed_rids(fed.a, fed.auth(fed.b))
    assert rec["rid"] not in feed_rids(fed.a)                      # anonymous
    assert raw(fed.a, rec["rid"]).status_code == 404
    assert raw(fed.a, rec["rid"], fed.auth(fed.b)).status_code == 200
    # a node that was never admitted signs its requests: refused, not served
    outsider = Node("outsider", tmp_path / "outsider")
    outsider.init("VN")
    reply = feed(fed.a, fed.auth(outsider))
    assert reply.status_code == 401
    assert reply.headers["Content-Type"].startswith("application/problem+json")
    assert rec["rid"] not in reply.text


def test_narrowed_visibility_purges_the_copy_two_hops_away(fed: Federation):
    rec = fed.a.create("institution", institution("Menyempit"))
    fed.b.sync()
    fed.c.sync()
    assert fed.c.holds(rec["rid"])["body"]["name"]
    fed.a.update(rec, visibility="private")
    fed.b.sync()
    fed.c.sync()
    for node in (fed.b, fed.c):
        assert node.holds(rec["rid"]) == {"deleted": True}
        stored = raw(node, rec["rid"], fed.auth(fed.b)).json()
        assert stored["deleted"] is True and stored["body"] is None
        assert stored["sigs"][0]["signer"] == "node-a"               # A signed the tombstone
    assert fed.a.holds(rec["rid"])["visibility"] == "private"      # A keeps the record itself


def test_delete_then_a_lower_version_cannot_resurrect(fed: Federation):
    rec = fed.a.create("institution", institution("Dihapus"))
    fed.b.sync()
    old = raw(fed.a, rec["rid"]).text
    fed.a.delete(rec)
    fed.b.sync()
    assert fed.b.holds(rec["rid"]) == {"deleted": True}
    with RoguePeer() as rogue:
        rogue.feed([old])
        fed.b.peer(rogue.url)
        try:
            out = fed.b.sync("--peer", rogue.url)
            assert "stale 1" in out.stdout
        finally:
            fed.b.cli("peer", "remove", rogue.url)
    assert fed.b.holds(rec["rid"]) == {"deleted": True}


def test_a_stale_version_arriving_by_relay_changes_nothing(fed: Federation):
    rec = fed.a.create("institution", institution("Versi"))
    v1 = raw(fed.a, rec["rid"]).text
    fed.a.update(rec, body={**rec["body"], "city": "Medan"})
    fed.b.sync()
    assert fed.b.holds(rec["rid"])["version"] == 2
    with RoguePeer() as rogue:
        rogue.feed([v1])
        fed.b.peer(rogue.url)
        try:
            out = fed.b.sync("--peer", rogue.url)
        finally:
            fed.b.cli("peer", "remove", rogue.url)
    assert "stale 1" in out.stdout and "quarantined 0" in out.stdout
    assert fed.b.holds(rec["rid"])["version"] == 2


def test_the_same_page_twice_changes_nothing(fed: Federation):
    rec = fed.a.create("institution", institution("Dua kali"))
    line = raw(fed.a, rec["rid"]).text
    with RoguePeer() as rogue:
        rogue.feed([line, line])
        fed.c.peer(rogue.url)
        try:
            first = fed.c.sync("--peer", rogue.url).stdout
            second = fed.c.sync("--peer", rogue.url).stdout
        finally:
            fed.c.cli("peer", "remove", rogue.url)
    assert "applied 1, unchanged 1" in first
    assert "applied 0, unchanged 2" in second
    assert fed.c.holds(rec["rid"])["version"] == 1


@pytest.mark.parametrize("since", ["garbage", "eyJ4IjoxfQ.AAAA", "a" * 600, ""])
def test_a_forged_or_malformed_cursor_is_400_and_leaks_nothing(fed: Federation, since: str):
    reply = feed(fed.a, fed.auth(fed.b), since=since)
    assert reply.status_code in (400, 422)
    problem = reply.json()
    assert reply.headers["Content-Type"].startswith("application/problem+json")
    assert any(e["field"] == "since" for e in problem["errors"])
    assert ":institution:" not in reply.text and "sigs" not in reply.text   # no record


def test_a_cursor_of_an_anonymous_caller_does_not_open_the_alliance_feed(fed: Federation):
    anon = feed(fed.a, limit=1)
    reply = feed(fed.a, fed.auth(fed.b), since=anon.headers["Sync-Next"])
    assert reply.status_code == 400


def test_request_signatures_expired_replayed_or_tampered_are_401(fed: Federation):
    from jembatan.sync.httpsig import NodeAuth
    from jembatan.network.keys import load_keyring
    import time
    ring = load_keyring(fed.b.home)
    old = NodeAuth("node-b", ring, clock=lambda: time.time() - 600)
    reply = feed(fed.a, old)
    assert reply.status_code == 401 and reply.json()["reason"] == "expired"

    signed = requests.Request("GET", fed.a.url + "/sync/v1/changes?limit=10",
                              auth=fed.auth(fed.b)).prepare()
    for url in (fed.a.url + "/sync/v1/registry",          # replayed to another path
                fed.a.url + "/sync/v1/changes?limit=11"):  # a tampered query
        replay = requests.get(url, headers=dict(signed.headers), timeout=60)
        assert replay.status_code == 401, url
        assert replay.json()["reason"] == "bad_signature"
    ok = requests.get(signed.url, headers=dict(signed.headers), timeout=60)
    assert ok.status_code == 200


def test_agreement_confirmed_only_when_every_partys_node_endorsed_this_version(fed: Federation):
    inst_a = fed.a.create("institution", institution("Pihak A"))
    inst_b = fed.b.create("institution", institution("Pihak B", "CN"))
    agreement = fed.a.create("agreement", {    # A names B's institution by its rid
        "kind": "joint_rd", "status": "active",
        "parties": [{"institution": inst_a["rid"], "role": "partner"},
                    {"institution": inst_b["rid"], "role": "partner"}]})
    rid = agreement["rid"]

    def endorse(node, party, **extra):
        return node.request("POST", f"/api/v1/agreements/{rid}/endorsements", "editor",
                            json={"party": party["rid"], **extra})

    def state_at_c() -> dict:
        fed.b.sync()
        fed.c.sync()
        reply = fed.c.request("GET", f"/api/v1/agreements/{rid}/confirmation")
        assert reply.status_code == 200, reply.text
        return reply.json()

    assert endorse(fed.a, inst_a).status_code == 201
    # A may not endorse for B's institution, nor for a non-party
    wrong = endorse(fed.a, inst_b)
    assert wrong.status_code == 409 and wrong.json()["errors"][0]["field"] == "party"
    assert endorse(fed.a, fed.a.create("institution", institution())).status_code == 422
    doc = state_at_c()
    assert doc["confirmed"] is False
    assert [p["state"] for p in doc["parties"]] == ["endorsed", "missing"]

    fed.b.sync()
    assert endorse(fed.b, inst_b, version=1).status_code == 201
    doc = state_at_c()
    assert doc["confirmed"] is True, doc

    fed.a.update(agreement, body={**agreement["body"], "status": "completed"})   # version 2
    doc = state_at_c()
    assert doc["version"] == 2 and doc["confirmed"] is False
    assert [p["state"] for p in doc["parties"]] == ["other_version", "other_version"]
    fed.b.sync()
    stale = endorse(fed.b, inst_b, version=1)
    assert stale.status_code == 409 and stale.json()["errors"][0]["field"] == "version"


def test_kill_9_mid_sync_loses_nothing_and_rereads_nothing(fed: Federation, tmp_path):
    from jembatan.network.demo import generate
    batch = tmp_path / "batch.jsonl"
    with batch.open("w") as out:
        for env in generate(2, origin="node-a", seed=99):
            if env["visibility"] != "private":
                out.write(json.dumps(env) + "\n")
    fed.a.cli("import", batch)
    expected = feed_rids(fed.a, fed.auth(fed.b))
    proc = subprocess.Popen([*CLI, "sync", "--once", "--page", "40", "--dir", str(fed.b.home)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=fed.b.env)
    pages = 0
    for line in proc.stderr:          # progress: one line per page committed
        pages += "page" in line
        if pages == 3:
            proc.kill()               # SIGKILL, mid-run
            break
    proc.wait()
    assert proc.returncode == -9
    out = fed.b.sync().stdout
    assert "unchanged 0" in out, out  # the pages committed before the kill are not read again
    assert expected <= feed_rids(fed.b, fed.auth(fed.c))


def test_a_peer_restored_from_backup_is_read_again_from_the_start(tmp_path):
    own = make_federation(tmp_path)
    try:
        before = own.a.create("institution", institution("Sebelum"))
        own.b.sync()
        own.a.cli("store", "backup", tmp_path / "a.db")
        lost = own.a.create("institution", institution("Hilang"))   # after the backup
        own.b.sync()
        old_cursor = feed(own.a, limit=1).headers["Sync-Next"]
        port = int(own.a.url.rsplit(":", 1)[1])
        own.a.stop()
        restored = own.a.cli("store", "restore", "--yes", tmp_path / "a.db").stdout
        assert "new epoch" in restored
        own.a.start(port)
        assert own.a.holds(lost["rid"]) is None                     # gone with the restore
        after = own.a.create("institution", institution("Sesudah"))
        out = own.b.sync().stdout
        assert "read again from the start" in out, out
        assert own.b.holds(after["rid"]) and own.b.holds(before["rid"])
        assert own.b.holds(lost["rid"])                             # B keeps what it had
        # a cursor of the old epoch is answered 410 with a problem naming it
        gone = feed(own.a, since=old_cursor)
        assert gone.status_code == 410 and gone.json()["errors"][0]["field"] == "since"
    finally:
        stop_federation(own)


def test_a_suspended_member_gets_public_records_only(fed: Federation):
    rec = fed.a.create("institution", institution(), visibility="alliance")
    assert rec["rid"] in feed_rids(fed.a, fed.auth(fed.c))
    fed.alliance.do("suspend", "node-c")
    fed.publish_registry(fed.a)
    try:
        assert rec["rid"] not in feed_rids(fed.a, fed.auth(fed.c))   # signed, valid, suspended
        assert raw(fed.a, rec["rid"], fed.auth(fed.c)).status_code == 404
        assert rec["rid"] in feed_rids(fed.a, fed.auth(fed.b))       # members still get it
    finally:
        fed.alliance.do("reinstate", "node-c")
        fed.publish_registry(fed.a)
