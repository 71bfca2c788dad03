"""What federation needs from every store: shadow tombstones for narrowed records, the
quarantine of records refused from peers, and the store's epoch."""
import json
import re
import sqlite3

import pytest

from jembatan.api.store_copy import copy_store, store_digest
from jembatan.graph.prepare import Prepared, prepare
from jembatan.graph.store import (ALLIANCE, CREATED, LOCAL, PUBLIC, QUARANTINE_MAX, REJECTED,
                                  UNCHANGED, UPDATED, BatchRejected, Quarantined, RecordQuery,
                                  StoredRecord)
from jembatan.network import errors
from jembatan.network.envelope import canonical_bytes, content_hash

PEER = "node-b"


def narrowed(rec, env: dict, visibility: str, *, shadow_visibility: str | None = None):
    """The next version of ``env`` with a narrower visibility, and its shadow: a tombstone at
    the same rid and version with the visibility peers knew."""
    new = rec.update(env, visibility=visibility)
    shadow = rec.tombstone(env, version=new["version"],
                           visibility=shadow_visibility or env["visibility"])
    return new, shadow


def text(env: dict) -> str:
    return canonical_bytes(env).decode("utf-8")


# -- shadows ---------------------------------------------------------------------------------

def test_a_narrowed_record_reaches_the_wider_scope_as_its_shadow(store, rec):
    inst = rec.institution("Narrowed Institute")
    before = rec.institution("Before")
    after = rec.institution("After")
    store.apply([before, inst])
    new, shadow = narrowed(rec, inst, "alliance")
    [o] = store.apply([prepare(new, shadow=shadow)])
    assert (o.status, o.version) == (UPDATED, 2)
    store.apply([after])

    # out of scope: the shadow, byte for byte, at the record's seq
    feed = store.changes(0, scope=PUBLIC)
    assert [r.rid for r in feed] == [before["rid"], inst["rid"], after["rid"]]
    served = feed[1]
    assert served.text == text(shadow)
    assert served.hash == content_hash(shadow)
    assert served.seq == o.seq
    assert (served.version, served.envelope["deleted"], served.envelope["body"]) == (2, True, None)
    assert served.envelope["visibility"] == "public"
    assert served.shadow is None
    got = store.get(inst["rid"], PUBLIC)
    assert (got.text, got.hash, got.seq, got.shadow) == (text(shadow), content_hash(shadow), o.seq, None)
    # a page boundary inside a feed that mixes records and shadows
    assert [r.rid for r in store.changes(0, limit=2, scope=PUBLIC)] == [before["rid"], inst["rid"]]
    assert [r.rid for r in store.changes(feed[1].seq, scope=PUBLIC)] == [after["rid"]]

    # in scope: the record itself; the node itself also sees the shadow
    for scope in (ALLIANCE, LOCAL):
        got = store.get(inst["rid"], scope)
        assert (got.text, got.hash, got.seq) == (text(new), content_hash(new), o.seq)
        [fed] = [r for r in store.changes(0, scope=scope) if r.rid == inst["rid"]]
        assert (fed.text, fed.hash, fed.seq) == (text(new), content_hash(new), o.seq)
        expected = text(shadow) if scope == LOCAL else None
        assert got.shadow == expected and fed.shadow == expected
    assert [r.shadow for r in store.iter_all() if r.rid == inst["rid"]] == [text(shadow)]
    assert [r.text for r in store.iter_all(PUBLIC) if r.rid == inst["rid"]] == [text(shadow)]
    assert store.get(before["rid"]).shadow is None


def test_a_private_record_with_an_alliance_shadow(store, rec):
    inst = rec.institution(visibility="alliance")
    store.apply([inst])
    new, shadow = narrowed(rec, inst, "private")
    store.apply([prepare(new, shadow=shadow)])
    assert store.changes(0, scope=PUBLIC) == []
    assert store.get(inst["rid"], PUBLIC) is None
    [served] = store.changes(0, scope=ALLIANCE)
    assert served.text == text(shadow) and served.hash == content_hash(shadow)
    assert store.get(inst["rid"], ALLIANCE).text == text(shadow)
    assert store.get(inst["rid"]).text == text(new)


