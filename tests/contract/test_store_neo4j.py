"""What only the Neo4j backend promises: its URL, its graph model and schema, fork, threads,
kill -9, and driver errors turned into StoreError."""
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from jembatan.graph import open_store
from jembatan.graph.neo4j import Neo4jStore, parse_url
from jembatan.graph.neo4j_schema import EDGE_TYPES, OWN_IN, OWN_OUT
from jembatan.graph.neo4j_search import lucene_query
from jembatan.graph.projection import project
from jembatan.graph.store import LOCAL, RecordQuery
from jembatan.graph.textindex import query_terms
from jembatan.network import errors
from jembatan.network.envelope import canonical_bytes


# -- without a server -----------------------------------------------------------------------

def test_store_urls_are_parsed():
    assert parse_url("neo4j://neo4j:p%40ss%3Aw%2Frd@127.0.0.1:7687") == (
        "neo4j://127.0.0.1:7687", ("neo4j", "p@ss:w/rd"), "neo4j")
    assert parse_url("bolt+s://u:p@db.example.org?database=hub") == (
        "bolt+s://db.example.org", ("u", "p"), "hub")
    assert parse_url("bolt://[::1]:7687") == ("bolt://[::1]:7687", None, "neo4j")


@pytest.mark.parametrize("url", [
    "neo4j://u:p@h:7687/db", "neo4j://u@h:7687", "neo4j://u:p@h:7687?db=x",
    "neo4j://u:p@h:7687?database=", "neo4j://u:p@h:99999", "neo4j:///nowhere", "mysql://u:p@h",
])
def test_bad_store_urls_are_configuration_errors(url):
    with pytest.raises(ValueError) as exc:
        parse_url(url)
    assert "p@" not in str(exc.value)


def test_every_edge_belongs_to_its_owner_on_a_fixed_side(rec):
    """Replacing a record's edges reads only OWN_OUT edges leaving it and OWN_IN entering it."""
    assert not set(OWN_OUT) & set(OWN_IN)
    a, b = rec.institution("A"), rec.institution("B")
    tech = rec.technology(owner=a["rid"], fields=["ict"])
    ev = rec.event(organisers=[a["rid"]], participants=[b["rid"]], technologies=[tech["rid"]])
    ag = rec.agreement(provider=a["rid"], recipient=b["rid"], technology=tech["rid"],
                       event=ev["rid"], fields=["ict"])
    samples = [a, tech, ev, ag, rec.endorsement(agreement=ag, party=b["rid"]),
               rec.demand(requester=b["rid"], countries=["TH"])]
    seen = set()
    for env in samples:
        for edge in project(env)[1]:
            seen.add(edge.type)
            if edge.src == env["rid"]:
                assert edge.type in OWN_OUT, edge
            else:
                assert edge.dst == env["rid"] and edge.type in OWN_IN, edge
    assert seen == set(EDGE_TYPES)


def test_lucene_queries_quote_every_token():
    query, verify = lucene_query(query_terms('baterai" OR (x:y) 电池* 锂'), ["public"], ["technology"])
    assert '+(search_title:"baterai" search_body:"baterai")' in query
    assert '+(search_title:"or" search_body:"or")' in query
    assert '"x y"' in query and "电池" in query and "锂*" in query
    assert query.endswith("+(search_facets:(v_public))^0 +(search_facets:(k_technology))^0")
    assert verify == []
    query, verify = lucene_query(query_terms("abc锂"), ["public", "alliance"], [])
    assert '(+"abc" +锂*)' in query and verify == [" abc 锂"]


# -- against the test server ----------------------------------------------------------------

@pytest.fixture
def url(neo4j_url):
    return neo4j_url


@pytest.fixture
def neo(url):
    s = Neo4jStore.from_url(url)
    yield s
    s.close()


def test_open_store_selects_neo4j(neo4j_server, url):
    for store_url in (url, url.replace("neo4j://", "bolt://", 1) + "?database=neo4j"):
        s = open_store(store_url)
        try:
            assert isinstance(s, Neo4jStore) and s.last_seq() == 0
            assert neo4j_server.password not in repr(s)
        finally:
            s.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_server_is_a_store_error():
    started = time.monotonic()
    with pytest.raises(errors.StoreError) as exc:
        Neo4jStore.from_url(f"neo4j://neo4j:secret-pw@127.0.0.1:{_closed_port()}")
    assert time.monotonic() - started < 30
    problem = exc.value.to_problem()
    assert problem["status"] == 503 and "secret-pw" not in str(problem)
    assert problem["detail"] == "The node's database is unavailable"


