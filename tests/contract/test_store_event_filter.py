"""list and search with ``event``: the agreements signed at an event, on every backend."""
import dataclasses

import pytest

from jembatan.graph.store import LOCAL, PUBLIC, RecordQuery
from jembatan.network import errors


def rids(page):
    return [r.rid for r in page.items]


def q(**kw):
    kw.setdefault("scope", LOCAL)
    kw.setdefault("limit", 500)
    return RecordQuery(**kw)


@pytest.fixture
def fair(store, rec):
    """Two events; seven agreements at the first (one private, one later moved away, one
    deleted), two at the second, one at none."""
    cn = rec.institution("Guangxi University", country="CN")
    th = rec.institution("Chiang Mai University", country="TH")
    vn = rec.institution("Hanoi Institute", country="VN")
    expo = rec.event("Nanning Expo", participants=[cn["rid"], th["rid"]])
    forum = rec.event("Bangkok Forum", country="TH")
    at_expo = [rec.agreement(provider=cn["rid"], recipient=th["rid"], event=expo["rid"],
                             fields=["new_energy"]) for _ in range(4)]
    at_expo.append(rec.agreement(provider=cn["rid"], recipient=vn["rid"], event=expo["rid"],
                                 fields=["ict"]))
    private = rec.agreement(provider=th["rid"], recipient=vn["rid"], event=expo["rid"],
                            visibility="private")
    moved = rec.agreement(provider=th["rid"], recipient=cn["rid"], event=expo["rid"])
    gone = rec.agreement(provider=vn["rid"], recipient=cn["rid"], event=expo["rid"])
    at_forum = [rec.agreement(provider=th["rid"], recipient=vn["rid"], event=forum["rid"])
                for _ in range(2)]
    nowhere = rec.agreement(provider=cn["rid"], recipient=vn["rid"])
    store.apply([cn, th, vn, expo, forum, *at_expo, private, moved, gone, *at_forum, nowhere])
    store.apply([rec.update(moved, event=forum["rid"]), rec.tombstone(gone)])
    return dict(cn=cn, th=th, vn=vn, expo=expo, forum=forum, at_expo=at_expo, private=private,
                moved=moved, gone=gone, at_forum=at_forum, nowhere=nowhere)


def test_the_agreements_signed_at_an_event_newest_first(store, fair):
    page = store.list(q(kinds=("agreement",), event=fair["expo"]["rid"]))
    expected = [a["rid"] for a in reversed(fair["at_expo"] + [fair["private"]])]
    assert rids(page) == expected
    assert page.next_cursor is None
    forum = store.list(q(kinds=("agreement",), event=fair["forum"]["rid"]))
    # the moved agreement changed last: newest first
    assert rids(forum) == [fair["moved"]["rid"], *(a["rid"] for a in reversed(fair["at_forum"]))]


def test_the_scope_hides_private_agreements(store, fair):
    page = store.list(q(kinds=("agreement",), event=fair["expo"]["rid"], scope=PUBLIC))
    assert fair["private"]["rid"] not in rids(page)
    assert len(page.items) == 5


def test_only_agreements_match_whatever_the_kinds(store, fair):
    everything = store.list(q(event=fair["expo"]["rid"]))
    assert {r.envelope["kind"] for r in everything.items} == {"agreement"}
    assert len(everything.items) == 6
    assert store.list(q(kinds=("institution", "event"), event=fair["expo"]["rid"])).items == []


def test_an_event_combines_with_other_filters(store, fair):
    expo = fair["expo"]["rid"]
    ict = store.list(q(kinds=("agreement",), event=expo, field="ict"))
    assert rids(ict) == [fair["at_expo"][4]["rid"]]
    with_vn = store.list(q(kinds=("agreement",), event=expo, party=fair["vn"]["rid"]))
    assert set(rids(with_vn)) == {fair["at_expo"][4]["rid"], fair["private"]["rid"]}
    in_vn = store.list(q(kinds=("agreement",), event=expo, country="VN", scope=PUBLIC))
    assert rids(in_vn) == [fair["at_expo"][4]["rid"]]


def test_tombstones_and_unknown_events_list_nothing(store, fair, rec):
    deleted = store.list(q(kinds=("agreement",), event=fair["expo"]["rid"], include_deleted=True))
    assert fair["gone"]["rid"] not in rids(deleted)   # a tombstone names no event
    unknown = rec.rid("event")
    assert store.list(q(kinds=("agreement",), event=unknown)).items == []


@pytest.mark.parametrize("limit", [1, 2, 4])
def test_pages_walk_every_agreement_once(store, fair, limit):
    query = q(kinds=("agreement",), event=fair["expo"]["rid"], limit=limit)
    seen, cursor = [], None
    for _ in range(20):
        page = store.list(dataclasses.replace(query, cursor=cursor))
        assert len(page.items) <= limit
        seen += rids(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == rids(store.list(dataclasses.replace(query, limit=500)))
    assert len(seen) == 6


def test_a_cursor_is_bound_to_its_event(store, fair):
    first = store.list(q(kinds=("agreement",), event=fair["expo"]["rid"], limit=2))
    assert first.next_cursor
    with pytest.raises(errors.BadRequest):
        store.list(q(kinds=("agreement",), event=fair["forum"]["rid"], limit=2,
                     cursor=first.next_cursor))
    with pytest.raises(errors.BadRequest):
        store.list(q(kinds=("agreement",), limit=2, cursor=first.next_cursor))


def test_pages_stay_correct_while_agreements_change(store, fair, rec):
    expo = fair["expo"]["rid"]
    first = store.list(q(kinds=("agreement",), event=expo, limit=3))
    # a change moves an agreement of the first page to the head; a new one arrives
    store.apply([rec.update(fair["at_expo"][4], registration_no="R-1"),
                 rec.agreement(provider=fair["cn"]["rid"], recipient=fair["th"]["rid"],
                               event=expo)])
    rest = store.list(q(kinds=("agreement",), event=expo, limit=500, cursor=first.next_cursor))
    older = {a["rid"] for a in fair["at_expo"][:3]}
    assert set(rids(rest)) == older
    assert not set(rids(rest)) & set(rids(first))


def test_search_honours_the_event(store, fair, rec):
    titled = rec.agreement(provider=fair["cn"]["rid"], recipient=fair["th"]["rid"],
                           event=fair["expo"]["rid"], title={"en": "Solar pump licence"})
    elsewhere = rec.agreement(provider=fair["cn"]["rid"], recipient=fair["th"]["rid"],
                              event=fair["forum"]["rid"], title={"en": "Solar pump licence"})
    store.apply([titled, elsewhere])
    found = store.search("solar pump", q(kinds=("agreement",), event=fair["expo"]["rid"]))
    assert rids(found) == [titled["rid"]]


@pytest.mark.parametrize("event", ["urn:jembatan:node-a:institution:0190a5b0-0000-7000-8000-000000000001",
                                   "not a rid", ""])
def test_a_bad_event_is_named(store, event):
    with pytest.raises(errors.ValidationError) as exc:
        store.list(q(kinds=("agreement",), event=event))
    assert exc.value.errors[0]["field"] == "event"
