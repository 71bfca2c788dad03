"""A federation under attack and failure: hostile records, stale or foreign registries, and
peers that fail in every way, each met by a real node process.

The victim is node C of ``fedkit``'s A ← B ← C. Hostile records are written here, signed
with the alliance's real keys (``load_keyring(home).get(kid)``) or with keys nobody admitted,
and served by a ``RoguePeer`` that C pulls with ``jembatan sync --once --peer URL``. The
outcome is read the way an operator reads it: the sync summary line, ``jembatan quarantine
--json`` or ``GET /api/v1/federation/quarantine``, ``jembatan peer list --json``,
``jembatan registry show --json`` and the records API.
"""
from __future__ import annotations

import itertools
import json
import string
import time
from contextlib import closing
from datetime import datetime

import pytest

from jembatan.api.node import load_node
from jembatan.graph import open_store
from jembatan.network.envelope import ENVELOPE_KEYS, canonical_bytes
from jembatan.network.hlc import format_hlc
from jembatan.network.keys import (NodeKey, format_time, generate_key, load_keyring, now_ms,
                                   read_key_infos)
from jembatan.network.registry import load_node_registry, publish
from jembatan.network.signing import verify_text

from fedkit import (Federation, institution, make_federation, peer_list, quarantine_of,
                    raw_text, stop_federation, sync_summary)
from nodes import Node, run
from rogue import RoguePeer, forge, new_envelope, signed_text

_cursors = itertools.count(1)


@pytest.fixture(scope="module")
def fed(tmp_path_factory) -> Federation:
    fed = make_federation(tmp_path_factory.mktemp("fed-faults"))
    yield fed
    stop_federation(fed)


@pytest.fixture(scope="module")
def hostile(fed: Federation) -> RoguePeer:
    """One hostile peer of C for the whole module; each test writes its page."""
    with RoguePeer() as rogue:
        fed.c.peer(rogue.url)
        yield rogue


# ---------------------------------------------------------------- helpers

def key_of(node: Node, text: str | None = None) -> NodeKey:
    """``node``'s private key: the one that signed ``text``, or its current one."""
    ring = load_keyring(node.home)
    if text is None:
        return ring.current()
    return ring.get(json.loads(text)["sigs"][0]["kid"])


def offer(fed: Federation, rogue: RoguePeer, lines: list[str]) -> tuple[dict, str]:
    """C pulls one page of ``lines`` from the hostile peer: (its summary, the whole output)."""
    rogue.feed(lines, cursor=f"hostile-{next(_cursors)}")
    done = fed.c.sync("--peer", rogue.url)
    return sync_summary(done.stdout, rogue.url), done.stdout + done.stderr


def reasons(entries: dict[str, list[dict]], rid: str) -> list[str]:
    return [e["reason"] for e in entries.get(rid, [])]


def rid_of(text: str) -> str:
    return json.loads(text)["rid"]


def fresh(origin: str, *, hlc: str | None = None) -> dict:
    return new_envelope(origin, institution("Palsu"), hlc=hlc)


def registry_serial(node: Node) -> int:
    return json.loads(node.cli("registry", "show", "--json").stdout)["serial"]


def checkpoint(node: Node, url: str) -> str | None:
    """The store's checkpoint of peer ``url`` (read from the node's own database)."""
    with closing(open_store(load_node(node.home).store_url)) as store:
        return store.get_checkpoint(url)


