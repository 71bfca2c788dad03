"""The peers table (DIR/peers.db): a real SQLite file, reopened to prove persistence."""
from __future__ import annotations

import random
import sqlite3
import subprocess
import sys

import pytest

from jembatan.network import errors
from jembatan.sync.peers import Peers, normalise_url
from jembatan.sync.transport import Backoff, CircuitBreaker

T0 = 1_750_000_000.0


def open_peers(path, seed: int = 1) -> Peers:
    return Peers(path, backoff=Backoff(base=1.0, cap=300.0, rng=random.Random(seed)),
                 breaker=CircuitBreaker(threshold=3, cooldown=60.0, max_cooldown=600.0))


@pytest.fixture
def db(tmp_path):
    return tmp_path / "peers.db"


@pytest.fixture
def peers(db):
    return open_peers(db)


# -- urls ----------------------------------------------------------------------------------

@pytest.mark.parametrize("given, expected", [
    ("https://Node.Example.ORG/", "https://node.example.org"),
    ("  HTTP://hub.example:8080/jembatan//  ", "http://hub.example:8080/jembatan"),
    ("http://127.0.0.1:80/", "http://127.0.0.1"),
    ("https://hub.example:443", "https://hub.example"),
    ("https://hub.example:8443/", "https://hub.example:8443"),
    ("http://[::1]:9000/", "http://[::1]:9000"),
    ("https://bücher.example/", "https://xn--bcher-kva.example"),
])
def test_url_normalisation(given, expected):
    assert normalise_url(given) == expected


@pytest.mark.parametrize("bad, words", [
    ("", "required"),
    (None, "required"),
    ("ftp://hub.example", "http"),
    ("hub.example", "http"),
    ("https://user:pw@hub.example", "user name"),
    ("https://hub.example/?x=1", "query"),
    ("https://hub.example/#top", "fragment"),
    ("https://hub.example:99999", "port"),
    ("https:///path", "no host"),
    ("https://hub example", "spaces"),
    ("https://hub.exa$mple", "host"),
])
def test_bad_urls_name_the_field(peers, bad, words):
    with pytest.raises(errors.ValidationError) as info:
        peers.add(bad)
    assert info.value.errors[0]["field"] == "url"
    assert words in info.value.errors[0]["detail"]
    assert peers.list() == []                  # nothing changed


# -- add / list / get / remove -------------------------------------------------------------

def test_add_list_get_remove(peers):
    a = peers.add("https://Jakarta.example/")
    b = peers.add("http://bangkok.example:8080", node_id="bangkok-1a2b3c")
    assert a.url == "https://jakarta.example" and a.node_id is None
    assert a.state == "ok" and a.failures == 0 and a.totals == dict.fromkeys(a.totals, 0)
    assert [p.url for p in peers.list()] == ["http://bangkok.example:8080",
                                             "https://jakarta.example"]
    assert peers.get("https://jakarta.example/") == a          # any spelling of the url
    assert peers.get("bangkok-1a2b3c") == b                    # or the node id
    assert peers.get("https://nowhere.example") is None
    assert peers.get("nobody-000000") is None
    peers.remove("bangkok-1a2b3c")
    peers.remove("HTTPS://JAKARTA.EXAMPLE")
    assert peers.list() == []


def test_add_twice_is_a_conflict(peers):
    peers.add("https://hub.example", node_id="hub-aaaaaa")
    with pytest.raises(errors.Conflict):
        peers.add("https://HUB.example/")
    with pytest.raises(errors.Conflict) as info:
        peers.add("https://other.example", node_id="hub-aaaaaa")
    assert info.value.errors[0]["field"] == "node_id"
    assert len(peers.list()) == 1


def test_bad_node_id_refused(peers):
    with pytest.raises(errors.ValidationError) as info:
        peers.add("https://hub.example", node_id="Not A Node!")
    assert info.value.errors[0]["field"] == "node_id"
    assert peers.list() == []


