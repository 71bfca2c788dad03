"""``jembatan store copy`` and ``copy_store``: every record moves, the digests prove it.

SQLite to SQLite in a temporary directory; SQLite → Neo4j → SQLite against the session's
real Neo4j server (``neo4j_server``), whose one database is emptied before use.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from jembatan.api.cli import cli
from jembatan.api.node import init_node, load_node
from jembatan.api.store_copy import (NotEmpty, copy_store, redact, same_store, store_digest)
from jembatan.graph import open_store
from jembatan.graph.sqlite import SqliteStore
from jembatan.graph.store import LOCAL, PUBLIC, Store
from jembatan.network.demo import generate
from jembatan.network.envelope import load_envelope, make_envelope
from jembatan.network.hlc import format_hlc
from jembatan.network.ids import KINDS, new_rid

NODE = "copy-test"


@pytest.fixture(autouse=True)
def _no_store_override(monkeypatch):
    # a JEMBATAN_STORE of the caller's shell would point every node directory elsewhere
    monkeypatch.delenv("JEMBATAN_STORE", raising=False)


def _private_and_tombstone(first: dict) -> list[dict]:
    """A private and an alliance record, and a tombstone of ``first`` (a demo record)."""
    owner = new_rid(NODE, "institution", ms=1_750_000_000_000)
    body = {"name": {"en": "Private lab", "th": "ห้องปฏิบัติการส่วนตัว"}, "kind": "research_institute",
            "country": "TH"}
    envs = [make_envelope(rid=owner, body=body, version=1, hlc=format_hlc(1_750_000_000_000, 0),
                          visibility="private"),
            make_envelope(rid=new_rid(NODE, "institution", ms=1_750_000_000_001),
                          body=dict(body, name={"en": "Alliance lab"}), version=1,
                          hlc=format_hlc(1_750_000_000_001, 0), visibility="alliance"),
            make_envelope(rid=first["rid"], body=None, version=first["version"] + 1,
                          hlc=format_hlc(1_750_000_000_002, 0), visibility=first["visibility"],
                          deleted=True)]
    return [load_envelope(e) for e in envs]


def fill(store: Store) -> dict:
    """Demo data at scale 1, then a private and an alliance record and a tombstone; returns
    the tombstone's record as it was before deletion."""
    demo = list(generate(1, origin=NODE))
    store.apply(demo, all_or_nothing=True)
    store.apply(_private_and_tombstone(demo[0]), all_or_nothing=True)
    return demo[0]


def texts(store: Store) -> dict[str, str]:
    return {r.rid: r.text for r in store.iter_all(LOCAL)}


@pytest.fixture
def source(tmp_path: Path):
    store = SqliteStore(str(tmp_path / "src.db"))
    fill(store)
    yield store
    store.close()


# -- copy_store and store_digest ----------------------------------------------------------

def test_sqlite_to_sqlite_copies_every_record(tmp_path: Path, source: Store):
    dst = SqliteStore(str(tmp_path / "dst.db"))
    try:
        seen: list[tuple[int, int]] = []
        report = copy_store(source, dst, batch=128, progress=lambda p, e: seen.append((p, e)))
        assert report.equal and report.differing == []
        assert report.read == 502 and report.outcomes["created"] == 502
        assert report.outcomes["rejected"] == report.outcomes["stale"] == 0
        # the progress reaches the source's last change, in steps, never backwards
        assert len(seen) == 4 and seen[-1] == (source.last_seq(), source.last_seq())
        assert [p for p, _ in seen] == sorted(p for p, _ in seen)

        digest = store_digest(dst)
        assert digest == store_digest(source) == report.src_digest == report.dst_digest
        assert set(digest) == set(KINDS)
        assert digest["institution"][0] == 62   # 60 demo (one a tombstone now), private, alliance
        assert sum(n for n, _ in digest.values()) == 502   # the tombstone is counted
        assert texts(dst) == texts(source)               # byte for byte, every record
        assert dst.counts(LOCAL) == source.counts(LOCAL)
        assert dst.counts(PUBLIC) == source.counts(PUBLIC)
    finally:
        dst.close()


