"""apply: outcomes, atomicity, the change sequence, checkpoints, durability across reopen."""
import json
import threading

import pytest

from jembatan.graph.store import (CREATED, LOCAL, REJECTED, STALE, UNCHANGED, UPDATED,
                                  BatchRejected, RecordQuery)
from jembatan.network.envelope import canonical_bytes, content_hash


def test_every_outcome(store, rec):
    inst = rec.institution()
    [o] = store.apply([inst])
    assert (o.rid, o.status, o.version, o.seq) == (inst["rid"], CREATED, 1, 1)

    v2 = rec.update(inst, city="Nanning")
    [o] = store.apply([v2])
    assert (o.status, o.version, o.seq) == (UPDATED, 2, 2)

    [o] = store.apply([v2])
    assert (o.status, o.version, o.seq) == (UNCHANGED, 2, None)

    [o] = store.apply([inst])
    assert (o.status, o.version, o.seq) == (STALE, 2, None)
    assert o.reason

    other = rec.update(inst, version=2, city="Liuzhou")
    [o] = store.apply([other])
    assert o.status == REJECTED
    assert o.reason == "equivocation: same version, different content"
    assert store.get(inst["rid"]).envelope["body"]["city"] == "Nanning"  # the first copy stays
    assert store.last_seq() == 2


def test_unchanged_ignores_signatures(store, rec):
    inst = rec.institution()
    store.apply([inst])
    resigned = dict(inst, sigs=[{"signer": "node-a", "kid": "k2", "alg": "ed25519", "sig": "xyz"}])
    [o] = store.apply([resigned])
    assert o.status == UNCHANGED
    assert store.get(inst["rid"]).envelope["sigs"] == []


def test_tombstone_is_an_update(store, rec):
    inst = rec.institution()
    store.apply([inst])
    [o] = store.apply([rec.tombstone(inst)])
    assert (o.status, o.version) == (UPDATED, 2)
    got = store.get(inst["rid"])
    assert got.envelope["deleted"] is True and got.envelope["body"] is None
    # an older live copy arriving late does not resurrect it
    [o] = store.apply([inst])
    assert o.status == STALE


def test_stored_bytes_are_canonical(store, rec):
    inst = rec.institution(names={"zh-Hans": "广西大学", "en": "Guangxi University"})
    inst["sigs"] = [{"signer": "node-a", "kid": "k1", "alg": "ed25519", "sig": "c2ln"}]
    store.apply([inst], trusted=True)
    got = store.get(inst["rid"])
    assert canonical_bytes(got.envelope) == canonical_bytes(inst)
    assert got.hash == content_hash(inst)
    assert got.seq == 1


def test_untrusted_envelopes_are_validated(store, rec):
    good = rec.institution()
    bad = dict(rec.institution(), body={"name": {"en": "X"}, "kind": "university", "country": "XX"})
    not_a_record = ["not", "an", "object"]
    outcomes = store.apply([good, bad, not_a_record])
    assert [o.status for o in outcomes] == [CREATED, REJECTED, REJECTED]
    assert outcomes[1].rid == bad["rid"]
    assert "body.country" in outcomes[1].reason
    assert outcomes[2].rid == ""
    assert store.get(bad["rid"]) is None
    assert store.get(good["rid"]) is not None


def test_all_or_nothing_rolls_back(store, rec):
    first = rec.institution()
    store.apply([first])
    before = store.last_seq()
    good = rec.institution("Other")
    bad = dict(rec.institution(), version=0)
    with pytest.raises(BatchRejected) as exc:
        store.apply([good, rec.update(first, city="Nanning"), bad], all_or_nothing=True)
    statuses = [o.status for o in exc.value.outcomes]
    assert statuses == [CREATED, UPDATED, REJECTED]
    assert all(o.seq is None for o in exc.value.outcomes)
    assert store.get(good["rid"]) is None
    assert "city" not in store.get(first["rid"]).envelope["body"]
    assert store.last_seq() == before
    # the next successful batch continues the sequence without a gap
    [o] = store.apply([good])
    assert o.seq == before + 1


def test_all_or_nothing_with_equivocation(store, rec):
    inst = rec.institution()
    store.apply([inst])
    with pytest.raises(BatchRejected):
        store.apply([rec.institution("New"), rec.update(inst, version=1, city="X")],
                    all_or_nothing=True)
    assert store.counts()["institution"] == 1


def test_a_stream_of_many_records(store, rec):
    owner = rec.institution()
    store.apply([owner])
    n = 2500  # several internal chunks

    def stream():
        for i in range(n):
            yield rec.technology(f"Technology number {i}", owner=owner["rid"])

    outcomes = store.apply(stream(), trusted=True)
    assert len(outcomes) == n
    assert {o.status for o in outcomes} == {CREATED}
    seqs = [o.seq for o in outcomes]
    assert seqs == list(range(2, n + 2))
    assert store.counts()["technology"] == n
    assert store.last_seq() == n + 1