def test_a_later_version_without_a_shadow_clears_it(store, rec):
    inst = rec.institution()
    store.apply([inst])
    new, shadow = narrowed(rec, inst, "private")
    store.apply([prepare(new, shadow=shadow)])
    assert store.get(inst["rid"], PUBLIC).text == text(shadow)

    v3 = rec.update(new, city="Nanning")                 # still private, written as a dict
    [o] = store.apply([v3])
    assert o.status == UPDATED
    assert store.get(inst["rid"], PUBLIC) is None
    assert store.changes(0, scope=PUBLIC) == []
    assert store.get(inst["rid"]).shadow is None
    assert store.changes(0)[0].shadow is None

    v4 = rec.update(v3, visibility="public")              # widened again: the record itself
    store.apply([prepare(v4)])
    assert store.get(inst["rid"], PUBLIC).text == text(v4)
    assert store.get(inst["rid"]).shadow is None


def test_an_unchanged_write_leaves_the_shadow(store, rec):
    inst = rec.institution()
    store.apply([inst])
    new, shadow = narrowed(rec, inst, "alliance")
    store.apply([prepare(new, shadow=shadow)])
    seq = store.last_seq()
    [o] = store.apply([new])
    assert o.status == UNCHANGED
    assert store.get(inst["rid"]).shadow == text(shadow)
    assert store.get(inst["rid"], PUBLIC).text == text(shadow)
    assert store.last_seq() == seq


def test_shadows_are_invisible_to_lists_search_counts_and_the_graph(store, rec):
    inst = rec.institution("Shadowed University", visibility="public")
    tech = rec.technology("Shadowed dryer", owner=inst["rid"])
    store.apply([inst, tech])
    new_inst, inst_shadow = narrowed(rec, inst, "private")
    new_tech, tech_shadow = narrowed(rec, tech, "alliance")
    store.apply([prepare(new_inst, shadow=inst_shadow), prepare(new_tech, shadow=tech_shadow)])

    assert store.list(RecordQuery(scope=PUBLIC)).items == []
    assert store.list(RecordQuery(scope=PUBLIC, include_deleted=True)).items == []
    assert store.search("shadowed", RecordQuery(scope=PUBLIC)).items == []
    assert store.search("shadowed", RecordQuery(scope=PUBLIC, include_deleted=True)).items == []
    assert store.counts(PUBLIC) == dict.fromkeys(store.counts(PUBLIC), 0)
    with pytest.raises(errors.NotFound):
        store.neighbours(inst["rid"], scope=PUBLIC)
    assert [r.rid for r in store.list(RecordQuery(scope=ALLIANCE)).items] == [tech["rid"]]
    assert store.counts(ALLIANCE)["institution"] == 0
    assert store.counts(LOCAL)["institution"] == 1
    # the public feed does carry both, as tombstones
    assert {r.rid: r.envelope["deleted"] for r in store.changes(0, scope=PUBLIC)} == {
        inst["rid"]: True, tech["rid"]: True}


def test_a_prepared_record_has_no_shadow_unless_given(rec):
    inst = rec.institution()
    assert Prepared._fields[-3:] == ("shadow", "facts", "starts_on")
    assert prepare(inst).shadow is None
    new, shadow = narrowed(rec, inst, "alliance")
    p = prepare(new, shadow=shadow)
    assert p.shadow == ("public", content_hash(shadow), text(shadow))
    assert p.hash == content_hash(new)
    # a Prepared of the old shape (no shadow, facts or first day given) still builds
    old = Prepared(*prepare(inst)[:-3])
    assert old.shadow is None and old.facts is None and old.starts_on is None


@pytest.mark.parametrize("change, message", [
    (lambda s, r: ["not", "an", "envelope"], "envelope"),
    (lambda s, r: dict(s, rid=r.rid("institution")), "rid"),
    (lambda s, r: dict(s, version=s["version"] + 1), "version"),
    (lambda s, r: dict(s, version=True), "version"),
    (lambda s, r: dict(s, deleted=False), "tombstone"),
    (lambda s, r: dict(s, body={"name": {"en": "X"}}), "tombstone"),
    (lambda s, r: dict(s, visibility="alliance"), "wider"),
    (lambda s, r: dict(s, visibility="private"), "wider"),
    (lambda s, r: dict(s, visibility="secret"), "wider"),
    (lambda s, r: dict(s, extra=1), "whole envelope"),
    (lambda s, r: {k: v for k, v in s.items() if k != "sigs"}, "whole envelope"),
])
def test_a_shadow_that_does_not_fit_is_refused(rec, change, message):
    inst = rec.institution()
    new, shadow = narrowed(rec, inst, "alliance")
    with pytest.raises(ValueError, match=message):
        prepare(new, shadow=change(shadow, rec))


def test_a_stored_record_keeps_its_old_constructor():
    r = StoredRecord({"rid": "x"}, 3, "sha256:00")
    assert r.shadow is None
    assert StoredRecord(None, 3, "h", text="{}", shadow="{}").shadow == "{}"
    assert StoredRecord(None, 3, "h", text="{}") != StoredRecord(None, 3, "h", text="{}", shadow="{}")