def test_tombstones_and_private_records_arrive(tmp_path: Path):
    src = SqliteStore(str(tmp_path / "src.db"))
    dst = SqliteStore(str(tmp_path / "dst.db"))
    try:
        deleted = fill(src)
        copy_store(src, dst)
        tomb = dst.get(deleted["rid"], LOCAL)
        assert tomb is not None and tomb.envelope["deleted"] and tomb.envelope["body"] is None
        assert tomb.version == deleted["version"] + 1
        private = [r for r in dst.iter_all(LOCAL) if r.envelope["visibility"] == "private"]
        assert any(r.envelope["body"].get("name", {}).get("en") == "Private lab" for r in private)
        assert all(dst.get(r.rid, PUBLIC) is None for r in private)
    finally:
        src.close()
        dst.close()


def test_a_non_empty_destination_is_refused_and_left_alone(tmp_path: Path, source: Store):
    dst = SqliteStore(str(tmp_path / "dst.db"))
    try:
        copy_store(source, dst)
        before = (dst.last_seq(), texts(dst))
        with pytest.raises(NotEmpty) as caught:
            copy_store(source, dst)
        assert caught.value.last_seq == before[0]
        assert (dst.last_seq(), texts(dst)) == before
        # allowed: every record is already there, so nothing changes
        again = copy_store(source, dst, into_nonempty=True)
        assert again.equal and again.outcomes["unchanged"] == 502 and again.outcomes["created"] == 0
        assert dst.last_seq() == before[0]
    finally:
        dst.close()


def test_a_tampered_destination_fails_the_digest(tmp_path: Path, source: Store):
    dst = SqliteStore(str(tmp_path / "dst.db"))
    try:
        copy_store(source, dst)
        victim = next(r for r in dst.iter_all(LOCAL) if r.envelope["kind"] == "technology"
                      and not r.envelope["deleted"])
        env = victim.envelope
        changed = make_envelope(rid=env["rid"], body=dict(env["body"], trl=1 + env["body"]["trl"] % 9),
                                version=env["version"] + 1, hlc=format_hlc(1_800_000_000_000, 0),
                                visibility=env["visibility"])
        assert dst.apply([load_envelope(changed)])[0].status == "updated"
        src_digest, dst_digest = store_digest(source), store_digest(dst)
        assert src_digest["technology"][0] == dst_digest["technology"][0]   # same count …
        assert src_digest["technology"][1] != dst_digest["technology"][1]   # … other content
        assert {k for k in KINDS if src_digest[k] != dst_digest[k]} == {"technology"}
    finally:
        dst.close()


def test_digest_ignores_order_but_not_content():
    from jembatan.api.store_copy import _DigestBuilder

    a, b = _DigestBuilder(), _DigestBuilder()
    for rid, h in [("r1", "sha256:1"), ("r2", "sha256:2")]:
        a.add("event", rid, h)
    for rid, h in [("r2", "sha256:2"), ("r1", "sha256:1")]:
        b.add("event", rid, h)
    assert a.digest() == b.digest()
    c = _DigestBuilder()
    c.add("event", "r1", "sha256:1")
    c.add("event", "r2", "sha256:3")
    assert c.digest()["event"][0] == 2 and c.digest() != a.digest()


def test_urls_are_compared_and_redacted():
    assert same_store("sqlite:///a/../b.db", "sqlite:///b.db")
    assert same_store("neo4j://u:p@db:7687", "bolt://other:x@db")
    assert not same_store("neo4j://u:p@db:7687", "neo4j://u:p@db:7687?database=two")
    assert not same_store("sqlite:///b.db", "neo4j://u:p@db")
    assert redact("neo4j://neo4j:s%3Dcret@db:7687?database=x") == "neo4j://neo4j:***@db:7687?database=x"
    assert redact("sqlite:///x.db") == "sqlite:///x.db"


# -- the command ----------------------------------------------------------------------------