def test_remove_absent_is_not_found(peers):
    with pytest.raises(errors.NotFound):
        peers.remove("https://hub.example")
    with pytest.raises(errors.NotFound):
        peers.remove("hub-aaaaaa")


def test_ambiguous_node_id_is_a_conflict(peers):
    peers.add("https://a.example")
    peers.add("https://b.example")
    for url in ("https://a.example", "https://b.example"):   # learned from the peers
        peers.record_attempt(url, ok=True, now=T0, node_id="same-node")
    with pytest.raises(errors.Conflict):
        peers.get("same-node")
    assert peers.get("https://a.example").node_id == "same-node"


# -- attempts ------------------------------------------------------------------------------

def test_success_adds_stats_and_sets_lag_and_node_id(peers):
    peers.add("https://hub.example")
    peers.record_attempt("https://hub.example", ok=True, now=T0, lag=500, node_id="hub-aaaaaa",
                         stats={"received": 10, "applied": 7, "unchanged": 2, "stale": 1})
    p = peers.record_attempt("https://hub.example", ok=True, now=T0 + 10, lag=0,
                             stats={"received": 5, "applied": 4, "quarantined": 1})
    assert p.totals == {"received": 15, "applied": 11, "unchanged": 2, "stale": 1,
                        "quarantined": 1}
    assert (p.lag, p.node_id) == (0, "hub-aaaaaa")
    assert (p.last_attempt, p.last_success, p.next_attempt) == (T0 + 10, T0 + 10, T0 + 10)
    assert p.state == "ok" and p.last_error is None


def test_failure_counts_backs_off_and_keeps_last_success(peers):
    peers.add("https://hub.example")
    peers.record_attempt("https://hub.example", ok=True, now=T0, lag=3)
    p = peers.record_attempt("https://hub.example", ok=False, now=T0 + 5, error="HTTP 500",
                             stats={"received": 2, "applied": 2})
    assert (p.failures, p.state, p.last_error) == (1, "failing", "HTTP 500")
    assert p.last_success == T0 and p.last_attempt == T0 + 5 and p.lag == 3
    assert T0 + 5 <= p.next_attempt <= T0 + 5 + 1.0          # first backoff ≤ base
    assert p.totals["applied"] == 2                           # partial progress counts
    p = peers.record_attempt("https://hub.example", ok=False, now=T0 + 10)
    assert p.failures == 2 and p.last_error == "failed"
    assert T0 + 10 <= p.next_attempt <= T0 + 12


def test_retry_after_is_a_floor(peers):
    peers.add("https://hub.example")
    p = peers.record_attempt("https://hub.example", ok=False, now=T0, error="HTTP 429",
                             retry_after=120.0)
    assert p.next_attempt >= T0 + 120
    assert peers.due(T0 + 119) == []
    assert [x.url for x in peers.due(T0 + 120)] == ["https://hub.example"]


def test_success_after_failures_resets(peers):
    peers.add("https://hub.example")
    for i in range(2):
        peers.record_attempt("https://hub.example", ok=False, now=T0 + i, error="down")
    p = peers.record_attempt("https://hub.example", ok=True, now=T0 + 100)
    assert (p.failures, p.state, p.last_error, p.next_attempt) == (0, "ok", None, T0 + 100)


def test_bad_attempt_input_changes_nothing(peers):
    peers.add("https://hub.example")
    before = peers.get("https://hub.example")
    for kwargs, field in [({"stats": {"received": -1}}, "stats.received"),
                          ({"stats": {"bogus": 1}}, "stats.bogus"),
                          ({"stats": {"applied": "3"}}, "stats.applied"),
                          ({"lag": -4}, "lag"),
                          ({"node_id": "Bad Id"}, "node_id")]:
        with pytest.raises(errors.ValidationError) as info:
            peers.record_attempt("https://hub.example", ok=False, now=T0, **kwargs)
        assert info.value.errors[0]["field"] == field
    assert peers.get("https://hub.example") == before
    with pytest.raises(errors.NotFound):
        peers.record_attempt("https://nowhere.example", ok=True, now=T0)