def test_unknown_credentials_are_a_store_error(neo4j_server):
    with pytest.raises(errors.StoreError):
        Neo4jStore.from_url(f"neo4j://intruder:guess@127.0.0.1:{neo4j_server.port}")


def test_a_closed_store_refuses_work(neo):
    neo.close()
    with pytest.raises(errors.StoreError):
        neo.last_seq()


def test_the_graph_is_plain_neo4j(neo, neo4j_admin, rec):
    """Labels, relationship types, stubs and the stored text as an analyst sees them in Cypher."""
    inst = rec.institution(names={"th": "มหาวิทยาลัยเชียงใหม่"}, country="TH")
    stub = rec.rid("institution")
    tech = rec.technology(owner=inst["rid"], fields=["ict"])
    ag = rec.agreement(provider=inst["rid"], recipient=stub, technology=tech["rid"])
    neo.apply([inst, tech, ag])
    records, _, _ = neo4j_admin.execute_query(
        "MATCH (n:Node) RETURN n.id AS id, labels(n) AS labels, n.envelope AS text", database_="neo4j")
    by_id = {r["id"]: r for r in records}
    assert set(by_id[inst["rid"]]["labels"]) == {"Node", "Record", "Institution"}
    assert set(by_id[stub]["labels"]) == {"Node", "Institution"}          # a stub: no record
    assert set(by_id["country:TH"]["labels"]) == {"Node", "Country"}
    assert set(by_id["field:ict"]["labels"]) == {"Node", "Field"}
    assert by_id[inst["rid"]]["text"].encode("utf-8") == canonical_bytes(inst)
    records, _, _ = neo4j_admin.execute_query(
        "MATCH (a)-[e:PARTY_TO]->(b) RETURN a.id AS a, e.role AS role, e.owner AS owner ORDER BY role",
        database_="neo4j")
    assert [(r["a"], r["role"], r["owner"]) for r in records] == [
        (inst["rid"], "provider", ag["rid"]), (stub, "recipient", ag["rid"])]


def test_schema_is_created_once(url, neo, neo4j_admin):
    key = neo4j_admin.execute_query("MATCH (m:StoreMeta) RETURN m.cursor_key AS k",
                                    database_="neo4j").records[0]["k"]
    Neo4jStore.from_url(url).close()
    again = neo4j_admin.execute_query("MATCH (m:StoreMeta) RETURN count(m) AS n, m.cursor_key AS k",
                                      database_="neo4j").records[0]
    assert (again["n"], again["k"]) == (1, key)
    names = {r["name"] for r in neo4j_admin.execute_query(
        "SHOW INDEXES YIELD name, type, options WHERE type = 'FULLTEXT'"
        " AND options.indexConfig.`fulltext.analyzer` = 'whitespace' RETURN name",
        database_="neo4j").records}
    assert names == {"record_search"}


def test_a_newer_schema_is_refused(url, neo, neo4j_admin):
    neo4j_admin.execute_query("MATCH (m:StoreMeta) SET m.schema_version = 99", database_="neo4j")
    with pytest.raises(errors.StoreError):
        Neo4jStore.from_url(url)


def test_a_tokenizer_change_derives_search_text_and_display_again(url, neo, neo4j_admin, rec):
    owner = rec.institution()
    tech = rec.technology({"zh-Hans": "高能量密度锂电池"}, owner=owner["rid"])
    neo.apply([owner, tech])
    shown = neo.neighbours(tech["rid"], 1, LOCAL, 50)
    neo4j_admin.execute_query("MATCH (m:StoreMeta) SET m.tokenizer = 'old' WITH 1 AS x"
                              " MATCH (r:Record) SET r.search_title = 'stale', r.search_body = '',"
                              " r.props = '{}'", database_="neo4j")
    assert neo.search("电池", RecordQuery()).items == []
    assert neo.neighbours(tech["rid"], 1, LOCAL, 50) != shown
    s = Neo4jStore.from_url(url)
    try:
        assert [x.rid for x in s.search("电池", RecordQuery()).items] == [tech["rid"]]
        assert s.search("stale", RecordQuery()).items == []
        assert s.neighbours(tech["rid"], 1, LOCAL, 50) == shown
    finally:
        s.close()