def test_a_store_copy_keeps_shadows(store, rec, tmp_path):
    from jembatan.graph.sqlite import SqliteStore

    src = SqliteStore(str(tmp_path / "source.db"))
    try:
        inst = rec.institution()
        plain = rec.institution("Plain")
        src.apply([inst, plain])
        new, shadow = narrowed(rec, inst, "private")
        src.apply([prepare(new, shadow=shadow)])
        report = copy_store(src, store)
        assert report.equal
        assert store.get(inst["rid"], PUBLIC).text == text(shadow)
        assert store.get(inst["rid"]).shadow == text(shadow)
        assert store.get(plain["rid"]).shadow is None
        # the digest covers shadows: the same records without the shadow do not match
        bare = SqliteStore(str(tmp_path / "bare.db"))
        try:
            bare.apply([inst, plain])
            bare.apply([new])
            assert [r.hash for r in bare.iter_all()] == [r.hash for r in src.iter_all()]
            assert store_digest(bare) != store_digest(src)
        finally:
            bare.close()
    finally:
        src.close()


# -- quarantine ------------------------------------------------------------------------------

def entry(reason: str = "signature", n: int = 0, **kw) -> Quarantined:
    return Quarantined(**{"peer": PEER, "reason": reason, "detail": f"Bad record {n}.",
                          "text": json.dumps({"n": n}), "rid": None, **kw})


def test_quarantine_is_written_with_the_checkpoint(store, rec):
    assert store.quarantined() == [] and store.quarantine_counts() == {}
    inst = rec.institution()
    bad = entry("signature", 1, rid=rec.rid("institution"))
    outcomes = store.apply([inst], checkpoint=(PEER, "c1"), quarantine=[bad])
    assert [o.status for o in outcomes] == [CREATED]
    assert store.get_checkpoint(PEER) == "c1"
    [got] = store.quarantined()
    assert (got.peer, got.rid, got.reason, got.detail, got.text) == (
        PEER, bad.rid, "signature", "Bad record 1.", bad.text)
    assert isinstance(got.id, int) and got.at_ms > 1_700_000_000_000
    assert store.quarantine_counts() == {"signature": 1}
    # without records or checkpoint, the quarantine alone
    store.apply([], quarantine=[entry("namespace", 2)])
    assert store.quarantine_counts() == {"signature": 1, "namespace": 1}


def test_a_failed_batch_writes_no_quarantine(store, rec):
    inst = rec.institution()
    store.apply([inst], checkpoint=(PEER, "c1"))

    def failing():
        yield rec.update(inst, city="Nanning")
        raise RuntimeError("the source broke")

    with pytest.raises(RuntimeError):
        store.apply(failing(), checkpoint=(PEER, "c2"), quarantine=[entry()])
    assert store.quarantined() == [] and store.get_checkpoint(PEER) == "c1"

    equivocating = rec.update(inst, version=1, city="Liuzhou")
    with pytest.raises(BatchRejected):
        store.apply([rec.institution("New"), equivocating], all_or_nothing=True,
                    checkpoint=(PEER, "c3"), quarantine=[entry()])
    assert store.quarantined() == [] and store.quarantine_counts() == {}
    assert store.get_checkpoint(PEER) == "c1"


def test_rejected_records_of_a_peer_batch_are_quarantined(store, rec):
    inst = rec.institution()
    store.apply([inst])
    equivocating = rec.update(inst, version=1, city="Liuzhou")
    invalid = dict(rec.institution(), body={"name": {"en": "X"}, "kind": "university",
                                            "country": "XX"})
    good = rec.institution("Good")
    outcomes = store.apply([good, equivocating, invalid, inst], checkpoint=(PEER, "c1"))
    assert [o.status for o in outcomes] == [CREATED, REJECTED, REJECTED, UNCHANGED]
    assert store.get_checkpoint(PEER) == "c1"
    newest, oldest = store.quarantined()
    assert (oldest.peer, oldest.rid, oldest.reason) == (PEER, inst["rid"], "equivocation")
    assert oldest.text == text(equivocating)
    assert content_hash(equivocating) in oldest.detail and oldest.detail.endswith(".")
    assert (newest.peer, newest.rid, newest.reason) == (PEER, invalid["rid"], "invalid")
    assert "body.country" in newest.detail
    assert json.loads(newest.text) == invalid
    assert store.quarantine_counts() == {"equivocation": 1, "invalid": 1}
    assert store.get(inst["rid"]).envelope == inst          # the first copy stays

    # a local batch (no checkpoint) quarantines nothing by itself
    [o] = store.apply([equivocating])
    assert o.status == REJECTED
    assert len(store.quarantined()) == 2