def test_same_rid_twice_in_one_batch(store, rec):
    inst = rec.institution()
    v2 = rec.update(inst, city="Nanning")
    outcomes = store.apply([inst, v2, inst, v2])
    assert [o.status for o in outcomes] == [CREATED, UPDATED, STALE, UNCHANGED]
    got = store.get(inst["rid"])
    assert got.version == 2 and got.seq == outcomes[1].seq
    # the record appears once in the feed, at its latest seq
    assert [c.rid for c in store.changes(0)] == [inst["rid"]]


def test_a_crash_mid_batch_changes_nothing(store, rec):
    inst = rec.institution()
    store.apply([inst], checkpoint=("peer-b", "c1"))
    before = (store.last_seq(), store.counts(), store.get_checkpoint("peer-b"))

    def failing():
        yield rec.update(inst, city="Nanning")
        for i in range(1500):
            yield rec.institution(f"Inst {i}")
        raise RuntimeError("the source broke")

    with pytest.raises(RuntimeError):
        store.apply(failing(), checkpoint=("peer-b", "c2"))
    assert (store.last_seq(), store.counts(), store.get_checkpoint("peer-b")) == before
    assert store.get(inst["rid"]).version == 1
    assert store.list(RecordQuery(scope=LOCAL, limit=500)).items[0].rid == inst["rid"]
    assert store.search("Inst", RecordQuery(scope=LOCAL)).items == []


def test_checkpoint_is_saved_with_the_batch(store, rec):
    assert store.get_checkpoint("peer-b") is None
    store.apply([rec.institution()], checkpoint=("peer-b", "cursor-1"))
    assert store.get_checkpoint("peer-b") == "cursor-1"
    store.apply([], checkpoint=("peer-b", "cursor-2"))
    assert store.get_checkpoint("peer-b") == "cursor-2"
    with pytest.raises(BatchRejected):
        store.apply([dict(rec.institution(), version=0)], all_or_nothing=True,
                    checkpoint=("peer-b", "cursor-3"))
    assert store.get_checkpoint("peer-b") == "cursor-2"
    assert store.get_checkpoint("peer-c") is None


def test_reopen_keeps_everything(opener, rec):
    first = opener()
    inst = rec.institution(names={"zh-Hans": "广西大学", "en": "Guangxi University"})
    tech = rec.technology({"zh-Hans": "高能量密度锂电池"}, owner=inst["rid"])
    first.apply([inst, tech], checkpoint=("peer-b", "c9"))
    page = first.list(RecordQuery(limit=1))
    first.close()

    again = opener()
    try:
        assert again.get(tech["rid"]).envelope == tech
        assert again.last_seq() == 2
        assert again.get_checkpoint("peer-b") == "c9"
        assert [r.rid for r in again.search("电池", RecordQuery()).items] == [tech["rid"]]
        assert again.counts()["technology"] == 1
        # cursors issued before the reopen still work
        nxt = again.list(RecordQuery(limit=1, cursor=page.next_cursor))
        assert [r.rid for r in nxt.items] == [inst["rid"]]
        assert {n.id for n in again.neighbours(tech["rid"]).nodes} >= {inst["rid"], tech["rid"]}
        [o] = again.apply([rec.update(inst, city="Nanning")])
        assert o.seq == 3
    finally:
        again.close()


def test_get_returns_what_was_applied(store, rec):
    inst = rec.institution(city="Nanning", identifiers={"ror": "02c9qn167"})
    store.apply([inst])
    got = store.get(inst["rid"])
    assert got.envelope == inst
    assert json.loads(canonical_bytes(got.envelope)) == inst
    assert store.get("urn:jembatan:node-a:institution:0190f000-0000-7000-8000-000000000000") is None
    assert store.get("not a rid") is None



@pytest.mark.parametrize("bad", [("peer-b",), ("peer-b", 3), "peer-b", ("a", "b", "c")])
def test_a_bad_checkpoint_is_refused_before_anything_is_written(store, rec, bad):
    from jembatan.network import errors

    with pytest.raises(errors.ValidationError):
        store.apply([rec.institution()], checkpoint=bad)
    assert store.last_seq() == 0


def test_threads_share_a_store(store, rec):
    owner = rec.institution()
    store.apply([owner])
    failures = []

    def work(n):
        try:
            for i in range(10):
                store.apply([rec.technology(f"T{n}-{i}", owner=owner["rid"])])
                store.list(RecordQuery(limit=5))
        except Exception as exc:   # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert store.counts()["technology"] == 40
    assert [c.seq for c in store.changes(0)] == list(range(1, 42))   # no gap, no duplicate