# -- breaker, due, persistence -------------------------------------------------------------

def test_breaker_opens_and_survives_reopen(db):
    peers = open_peers(db)
    peers.add("https://hub.example")
    peers.add("https://jakarta.example")
    for i in range(3):
        p = peers.record_attempt("https://hub.example", ok=False, now=T0 + i, error="down")
    assert p.state == "open" and p.breaker.state == "open"
    assert p.breaker.opened_at == T0 + 2 and p.breaker.cooldown == 60.0
    assert p.next_attempt >= T0 + 62                        # not before the cooldown

    again = open_peers(db)                                  # another process, later
    q = again.get("https://hub.example")
    assert q == p
    assert [x.url for x in again.due(T0 + 10)] == ["https://jakarta.example"]
    assert "https://hub.example" not in [x.url for x in again.due(T0 + 61)]
    assert "https://hub.example" in [x.url for x in again.due(T0 + 62)]

    # the trial fails: open again, for twice as long
    q = again.record_attempt("https://hub.example", ok=False, now=T0 + 62, error="down")
    assert (q.breaker.state, q.breaker.opened_at, q.breaker.cooldown) == ("open", T0 + 62, 120)
    assert "https://hub.example" not in [x.url for x in again.due(T0 + 181)]
    assert "https://hub.example" in [x.url for x in again.due(T0 + 182 + 300)]
    # the next trial succeeds: closed
    q = open_peers(db).record_attempt("https://hub.example", ok=True, now=T0 + 500)
    assert (q.state, q.breaker.state, q.failures) == ("ok", "closed", 0)


def test_backoff_persisted_across_reopen(db):
    peers = open_peers(db, seed=3)
    peers.add("https://hub.example")
    p = peers.record_attempt("https://hub.example", ok=False, now=T0, retry_after=30)
    assert open_peers(db).get("https://hub.example").next_attempt == p.next_attempt
    assert open_peers(db).due(p.next_attempt - 0.001) == []


def test_new_peers_are_due_at_once(peers):
    p = peers.add("https://hub.example")
    assert p.next_attempt is None and p.last_attempt is None
    assert [p.url for p in peers.due(T0)] == ["https://hub.example"]


def test_to_dict_is_json_with_iso_times(peers):
    import json
    peers.add("https://hub.example")
    p = peers.record_attempt("https://hub.example", ok=False, now=T0 + 0.25, error="HTTP 500")
    d = json.loads(json.dumps(p.to_dict()))
    assert d["url"] == "https://hub.example" and d["state"] == "failing"
    assert d["last_attempt"] == "2025-06-15T15:06:40.250Z"
    assert d["last_success"] is None and d["last_error"] == "HTTP 500"
    assert d["breaker"] == {"state": "closed", "opened_at": None, "cooldown": 0.0}
    assert d["totals"]["received"] == 0 and d["failures"] == 1


def test_wal_and_schema(db, peers):
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 1


def test_reader_while_a_writer_holds_a_transaction(db, peers):
    peers.add("https://hub.example")
    # another process holds the write lock: reads still go through (WAL)
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE peers SET lag = 9")
    try:
        assert peers.get("https://hub.example").lag is None   # the committed state
    finally:
        writer.execute("COMMIT")
        writer.close()
    assert peers.get("https://hub.example").lag == 9


def test_two_processes_count_without_losing_updates(db, peers):
    peers.add("https://hub.example")
    code = (
        "import sys\n"
        "from jembatan.sync.peers import Peers\n"
        "p = Peers(sys.argv[1])\n"
        "for i in range(50):\n"
        "    p.record_attempt('https://hub.example', ok=False, now=1.0, error='down',\n"
        "                     stats={'received': 1})\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(db)]) for _ in range(2)]
    assert [proc.wait(60) for proc in procs] == [0, 0]
    p = peers.get("https://hub.example")
    # failures is read, incremented and written back: none lost between the processes
    assert (p.failures, p.received) == (100, 100)