def test_apply_inside_apply_is_refused_and_the_outer_batch_survives(neo, rec):
    inner_error = []

    def stream():
        yield rec.institution("Outer")
        try:
            neo.apply([rec.institution("Inner")])
        except RuntimeError as exc:
            inner_error.append(exc)
        yield rec.institution("Outer too")

    assert [o.status for o in neo.apply(stream())] == ["created", "created"]
    assert inner_error and neo.counts()["institution"] == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_store_made_before_fork_works_in_the_child(neo, rec):
    owner = rec.institution()
    neo.apply([owner])                     # the parent's driver is connected now
    parent_driver = neo._driver()
    tech = rec.technology(owner=owner["rid"])
    pid = os.fork()
    if pid == 0:                           # child: must not use the parent's driver
        code = 1
        try:
            [o] = neo.apply([tech])
            own = neo._driver() is not parent_driver
            code = 0 if own and o.seq == 2 and neo.get(owner["rid"]) else 2
            neo.close()                    # closes the child's driver only
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert neo._driver() is parent_driver  # untouched, and still working
    assert neo.get(tech["rid"]).seq == 2
    assert neo.last_seq() == 2


@pytest.mark.parametrize("window,bucket,limit", [(3, 4, 1), (3, 4, 2), (4, 3, 5), (5, 2, 20),
                                                 (2000, 4, 2)])
def test_search_windows_visit_every_match_once(neo, rec, monkeypatch, window, bucket, limit):
    """Many matches are ranked seq bucket by seq bucket; pages still cover every match once."""
    from jembatan.graph import neo4j_schema, neo4j_search

    monkeypatch.setattr(neo4j_search, "WINDOW", window)
    monkeypatch.setattr(neo4j_schema, "BUCKET", bucket)
    owner = rec.institution()
    techs = [rec.technology(f"Solar {'solar ' * (i % 3)}dryer {i}", owner=owner["rid"],
                            visibility="private" if i % 5 == 0 else "public",
                            trl=3 if i % 4 == 0 else 5) for i in range(14)]
    neo.apply([owner] + techs + [rec.technology("Rice dryer", owner=owner["rid"])])
    scope = frozenset({"public"})
    seen, cursor = [], None
    for _ in range(40):
        page = neo.search("solar", RecordQuery(scope=scope, trl_min=5, limit=limit, cursor=cursor))
        assert len(page.items) <= limit
        seen += [r.rid for r in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    expected = {t["rid"]: 2 + i for i, t in enumerate(techs) if i % 5 and i % 4}   # rid: seq
    assert sorted(seen) == sorted(expected) and len(seen) == len(expected)
    if window < len(expected):
        # more matches than a window: the newest seq bucket's matches come first
        top = max(seq // bucket for seq in expected.values())
        newest = {rid for rid, seq in expected.items() if seq // bucket == top}
        assert set(seen[:len(newest)]) == newest


CHILD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {here!r})
    from conftest import Records
    from jembatan.graph.neo4j import Neo4jStore
    r = Records()
    store = Neo4jStore.from_url({url!r})
    owner = r.institution()

    def stream():
        for i in range(100_000):
            if i == 5000:
                open({marker!r}, "w").close()
                time.sleep(60)
            yield r.technology(f"T{{i}}", owner=owner["rid"])

    store.apply(stream(), trusted=True, checkpoint=("peer-b", "late"))
""")


def test_kill_9_mid_batch_leaves_the_store_as_it_was(url, neo, tmp_path, rec):
    first = rec.institution()
    neo.apply([first], checkpoint=("peer-b", "early"))
    marker = tmp_path / "half-way"
    here = os.path.dirname(os.path.abspath(__file__))
    proc = subprocess.Popen([sys.executable, "-c", CHILD.format(url=url, marker=str(marker), here=here)])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    # the server rolls the transaction back when the connection drops
    assert neo.last_seq() == 1
    assert neo.counts()["technology"] == 0
    assert neo.get_checkpoint("peer-b") == "early"
    assert [x.rid for x in neo.changes(0)] == [first["rid"]]
    [o] = neo.apply([rec.institution()])    # and the lock the child held is free
    assert o.seq == 2