def test_a_rejected_item_that_is_no_record_is_quarantined_as_sent(store, rec):
    store.apply([["not", "a", "record"]], checkpoint=(PEER, "c1"))
    [got] = store.quarantined()
    assert (got.rid, got.reason, json.loads(got.text)) == (None, "invalid", ["not", "a", "record"])


def test_quarantine_listing_order_and_filters(store, rec):
    store.apply([], quarantine=[entry("signature", 1), entry("namespace", 2)])
    store.apply([], quarantine=[entry("signature", 3), entry("signature", 4),
                                entry("namespace", 5)])
    everything = store.quarantined()
    assert [json.loads(e.text)["n"] for e in everything] == [5, 4, 3, 2, 1]
    ids = [e.id for e in everything]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 5
    assert everything[0].at_ms >= everything[-1].at_ms
    assert [json.loads(e.text)["n"] for e in store.quarantined(limit=2)] == [5, 4]
    assert [json.loads(e.text)["n"] for e in store.quarantined(before=ids[1])] == [3, 2, 1]
    assert [json.loads(e.text)["n"] for e in store.quarantined(limit=1, before=ids[2])] == [2]
    assert [json.loads(e.text)["n"] for e in store.quarantined(reason="signature")] == [4, 3, 1]
    assert [json.loads(e.text)["n"] for e in store.quarantined(reason="namespace", before=ids[0])] == [2]
    assert store.quarantined(reason="unknown") == []
    assert store.quarantine_counts() == {"signature": 3, "namespace": 2}


def test_the_quarantine_is_bounded(store, rec):
    assert QUARANTINE_MAX == 100_000 and store.quarantine_limit == QUARANTINE_MAX
    store.quarantine_limit = 3
    store.apply([], quarantine=[entry("signature", n) for n in range(5)])
    assert [json.loads(e.text)["n"] for e in store.quarantined()] == [4, 3, 2]
    store.apply([], quarantine=[entry("namespace", 5)])
    kept = store.quarantined()
    assert [json.loads(e.text)["n"] for e in kept] == [5, 4, 3]
    assert store.quarantine_counts() == {"signature": 2, "namespace": 1}
    # ids keep growing: an old "before" still means "older than that entry"
    assert kept[0].id > kept[1].id and store.quarantined(before=kept[0].id) == kept[1:]


@pytest.mark.parametrize("items, field", [
    (["not an entry"], "quarantine[0]"),
    ([entry(), Quarantined(peer="", reason="x", detail="", text="")], "quarantine[1].peer"),
    ([Quarantined(peer="p", reason="", detail="", text="")], "quarantine[0].reason"),
    ([Quarantined(peer="p", reason="x", detail=None, text="")], "quarantine[0].detail"),
    ([Quarantined(peer="p", reason="x", detail="", text=b"x")], "quarantine[0].text"),
    ([Quarantined(peer="p", reason="x", detail="", text="", rid=5)], "quarantine[0].rid"),
    ("signature", "quarantine"),
])
def test_bad_quarantine_entries_change_nothing(store, rec, items, field):
    inst = rec.institution()
    with pytest.raises(errors.ValidationError) as exc:
        store.apply([inst], checkpoint=(PEER, "c1"), quarantine=items)
    assert exc.value.errors[0]["field"] == field
    assert store.get(inst["rid"]) is None and store.get_checkpoint(PEER) is None
    assert store.quarantined() == []


@pytest.mark.parametrize("kwargs, field", [
    ({"limit": 0}, "limit"), ({"limit": 10_001}, "limit"), ({"limit": True}, "limit"),
    ({"before": 0}, "before"), ({"before": "5"}, "before"),
    ({"reason": ""}, "reason"), ({"reason": 3}, "reason"),
])
def test_bad_quarantine_listings_are_refused(store, kwargs, field):
    with pytest.raises(errors.ValidationError) as exc:
        store.quarantined(**kwargs)
    assert exc.value.errors[0]["field"] == field


# -- epoch -----------------------------------------------------------------------------------