@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def make_node(home: Path, node_id: str = NODE, *, filled: bool = True) -> Path:
    cfg = init_node(home, name="Copy Test", country="ID", node_id=node_id)
    store = open_store(cfg.store_url)
    try:
        if filled:
            fill(store)
    finally:
        store.close()
    return home


def test_cli_copies_a_node_directory_into_another(tmp_path: Path, runner: CliRunner):
    src, dst = make_node(tmp_path / "a"), make_node(tmp_path / "b", filled=False)
    result = runner.invoke(cli, ["store", "copy", str(src), str(dst), "--batch", "100"])
    assert result.exit_code == 0, result.output
    assert "Verified: both stores hold the same records." in result.stdout
    for kind in KINDS:
        assert any(line.split()[:1] == [kind] and line.rstrip().endswith("ok")
                   for line in result.stdout.splitlines()), kind
    with open_store(load_node(src).store_url) as a, open_store(load_node(dst).store_url) as b:
        assert store_digest(a) == store_digest(b)


def test_cli_refuses_a_non_empty_destination(tmp_path: Path, runner: CliRunner):
    src, dst = make_node(tmp_path / "a"), make_node(tmp_path / "b")
    db = load_node(dst).store_url
    with open_store(db) as before:
        seq = before.last_seq()
    result = runner.invoke(cli, ["store", "copy", str(src), str(dst)])
    assert result.exit_code == 1
    assert "not empty" in result.stderr and "--into-nonempty" in result.stderr
    assert "Traceback" not in result.output
    with open_store(db) as after:
        assert after.last_seq() == seq


def test_cli_verification_failure_exits_1(tmp_path: Path, runner: CliRunner):
    src = make_node(tmp_path / "a")
    dst = tmp_path / "extra.db"
    with SqliteStore(str(dst)) as extra:   # a record SRC does not have
        env = make_envelope(rid=new_rid("elsewhere", "event", ms=1_700_000_000_000),
                            body={"name": {"en": "Other forum"}, "kind": "forum",
                                  "starts_on": "2024-01-01", "ends_on": "2024-01-02",
                                  "country": "VN"},
                            version=1, hlc=format_hlc(1_700_000_000_000, 0), visibility="public")
        extra.apply([load_envelope(env)], all_or_nothing=True)
    result = runner.invoke(cli, ["store", "copy", str(src), f"sqlite:///{dst}", "--into-nonempty"])
    assert result.exit_code == 1, result.output
    assert "verification failed" in result.stderr and "event" in result.stderr
    event_row = next(line for line in result.stdout.splitlines() if line.startswith("event "))
    assert event_row.endswith("DIFFERS")


@pytest.mark.parametrize("args, message", [
    (["{a}", "{a}"], "same store"),
    (["{a}", "sqlite:///{a}/node.db"], "same store"),
    (["{a}", "{other}"], "a store moves with its node"),
    (["{a}", "postgres://db/x"], "unsupported store URL scheme"),
    (["{a}", "neo4j://neo4j:hunter2@db:port"], "invalid port"),
    (["{a}", "neo4j://neo4j:hunter2@db:7687/x"], "?database="),
    (["{tmp}/nowhere", "{a}"], "not a node directory"),
])
def test_cli_bad_arguments_exit_2_and_write_nothing(tmp_path: Path, runner: CliRunner, args, message):
    a = make_node(tmp_path / "a", filled=False)
    make_node(tmp_path / "other", "another-node", filled=False)
    argv = [x.format(a=a, other=tmp_path / "other", tmp=tmp_path) for x in args]
    result = runner.invoke(cli, ["store", "copy", *argv])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert "hunter2" not in result.output
    with open_store(load_node(a).store_url) as store:
        assert store.last_seq() == 0


def test_cli_help_says_checkpoints_are_not_copied(runner: CliRunner):
    result = runner.invoke(cli, ["store", "copy", "--help"])
    assert result.exit_code == 0
    assert "checkpoints are NOT copied" in " ".join(result.output.split())


# -- demo --store ---------------------------------------------------------------------------

