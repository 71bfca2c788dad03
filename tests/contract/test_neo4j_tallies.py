"""The Neo4j store derives its tallies again in many transactions: writers wait meanwhile, a
rebuild under way is waited for, and one whose process died is taken over."""
import threading

import pytest

from jembatan.graph import neo4j_tallies, open_store, tallies
from jembatan.network import errors

from test_store_tallies import SCOPES, Alliance, observed

DB = "neo4j"


def meta(admin) -> dict:
    return admin.execute_query("MATCH (m:StoreMeta) RETURN m {.*} AS m", database_=DB).records[0]["m"]


def spoil(admin, **state) -> None:
    """Leave the cells wrong and the meta node in ``state``."""
    admin.execute_query("MATCH (t:Tally) SET t.n = t.n + 7", database_=DB)
    admin.execute_query("MATCH (m:StoreMeta) SET m += $state", {"state": state}, database_=DB)


def cells(admin) -> int:
    return admin.execute_query("MATCH (t:Tally) RETURN count(t) AS c", database_=DB).records[0]["c"]


@pytest.fixture
def filled(neo4j_url, rec):
    store = open_store(neo4j_url)
    a = Alliance(rec, 5)
    store.apply(a.batch())
    store.apply(a.changes())
    yield store, {tuple(sorted(s)): observed(store, s) for s in SCOPES}
    store.close()


def test_derived_in_small_batches_the_cells_are_the_same(filled, neo4j_admin):
    store, before = filled
    n = cells(neo4j_admin)
    spoil(neo4j_admin, tallies="old")
    neo4j_tallies.rebuild(neo4j_admin, DB, batch=7)
    assert {tuple(sorted(s)): observed(store, s) for s in SCOPES} == before
    assert cells(neo4j_admin) == n
    m = meta(neo4j_admin)
    assert m["tallies"] == tallies.VERSION and "tallies_owner" not in m


def test_writes_are_refused_while_the_cells_are_derived(filled, neo4j_admin, rec):
    store, _ = filled
    spoil(neo4j_admin, tallies="rebuilding", tallies_owner="elsewhere", tallies_beat=2**60)
    seq = meta(neo4j_admin)["seq"]
    with pytest.raises(errors.StoreError):
        store.apply([rec.institution("Late", country="LA")])
    assert meta(neo4j_admin)["seq"] == seq


def test_an_opener_waits_for_a_rebuild_under_way(filled, neo4j_admin, neo4j_url):
    store, before = filled
    neo4j_admin.execute_query("MATCH (m:StoreMeta) SET m.tallies = 'rebuilding',"
                              " m.tallies_owner = 'elsewhere', m.tallies_beat = timestamp()",
                              database_=DB)
    opened = []
    opener = threading.Thread(target=lambda: opened.append(open_store(neo4j_url)))
    opener.start()
    opener.join(3)
    assert opener.is_alive() and not opened      # still waiting for the other process
    neo4j_admin.execute_query("MATCH (m:StoreMeta) SET m.tallies = $v, m.tallies_owner = null",
                              {"v": tallies.VERSION}, database_=DB)
    opener.join(30)
    assert opened
    opened[0].close()
    assert {tuple(sorted(s)): observed(store, s) for s in SCOPES} == before


def test_a_rebuild_whose_process_died_is_taken_over(filled, neo4j_admin, neo4j_url):
    store, before = filled
    spoil(neo4j_admin, tallies="rebuilding", tallies_owner="dead", tallies_beat=0)
    open_store(neo4j_url).close()
    assert {tuple(sorted(s)): observed(store, s) for s in SCOPES} == before
    assert meta(neo4j_admin)["tallies"] == tallies.VERSION


def test_a_rebuild_taken_over_stops_writing(filled, neo4j_admin, monkeypatch):
    store, before = filled
    spoil(neo4j_admin, tallies="old")
    real = neo4j_tallies.Deltas.rows

    def stolen(self):   # another process takes the rebuild over before the cells are written
        neo4j_admin.execute_query("MATCH (m:StoreMeta) SET m.tallies_owner = 'thief'", database_=DB)
        return real(self)

    monkeypatch.setattr(neo4j_tallies.Deltas, "rows", stolen)
    with pytest.raises(neo4j_tallies.RebuildLost):
        neo4j_tallies.rebuild(neo4j_admin, DB)
    assert cells(neo4j_admin) == 0       # deleted before the theft; nothing written after it
    assert meta(neo4j_admin)["tallies"] == "rebuilding"