def test_the_epoch_is_stable_until_replaced(opener, rec):
    first = opener()
    try:
        epoch = first.epoch()
        assert re.fullmatch(r"[0-9a-f]{32}", epoch)
        first.apply([rec.institution()])
        assert first.epoch() == epoch
    finally:
        first.close()
    second = opener()
    try:
        assert second.epoch() == epoch
        renewed = second.new_epoch()
        assert re.fullmatch(r"[0-9a-f]{32}", renewed) and renewed != epoch
        assert second.epoch() == renewed
        assert second.last_seq() == 1                      # the records stay
    finally:
        second.close()
    third = opener()
    try:
        assert third.epoch() == renewed
    finally:
        third.close()


def test_each_sqlite_store_has_its_own_epoch(tmp_path):
    from jembatan.graph.sqlite import SqliteStore

    a, b = SqliteStore(str(tmp_path / "a.db")), SqliteStore(str(tmp_path / "b.db"))
    try:
        assert a.epoch() != b.epoch()
    finally:
        a.close()
        b.close()


# -- a store made by the previous schema version ---------------------------------------------

def test_a_version_1_sqlite_file_gains_shadows_quarantine_epoch_tallies_and_days(tmp_path, rec):
    from jembatan.graph.sqlite import SqliteStore

    path = str(tmp_path / "old.db")
    inst = rec.institution()
    event = rec.event(organisers=[inst["rid"]])
    s = SqliteStore(path)
    s.apply([inst, event])
    s.close()
    conn = sqlite3.connect(path)          # back to the version 1 layout
    conn.execute("DROP INDEX records_starts_on")
    for column in ("shadow_vis", "shadow_hash", "shadow", "starts_on"):
        conn.execute(f"ALTER TABLE records DROP COLUMN {column}")
    conn.execute("DROP TABLE quarantine")
    conn.execute("DROP TABLE tallies")
    conn.execute("DELETE FROM meta WHERE key IN ('epoch', 'tallies')")
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()

    s = SqliteStore(path)
    try:
        assert s.get(inst["rid"]).envelope == inst and s.get(inst["rid"]).shadow is None
        assert [r.rid for r in s.events("2024-09-01", "2024-09-30")] == [event["rid"]]
        assert s.tally("member", PUBLIC, group=("c1", "k1")) == [("CN", "university", 1, 0)]
        assert re.fullmatch(r"[0-9a-f]{32}", s.epoch())
        new, shadow = narrowed(rec, inst, "alliance")
        s.apply([prepare(new, shadow=shadow)], quarantine=[entry()])
        assert s.get(inst["rid"], PUBLIC).text == text(shadow)
        assert s.quarantine_counts() == {"signature": 1}
    finally:
        s.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "4"
    conn.close()


def test_a_version_1_neo4j_database_gains_quarantine_epoch_tallies_and_days(neo4j_url, neo4j_admin,
                                                                          rec):
    from jembatan.graph.neo4j import Neo4jStore

    inst = rec.institution()
    event = rec.event(organisers=[inst["rid"]])
    s = Neo4jStore.from_url(neo4j_url)
    s.apply([inst, event])
    s.close()
    neo4j_admin.execute_query("MATCH (m:StoreMeta) SET m.schema_version = 1"
                              " REMOVE m.epoch, m.quarantine_seq, m.tallies", database_="neo4j")
    neo4j_admin.execute_query("MATCH (r:Event) REMOVE r.starts_on", database_="neo4j")
    neo4j_admin.execute_query("DROP INDEX event_starts_on", database_="neo4j")
    neo4j_admin.execute_query("MATCH (t:Tally) DELETE t", database_="neo4j")
    for name in ("quarantine_id", "tally_key"):
        neo4j_admin.execute_query(f"DROP CONSTRAINT {name}", database_="neo4j")
    s = Neo4jStore.from_url(neo4j_url)
    try:
        assert re.fullmatch(r"[0-9a-f]{32}", s.epoch())
        assert s.tally("member", PUBLIC, group=("c1", "k1")) == [("CN", "university", 1, 0)]
        assert [r.rid for r in s.events("2024-09-01", "2024-09-30")] == [event["rid"]]
        new, shadow = narrowed(rec, inst, "alliance")
        s.apply([prepare(new, shadow=shadow)], quarantine=[entry(), entry()])
        assert [e.id for e in s.quarantined()] == [2, 1]
        assert s.get(inst["rid"], PUBLIC).text == text(shadow)
    finally:
        s.close()
    meta = neo4j_admin.execute_query("MATCH (m:StoreMeta) RETURN m.schema_version AS v",
                                     database_="neo4j").records[0]
    names = {r["name"] for r in neo4j_admin.execute_query("SHOW CONSTRAINTS YIELD name",
                                                          database_="neo4j").records}
    assert meta["v"] == 4 and {"quarantine_id", "tally_key"} <= names
