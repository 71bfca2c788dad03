"""The changes feed, counts, iter_all and visibility scopes on every read."""
import pytest

from jembatan.graph.store import ALLIANCE, LOCAL, PUBLIC, RecordQuery
from jembatan.network import errors


def test_feed_lists_each_record_once_at_its_latest_seq(store, rec):
    a, b, c = rec.institution("A"), rec.institution("B"), rec.institution("C")
    store.apply([a, b, c])                              # seq 1, 2, 3
    store.apply([rec.update(a, city="Nanning")])        # seq 4
    store.apply([rec.tombstone(b)])                     # seq 5
    feed = store.changes(0)
    assert [(r.rid, r.seq) for r in feed] == [(c["rid"], 3), (a["rid"], 4), (b["rid"], 5)]
    assert feed[2].envelope["deleted"] is True
    assert [r.rid for r in store.changes(3)] == [a["rid"], b["rid"]]
    assert [r.rid for r in store.changes(0, limit=1)] == [c["rid"]]
    assert store.changes(5) == []
    assert store.last_seq() == 5


def test_seq_strictly_increases_across_batches(store, rec):
    seqs = []
    for _ in range(5):
        seqs += [o.seq for o in store.apply([rec.institution(), rec.institution()])]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert [r.seq for r in store.changes(0)] == seqs


def test_feed_respects_scope(store, rec):
    pub = rec.institution("Public")
    ally = rec.institution("Alliance", visibility="alliance")
    priv = rec.institution("Private", visibility="private")
    store.apply([pub, ally, priv])
    assert [r.rid for r in store.changes(0, scope=PUBLIC)] == [pub["rid"]]
    assert [r.rid for r in store.changes(0, scope=ALLIANCE)] == [pub["rid"], ally["rid"]]
    assert len(store.changes(0, scope=LOCAL)) == 3
    assert [r.rid for r in store.iter_all(PUBLIC)] == [pub["rid"]]


def test_narrowed_visibility_leaves_the_public_feed(store, rec):
    inst = rec.institution()
    store.apply([inst])
    store.apply([rec.update(inst, visibility="private")])
    assert store.changes(0, scope=PUBLIC) == []
    assert store.get(inst["rid"], PUBLIC) is None
    assert store.counts(PUBLIC)["institution"] == 0
    assert store.counts(LOCAL)["institution"] == 1


def test_scope_hides_records_everywhere(store, rec):
    priv = rec.institution("Secret Lab", visibility="private")
    ally = rec.institution("Alliance Lab", visibility="alliance")
    tech = rec.technology("Secret dryer", owner=priv["rid"], visibility="private")
    store.apply([priv, ally, tech])
    for scope in (PUBLIC,):
        assert store.get(priv["rid"], scope) is None
        assert store.get(ally["rid"], scope) is None
        assert store.list(RecordQuery(scope=scope)).items == []
        assert store.search("secret", RecordQuery(scope=scope)).items == []
        assert store.search("lab", RecordQuery(scope=scope)).items == []
        assert store.changes(0, scope=scope) == []
        assert store.counts(scope) == dict.fromkeys(store.counts(scope), 0)
        with pytest.raises(errors.NotFound):
            store.neighbours(tech["rid"], scope=scope)
        with pytest.raises(errors.NotFound):
            store.neighbours(priv["rid"], scope=scope)
    assert store.get(ally["rid"], ALLIANCE) is not None
    assert store.get(priv["rid"], ALLIANCE) is None
    assert [r.rid for r in store.search("lab", RecordQuery(scope=ALLIANCE)).items] == [ally["rid"]]
    assert store.get(priv["rid"], LOCAL) is not None
    assert store.list(RecordQuery(scope=PUBLIC, visibility="private")).items == []
    assert len(store.list(RecordQuery(scope=LOCAL, visibility="private")).items) == 2


def test_tombstones_in_get_and_feed_but_not_in_lists(store, rec):
    inst = rec.institution("Gone Institute")
    keep = rec.institution("Kept Institute")
    store.apply([inst, keep])
    store.apply([rec.tombstone(inst)])
    assert store.get(inst["rid"]).envelope["deleted"] is True
    assert store.get(inst["rid"], PUBLIC).envelope["deleted"] is True
    assert [r.rid for r in store.list(RecordQuery()).items] == [keep["rid"]]
    assert [r.rid for r in store.list(RecordQuery(include_deleted=True)).items] == [inst["rid"], keep["rid"]]
    assert [r.rid for r in store.search("institute", RecordQuery()).items] == [keep["rid"]]
    assert store.search("gone", RecordQuery(include_deleted=True)).items == []  # no text left
    assert store.counts()["institution"] == 1
    assert inst["rid"] in [r.rid for r in store.changes(0)]
    assert [r.rid for r in store.iter_all()] == [keep["rid"], inst["rid"]]


def test_a_private_tombstone_stays_private(store, rec):
    inst = rec.institution()
    store.apply([inst])
    store.apply([rec.tombstone(inst, visibility="private")])
    assert store.get(inst["rid"], PUBLIC) is None
    assert store.changes(0, scope=PUBLIC) == []


def test_counts_per_kind(store, rec):
    owner = rec.institution()
    t1 = rec.technology(owner=owner["rid"])
    t2 = rec.technology(owner=owner["rid"], visibility="alliance")
    store.apply([owner, t1, t2, rec.demand(requester=owner["rid"])])
    assert store.counts() == {"institution": 1, "technology": 2, "demand": 1, "agreement": 0,
                              "endorsement": 0, "event": 0}
    assert store.counts(PUBLIC)["technology"] == 1
    store.apply([rec.tombstone(t1), rec.update(t2, visibility="public")])
    assert store.counts(PUBLIC)["technology"] == 1
    assert store.counts()["technology"] == 1


def test_iter_all_streams_every_record_in_seq_order(store, rec):
    owner = rec.institution()
    store.apply([owner])
    store.apply((rec.technology(f"T{i}", owner=owner["rid"]) for i in range(1200)), trusted=True)
    seqs = [r.seq for r in store.iter_all()]
    assert len(seqs) == 1201 and seqs == sorted(seqs)


@pytest.mark.parametrize("call", [
    lambda s: s.changes(-1),
    lambda s: s.changes(0, limit=0),
    lambda s: s.changes(0, scope=frozenset({"secret"})),
    lambda s: s.get("x", frozenset()),
])
def test_bad_read_arguments_are_refused(store, call):
    with pytest.raises(errors.ValidationError):
        call(store)