def moment(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


# ---------------------------------------------------------------- 1. one byte tampered

def _flip(text: str, at: int) -> str:
    """``text`` with the first letter or digit from ``at`` on replaced by the next of its
    class (a digit by a digit, a letter by a letter): the same length, still JSON, one byte
    off."""
    pools = (string.digits, string.ascii_lowercase, string.ascii_uppercase)
    while not any(text[at] in p for p in pools):
        at += 1
    pool = next(p for p in pools if text[at] in p)
    return text[:at] + pool[(pool.index(text[at]) + 1) % len(pool)] + text[at + 1:]


def test_one_byte_tampered_in_a_real_record_is_quarantined_bad_signature(fed, hostile):
    texts = [raw_text(fed.a, fed.a.create("institution", institution("Asli"))["rid"])
             for _ in range(4)]
    tampered = [
        _flip(texts[0], texts[0].index("Asli") + 1),                  # a byte of the body
        _flip(texts[1], texts[1].index('"hlc":"') + 18),              # a digit of the HLC
        _flip(texts[2], texts[2].index('"sig":"') + 10),              # a byte of the signature
        texts[3].replace('"version":1,', '"version":7,'),             # the version
    ]
    assert all(len(t) == len(o) and t != o for t, o in zip(tampered, texts))
    counts, _ = offer(fed, hostile, tampered)
    assert counts == {"received": 4, "applied": 0, "unchanged": 0, "stale": 0,
                      "quarantined": 4, "state": "ok"}
    entries = quarantine_of(fed.c, via="cli")
    for text in tampered:
        rid = rid_of(text)
        assert reasons(entries, rid) == ["bad_signature"], rid
        assert entries[rid][0]["peer"] == hostile.url
        assert entries[rid][0]["text"] == text                    # kept as received, for audit
        assert fed.c.holds(rid) is None                           # and never applied


# ---------------------------------------------------------------- 2. another origin

def test_a_record_claiming_another_origin_is_quarantined(fed, hostile):
    real = raw_text(fed.a, fed.a.create("institution", institution("Asal"))["rid"])
    key = key_of(fed.a, real)
    # the origin field says B; the rid is A's, and A really signed it
    claimed = {**json.loads(real), "origin": "node-b"}
    origin_changed = signed_text(claimed, key, "node-a")
    # both the origin and the rid's namespace say B, still signed by A, its real author
    moved = {**claimed, "rid": json.loads(real)["rid"].replace(":node-a:", ":node-b:")}
    namespace_changed = signed_text(moved, key, "node-a")
    counts, _ = offer(fed, hostile, [origin_changed, namespace_changed])
    assert counts["quarantined"] == 2 and counts["applied"] == 0
    entries = quarantine_of(fed.c)
    assert reasons(entries, rid_of(origin_changed)) == ["origin_mismatch"]
    assert reasons(entries, moved["rid"]) == ["namespace_mismatch"]
    assert fed.c.holds(rid_of(real)) is None and fed.c.holds(moved["rid"]) is None


# ---------------------------------------------------------------- 3. another namespace

def test_a_rid_in_another_nodes_namespace_signed_by_b_is_refused(fed, hostile):
    b_key, a_kid = key_of(fed.b), key_of(fed.a).kid
    as_b = fresh("node-a")
    as_b_origin_b = {**fresh("node-a"), "origin": "node-b"}
    lines = [
        ("namespace_mismatch", signed_text(as_b, b_key, "node-b")),
        ("namespace_mismatch", signed_text(as_b_origin_b, b_key, "node-b")),
        # B's key passed off as A's: under B's own kid, then under A's
        ("unknown_key", forge(fresh("node-a"), b_key, "node-a")),
        ("bad_signature", forge(fresh("node-a"), b_key, "node-a", kid=a_kid)),
    ]
    counts, _ = offer(fed, hostile, [text for _, text in lines])
    assert counts["quarantined"] == 4 and counts["applied"] == 0
    entries = quarantine_of(fed.c)
    for reason, text in lines:
        assert reasons(entries, rid_of(text)) == [reason], reason
        assert fed.c.holds(rid_of(text)) is None


# ---------------------------------------------------------------- 4. unknown, revoked, expired keys

def test_unknown_revoked_and_expired_keys_are_refused(fed, hostile, tmp_path):
    # node-x: a member admitted with its first key, never serving (only its records travel)
    home = tmp_path / "node-x"
    run(fed.c.env, "init", "--dir", home, "--name", "Node X", "--country", "VN",
        "--node-id", "node-x")
    k1 = read_key_infos(home)[0]
    fed.alliance.do("admit", "node-x", "--kid", k1.kid, "--public-key", k1.public,
                    "--url", "http://127.0.0.1:9")
    # a rotation that takes over in two minutes, admitted with the same instant
    soon = (now_ms() // 1000 + 120) * 1000
    run(fed.c.env, "key", "rotate", "--dir", home, "--not-before", format_time(soon))
    k2 = read_key_infos(home)[-1]
    assert k2.kid != k1.kid and k2.not_before_ms == soon
    fed.alliance.do("admit", "node-x", "--kid", k2.kid, "--public-key", k2.public,
                    "--not-before", format_time(soon))
    # … and then the new key is stolen: revoked
    fed.alliance.do("revoke-key", "node-x", k2.kid)
    fed.alliance.install(fed.c)

    ring = load_keyring(home)
    old, new = ring.get(k1.kid), ring.get(k2.kid)
    after = format_hlc(soon + 1000)
    lines = {
        "applied": signed_text(fresh("node-x"), old, "node-x"),           # control: in window
        "key_not_valid": forge(fresh("node-x", hlc=after), old, "node-x"),  # old key, too late
        "revoked_key": signed_text(fresh("node-x", hlc=after), new, "node-x"),
        "unknown_key": forge(fresh("node-a"), generate_key("k-20200101-0badc0"), "node-a"),
    }
    counts, _ = offer(fed, hostile, list(lines.values()))
    assert counts["applied"] == 1 and counts["quarantined"] == 3
    entries = quarantine_of(fed.c)
    assert fed.c.holds(rid_of(lines.pop("applied")))["origin"] == "node-x"
    for reason, text in lines.items():
        assert reasons(entries, rid_of(text)) == [reason], reason
        assert fed.c.holds(rid_of(text)) is None


# ---------------------------------------------------------------- 5. equivocation

def test_equivocation_keeps_the_first_copy_and_quarantines_the_second(fed, hostile):
    relayed = fed.a.create("institution", institution("Pertama"))
    # the first copy reaches C the honest way, A → B → C
    fed.b.sync("--peer", fed.a.url)
    fed.c.sync("--peer", fed.b.url)
    first = fed.c.holds(relayed["rid"])
    assert first["version"] == 1 and first["body"] == relayed["body"]
    # another record whose two copies arrive on one page, the genuine one first
    in_page = fed.a.create("institution", institution("Sehalaman"))

    def other_content(text: str) -> str:
        env = json.loads(text)
        env["body"] = {**env["body"], "city": "Kota Lain"}
        return signed_text(env, key_of(fed.a, text), "node-a")   # A's own key: valid

    relayed_text, in_page_text = raw_text(fed.a, relayed["rid"]), raw_text(fed.a, in_page["rid"])
    second = other_content(relayed_text)
    verify_text(second, load_node_registry(fed.c.home))   # genuinely signed by the origin
    counts, out = offer(fed, hostile, [second, in_page_text, other_content(in_page_text)])
    assert counts == {"received": 3, "applied": 1, "unchanged": 0, "stale": 0,
                      "quarantined": 2, "state": "ok"}
    assert "ALERT: 2 record(s) contradict a version already held" in out
    entries = quarantine_of(fed.c)
    for rec in (relayed, in_page):
        assert reasons(entries, rec["rid"]) == ["equivocation"]
        kept = fed.c.holds(rec["rid"])
        assert kept["version"] == 1 and kept["body"] == rec["body"]    # the first copy
        assert "city" not in kept["body"]
    assert fed.c.status()["quarantine"]["equivocation"] >= 2           # the alert is visible


# ---------------------------------------------------------------- 6. registries

def test_a_lower_serial_or_a_foreign_registry_is_refused_and_sync_goes_on(fed, hostile):
    older = (fed.c.home / "registry.json").read_bytes()
    stranger = generate_key()
    fed.alliance.do("admit", "node-y", "--kid", stranger.kid, "--public-key", stranger.public,
                    "--url", "http://127.0.0.1:9")
    fed.alliance.install(fed.c)
    current = load_node_registry(fed.c.home)
    serial = current.serial
    assert json.loads(older)["serial"] < serial
    foreign = publish(current.document(), generate_key(), serial=serial + 100)
    fetched = len(hostile.sinces("/sync/v1/registry"))
    try:
        for served, why in ((older, "is not higher than the serial"),
                            (foreign, "not signed by the pinned alliance root key")):
            hostile.registry(served)
            rec = fed.a.create("institution", institution("Tetap"))
            counts, out = offer(fed, hostile, [raw_text(fed.a, rec["rid"])])
            assert "registry refused: " in out and why in out, out
            assert counts["applied"] == 1 and counts["state"] == "ok"  # the sync still works
            assert fed.c.holds(rec["rid"])["body"] == rec["body"]
            # the last good copy stays, byte for byte
            assert (fed.c.home / "registry.json").read_bytes() == current.text
    finally:
        hostile.forget("/sync/v1/registry")
    assert len(hostile.sinces("/sync/v1/registry")) == fetched + 2   # both were fetched
    assert registry_serial(fed.c) == serial


# ---------------------------------------------------------------- 7. failing peers

FAULTS = {
    "500": (dict(status=500, body='{"status":500,"title":"Internal error","detail":"boom"}',
                 headers={"Content-Type": "application/problem+json"}), "HTTP 500"),
    "429": (dict(status=429, body="slow down", headers={"Retry-After": "120",
                                                         "Content-Type": "text/plain"}),
            "HTTP 429"),
    "garbage": (dict(status=200, body="<!doctype html><html><body>Welcome to nginx!"
                     "</body></html>", headers={"Content-Type": "text/html"}), "text/html"),
    "stall": (dict(status=200, delay=30.0), "timeout"),
}


def _cut_page(line: str) -> dict:
    """A feed page whose first record is whole and whose second is cut in the middle."""
    return dict(status=200, body=line + "\n" + line[:len(line) // 2],
                headers={"Content-Type": "application/x-ndjson", "Sync-Next": "evil",
                         "Sync-More": "?0", "Sync-Behind": "0"})


@pytest.mark.parametrize("fault", [*FAULTS, "cut_page"])
def test_a_failing_peer_keeps_the_checkpoint_and_recovers(fed, fault):
    node = fed.c
    first, bait, later = (fed.a.create("institution", institution("Gagal")) for _ in range(3))
    # each fault gets a peer of its own (left in C's list: this module syncs one peer at a time)
    with RoguePeer() as rogue:
        node.peer(rogue.url)
        rogue.feed([raw_text(fed.a, first["rid"])], cursor="good-1")
        assert sync_summary(node.sync("--peer", rogue.url).stdout, rogue.url)["applied"] == 1
        assert checkpoint(node, rogue.url) == "good-1"
        before = node.status()

        if fault == "cut_page":
            answer, expect = _cut_page(raw_text(fed.a, bait["rid"])), "middle of a line"
        else:
            answer, expect = FAULTS[fault]
        rogue.answer("/sync/v1/changes", **answer)
        env = dict(node.env, JEMBATAN_SYNC_READ_TIMEOUT="1") if fault == "stall" \
            else node.env
        started = time.time()
        done = run(env, "sync", "--once", "--quiet", "--peer", rogue.url,
                   "--dir", node.home, check=False)
        assert done.returncode == 1, done.stdout + done.stderr
        line = sync_summary(done.stdout, rogue.url)
        assert line["state"].startswith("FAILED") and expect in line["state"], line
        assert line["applied"] == 0

        peer = peer_list(node)[rogue.url]
        assert peer["failures"] >= 1 and peer["state"] == "failing", peer
        assert expect in peer["last_error"], peer
        assert moment(peer["next_attempt"]) >= moment(peer["last_attempt"])
        if fault == "429":
            assert moment(peer["next_attempt"]) >= started + 120 - 0.001, peer
        assert checkpoint(node, rogue.url) == "good-1"            # the checkpoint stays
        after = node.status()
        assert after["last_seq"] == before["last_seq"]             # nothing applied
        assert after["records"] == before["records"]
        assert node.holds(bait["rid"]) is None

        # the peer recovers: the next sync goes on from the same checkpoint
        rogue.feed([raw_text(fed.a, later["rid"])], cursor="good-2")
        ok = sync_summary(node.sync("--peer", rogue.url).stdout, rogue.url)
        assert ok["state"] == "ok" and ok["applied"] == 1
        assert rogue.sinces() == [None, "good-1", "good-1"]
        assert checkpoint(node, rogue.url) == "good-2"
        assert node.holds(later["rid"])["body"] == later["body"]
        healed = {p["url"]: p for p in node.status()["peers"]}[rogue.url]
        assert healed["failures"] == 0 and healed["state"] == "ok"
        assert healed["last_error"] is None


# ---------------------------------------------------------------- 8. private records

def test_a_private_record_offered_by_a_peer_is_quarantined_and_never_stored(fed, hostile):
    secret = fed.a.create("institution", institution("Rahasia sekali"), visibility="private")
    held = fed.a.holds(secret["rid"])
    # A's own signed text of the private record, as a leaking peer would pass it on
    text = canonical_bytes({k: held[k] for k in ENVELOPE_KEYS}).decode("utf-8")
    assert verify_text(text, load_node_registry(fed.c.home))["visibility"] == "private"
    counts, _ = offer(fed, hostile, [text])
    assert counts["quarantined"] == 1 and counts["applied"] == 0
    entries = quarantine_of(fed.c, via="cli")
    assert reasons(entries, secret["rid"]) == ["private"]
    assert fed.c.holds(secret["rid"]) is None
    name = secret["body"]["name"]["id"]
    assert name not in entries[secret["rid"]][0]["text"]        # not even in the quarantine
    listing = fed.c.request("GET", "/api/v1/federation/quarantine?limit=500", "admin").text
    assert name not in listing
    assert name not in fed.c.request("GET", "/api/v1/search?q=Rahasia", "admin").text


def test_a_private_record_failing_verification_is_not_kept_in_the_quarantine(fed, hostile):
    secret = fed.a.create("institution", institution("Rahasia lagi"), visibility="private")
    held = {k: v for k, v in fed.a.holds(secret["rid"]).items() if k in ENVELOPE_KEYS}
    name = secret["body"]["name"]["id"]
    # A's private record, its content untouched: re-spaced (not canonical), or one byte off
    respaced = json.dumps(held, sort_keys=True, ensure_ascii=False)
    text = canonical_bytes(held).decode("utf-8")
    tampered = _flip(text, text.index('"hlc":"') + 18)
    counts, _ = offer(fed, hostile, [respaced, tampered])
    assert counts["quarantined"] == 2 and counts["applied"] == 0
    assert fed.c.holds(secret["rid"]) is None
    entries = quarantine_of(fed.c)
    # private first: whatever else is wrong with it, no copy is kept
    assert reasons(entries, secret["rid"]) == ["private", "private"]
    listing = fed.c.request("GET", "/api/v1/federation/quarantine?limit=500", "viewer").text
    assert name not in listing
