"""What only the SQLite backend promises: its file, its settings, fork, threads, kill -9."""
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from jembatan.graph import open_store
from jembatan.graph.sqlite import SqliteStore
from jembatan.graph.prepare import encode
from jembatan.graph.store import RecordQuery
from jembatan.network import errors
from jembatan.network.envelope import canonical_bytes, content_hash



@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "node.db")


@pytest.fixture
def sq(path):
    s = SqliteStore(path)
    yield s
    s.close()


def test_encode_is_canonical_bytes_and_content_hash(rec):
    r = rec
    inst = r.institution(names={"zh-Hans": "广西大学", "en": 'Quote " and \\ slash'})
    ag = r.agreement(provider=inst["rid"], recipient=r.rid("institution"))
    endorsement = r.endorsement(agreement=ag, party=inst["rid"])   # its body has a "version" too
    signed = dict(endorsement, sigs=[{"signer": "node-a", "kid": "k1", "alg": "ed25519", "sig": "AAAA"}])
    for env in (inst, ag, endorsement, signed, r.tombstone(inst)):
        text, digest = encode(env)
        assert text.encode("utf-8") == canonical_bytes(env)
        assert digest == content_hash(env)


def test_the_file_holds_canonical_text(sq, path, rec):
    r = rec
    inst = r.institution(names={"th": "มหาวิทยาลัยเชียงใหม่"})
    sq.apply([inst])
    conn = sqlite3.connect(path)
    [(text,)] = conn.execute("SELECT envelope FROM records").fetchall()
    conn.close()
    assert text.encode("utf-8") == canonical_bytes(inst)


def test_wal_and_schema_version(sq, path):
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "4"
    key = conn.execute("SELECT value FROM meta WHERE key = 'cursor_key'").fetchone()[0]
    conn.close()
    SqliteStore(path).close()   # opening again changes nothing
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key = 'cursor_key'").fetchone()[0] == key
    conn.close()


def test_a_newer_schema_is_refused(path):
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(errors.StoreError):
        SqliteStore(path)


def test_a_tokenizer_change_rebuilds_the_index(path, rec):
    r = rec
    s = SqliteStore(path)
    owner = r.institution()
    tech = r.technology({"zh-Hans": "高能量密度锂电池"}, owner=owner["rid"])
    s.apply([owner, tech])
    s.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = 'old' WHERE key = 'tokenizer'")
    conn.execute("INSERT INTO search(search) VALUES ('delete-all')")  # an index we cannot trust
    conn.commit()
    conn.close()
    s = SqliteStore(path)
    try:
        assert [x.rid for x in s.search("电池", RecordQuery()).items] == [tech["rid"]]
        s.apply([r.update(tech, title={"en": "Sodium battery"})])  # deleting old entries works
        assert s.search("电池", RecordQuery()).items == []
        assert [x.rid for x in s.search("sodium", RecordQuery()).items] == [tech["rid"]]
    finally:
        s.close()


def test_errors_become_store_errors(tmp_path):
    with pytest.raises(errors.StoreError) as exc:
        SqliteStore(str(tmp_path / "missing" / "node.db"))
    assert exc.value.to_problem()["detail"] == "The node's database is unavailable"
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(errors.StoreError):
        SqliteStore(str(junk))


def test_closed_store_refuses_work(path):
    s = SqliteStore(path)
    s.close()
    with pytest.raises(errors.StoreError):
        s.last_seq()


def test_open_store_urls(path):
    s = open_store(f"sqlite:///{path}")
    assert isinstance(s, SqliteStore)
    s.close()
    with pytest.raises(ValueError):
        open_store("postgres://localhost/x")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_store_made_before_fork_works_in_the_child(sq, rec):
    r = rec
    owner = r.institution()
    sq.apply([owner])                      # the parent has a connection open now
    tech = r.technology(owner=owner["rid"])
    pid = os.fork()
    if pid == 0:                           # child: must not use the parent's connection
        code = 1
        try:
            [o] = sq.apply([tech])
            code = 0 if o.seq == 2 and sq.get(owner["rid"]) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert sq.get(tech["rid"]).seq == 2    # the parent sees the child's write
    assert sq.last_seq() == 2


CHILD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {here!r})
    from conftest import Records
    from jembatan.graph.sqlite import SqliteStore
    r = Records()
    store = SqliteStore({path!r})
    owner = r.institution()

    def stream():
        for i in range(100_000):
            if i == 5000:
                open({marker!r}, "w").close()
                time.sleep(60)
            yield r.technology(f"T{{i}}", owner=owner["rid"])

    store.apply(stream(), trusted=True, checkpoint=("peer-b", "late"))
""")


def test_kill_9_mid_batch_leaves_the_store_as_it_was(path, tmp_path, rec):
    r = rec
    s = SqliteStore(path)
    first = r.institution()
    s.apply([first], checkpoint=("peer-b", "early"))
    s.close()
    marker = tmp_path / "half-way"
    here = os.path.dirname(os.path.abspath(__file__))
    proc = subprocess.Popen([sys.executable, "-c", CHILD.format(path=path, marker=str(marker),
                                                                   here=here)])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    s = SqliteStore(path)
    try:
        assert s.last_seq() == 1
        assert s.counts()["technology"] == 0
        assert s.get_checkpoint("peer-b") == "early"
        assert [x.rid for x in s.changes(0)] == [first["rid"]]
        [o] = s.apply([r.institution()])
        assert o.seq == 2
    finally:
        s.close()


@pytest.mark.parametrize("window,limit", [(3, 1), (3, 2), (3, 3), (4, 5), (5, 20)])
def test_search_windows_visit_every_match_once(sq, rec, monkeypatch, window, limit):
    """Large result sets are ranked window by window; pages still cover every match once."""
    from jembatan.graph import sqlite_search

    monkeypatch.setattr(sqlite_search, "WINDOW", window)
    owner = rec.institution()
    techs = [rec.technology(f"Solar {'solar ' * (i % 3)}dryer {i}", owner=owner["rid"],
                            visibility="private" if i % 5 == 0 else "public") for i in range(14)]
    sq.apply([owner] + techs + [rec.technology("Rice dryer", owner=owner["rid"])])
    query = RecordQuery(scope=frozenset({"public"}), limit=limit)
    seen, cursor = [], None
    for _ in range(40):
        page = sq.search("solar", RecordQuery(scope=query.scope, limit=limit, cursor=cursor))
        assert len(page.items) <= limit
        seen += [r.rid for r in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    expected = {t["rid"] for i, t in enumerate(techs) if i % 5}
    assert sorted(seen) == sorted(expected) and len(seen) == len(expected)
    # the newest window comes first
    first_window = [t["rid"] for i, t in enumerate(techs) if i % 5][-window:]
    assert set(seen[:window]) == set(first_window)


def test_apply_inside_apply_is_refused_and_the_outer_batch_survives(sq, rec):
    inner_error = []

    def stream():
        yield rec.institution("Outer")
        try:
            sq.apply([rec.institution("Inner")])
        except RuntimeError as exc:
            inner_error.append(exc)
        yield rec.institution("Outer too")

    outcomes = sq.apply(stream())
    assert [o.status for o in outcomes] == ["created", "created"]
    assert inner_error and sq.counts()["institution"] == 2


def test_opening_does_not_wait_for_a_writer(sq, path, rec):
    """A long import holds the write lock; a new worker must still open the store."""
    sq.apply([rec.institution()])
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        other = SqliteStore(path)
        try:
            assert other.last_seq() == 1
        finally:
            other.close()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