def test_demo_builds_into_the_given_store(tmp_path: Path, runner: CliRunner):
    db = tmp_path / "elsewhere.db"
    result = runner.invoke(cli, ["demo", "--dir", str(tmp_path / "d"), "--store", f"sqlite:///{db}",
                                 "--no-serve"])
    assert result.exit_code == 0, result.output
    cfg = load_node(tmp_path / "d")
    assert cfg.store == f"sqlite:///{db}" and not (tmp_path / "d" / "node.db").exists()
    with open_store(cfg.store_url) as store:
        assert sum(store.counts(LOCAL).values()) == 502     # with the two showcase records
    assert json.loads((tmp_path / "d" / "demo.json").read_text())["records"] == 502
    # the same directory with another store is refused, not silently reused
    other = runner.invoke(cli, ["demo", "--dir", str(tmp_path / "d"), "--store",
                                f"sqlite:///{tmp_path / 'x.db'}", "--no-serve"])
    assert other.exit_code == 2 and "pass another --dir" in other.stderr


def test_demo_refuses_a_store_that_holds_records(tmp_path: Path, runner: CliRunner):
    src = make_node(tmp_path / "a")
    url = load_node(src).store_url
    result = runner.invoke(cli, ["demo", "--dir", str(tmp_path / "d"), "--store", url, "--no-serve"])
    assert result.exit_code == 1
    assert "already holds records" in result.stderr
    assert not (tmp_path / "d").exists()


# -- through Neo4j --------------------------------------------------------------------------

def empty_neo4j(server) -> None:
    """Delete every node of the test server's one database (constraints and indexes stay;
    the next store opened on it makes its meta node again)."""
    import neo4j

    with neo4j.GraphDatabase.driver(server.uri, auth=(server.user, server.password)) as driver:
        with driver.session(database="neo4j") as session:
            session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()


def test_sqlite_to_neo4j_to_sqlite_round_trip(tmp_path: Path, neo4j_server, source: Store):
    empty_neo4j(neo4j_server)
    back = SqliteStore(str(tmp_path / "back.db"))
    neo = open_store(neo4j_server.url)
    try:
        there = copy_store(source, neo, batch=200)
        assert there.equal, there.differing
        assert there.outcomes["created"] == 502
        assert neo.counts(LOCAL) == source.counts(LOCAL)
        again = copy_store(neo, back, batch=200)
        assert again.equal, again.differing
        assert store_digest(back) == store_digest(source)
        assert texts(back) == texts(source)
    finally:
        neo.close()
        back.close()


def test_cli_copies_into_neo4j_and_refuses_it_when_full(tmp_path: Path, neo4j_server,
                                                        runner: CliRunner):
    empty_neo4j(neo4j_server)
    src = make_node(tmp_path / "a")
    result = runner.invoke(cli, ["store", "copy", str(src), neo4j_server.url])
    assert result.exit_code == 0, result.output
    assert "Verified" in result.stdout
    assert neo4j_server.password not in result.output
    again = runner.invoke(cli, ["store", "copy", str(src), neo4j_server.url])
    assert again.exit_code == 1 and "not empty" in again.stderr
    assert neo4j_server.password not in again.output


def test_demo_on_neo4j(tmp_path: Path, neo4j_server, runner: CliRunner):
    empty_neo4j(neo4j_server)
    home = tmp_path / "demo"
    result = runner.invoke(cli, ["demo", "--dir", str(home), "--store", neo4j_server.url, "--no-serve"])
    assert result.exit_code == 0, result.output
    assert not (home / "node.db").exists()
    with open_store(load_node(home).store_url) as store:
        assert sum(store.counts(LOCAL).values()) == 502
    # a second demo into the same (now full) database is refused
    again = runner.invoke(cli, ["demo", "--dir", str(tmp_path / "again"), "--store", neo4j_server.url,
                                "--no-serve"])
    assert again.exit_code == 1 and "already holds records" in again.stderr
    assert neo4j_server.password not in again.output
    assert not (tmp_path / "again").exists()
