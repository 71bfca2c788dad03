"""list: every filter, newest-first order, keyset pagination and cursor integrity."""
import dataclasses

import pytest

from jembatan.graph.store import LOCAL, PUBLIC, RecordQuery
from jembatan.network import errors


def rids(page):
    return [r.rid for r in page.items]


@pytest.fixture
def world(store, rec):
    """Two institutions in CN and TH, and one record of every kind around them."""
    cn = rec.institution("Guangxi University", country="CN")
    th = rec.institution("Chiang Mai University", country="TH")
    vn = rec.institution("Hanoi Institute", country="VN", visibility="private")
    t_cn = rec.technology("Rice dryer", owner=cn["rid"], fields=["modern_agriculture", "new_energy"],
                          trl=7, stage="matched")
    t_th = rec.technology("Cassava starch", owner=th["rid"], fields=["food_processing"], trl=3)
    t_vn = rec.technology("Fish sauce", owner=vn["rid"], fields=["food_processing"], trl=5)
    d_th = rec.demand("Need solar pumps", requester=th["rid"], fields=["new_energy"], trl_min=6)
    ag = rec.agreement(provider=cn["rid"], recipient=th["rid"], technology=t_cn["rid"],
                       fields=["modern_agriculture"])
    ev = rec.event("Nanning Expo", country="CN", organisers=[cn["rid"]], participants=[th["rid"]])
    en = rec.endorsement(agreement=ag, party=th["rid"])
    all_ = dict(cn=cn, th=th, vn=vn, t_cn=t_cn, t_th=t_th, t_vn=t_vn, d_th=d_th, ag=ag, ev=ev, en=en)
    store.apply(list(all_.values()))
    return all_


def q(**kw):
    kw.setdefault("scope", LOCAL)
    kw.setdefault("limit", 500)
    return RecordQuery(**kw)


def names(world, page):
    by_rid = {env["rid"]: name for name, env in world.items()}
    return sorted(by_rid[r] for r in rids(page))


def test_newest_change_first(store, world):
    page = store.list(q())
    assert rids(page) == [env["rid"] for env in reversed(list(world.values()))]
    assert page.next_cursor is None


def test_kinds(store, world):
    assert names(world, store.list(q(kinds=("technology",)))) == ["t_cn", "t_th", "t_vn"]
    assert names(world, store.list(q(kinds=("demand", "event")))) == ["d_th", "ev"]
    assert names(world, store.list(q(kinds=("endorsement",)))) == ["en"]


def test_country(store, world):
    assert names(world, store.list(q(country="CN"))) == ["ag", "cn", "ev", "t_cn"]
    assert names(world, store.list(q(country="TH"))) == ["ag", "d_th", "t_th", "th"]
    assert names(world, store.list(q(country="TH", kinds=("technology", "demand")))) == ["d_th", "t_th"]
    assert names(world, store.list(q(country="CN", kinds=("institution", "event")))) == ["cn", "ev"]
    assert names(world, store.list(q(country="CN", kinds=("endorsement",)))) == []
    assert store.list(q(country="SG")).items == []


def test_country_uses_only_institutions_in_scope(store, world):
    assert names(world, store.list(q(country="VN"))) == ["t_vn", "vn"]
    # the owner is private: a public caller cannot learn its country through the filter
    assert store.list(q(country="VN", scope=PUBLIC)).items == []


def test_country_of_an_owner_that_arrives_later(store, rec):
    inst_rid = rec.rid("institution")
    tech = rec.technology("Mangrove monitoring", owner=inst_rid, fields=["marine"])
    store.apply([tech])
    assert store.list(q(country="ID")).items == []
    inst = rec.institution("Universitas Indonesia", country="ID", rid=inst_rid)
    store.apply([inst])
    assert rids(store.list(q(country="ID", kinds=("technology",)))) == [tech["rid"]]
    # the institution moves: the technology follows
    store.apply([rec.update(inst, country="MY")])
    assert store.list(q(country="ID")).items == []
    assert rids(store.list(q(country="MY", kinds=("technology",)))) == [tech["rid"]]


def test_field(store, world):
    assert names(world, store.list(q(field="modern_agriculture"))) == ["ag", "t_cn"]
    assert names(world, store.list(q(field="new_energy"))) == ["d_th", "t_cn"]
    assert names(world, store.list(q(field="food_processing", kinds=("technology",)))) == ["t_th", "t_vn"]
    assert store.list(q(field="marine")).items == []


def test_field_follows_updates(store, rec, world):
    store.apply([rec.update(world["t_th"], fields=["marine"])])
    assert names(world, store.list(q(field="marine"))) == ["t_th"]
    assert names(world, store.list(q(field="food_processing"))) == ["t_vn"]


def test_trl_range(store, world):
    assert names(world, store.list(q(trl_min=6))) == ["d_th", "t_cn"]
    assert names(world, store.list(q(trl_max=5))) == ["t_th", "t_vn"]
    assert names(world, store.list(q(trl_min=4, trl_max=6))) == ["d_th", "t_vn"]
    assert names(world, store.list(q(trl_min=5, trl_max=5, kinds=("technology",)))) == ["t_vn"]


def test_party(store, world):
    th = world["th"]["rid"]
    assert names(world, store.list(q(party=th))) == ["ag", "d_th", "en", "ev", "t_th"]
    assert names(world, store.list(q(party=world["cn"]["rid"]))) == ["ag", "ev", "t_cn"]
    assert names(world, store.list(q(party=th, kinds=("technology",)))) == ["t_th"]
    unknown = "urn:jembatan:node-z:institution:0190f000-0000-7000-8000-000000000000"
    assert store.list(q(party=unknown)).items == []


def test_stage_visibility_updated_since(store, rec, world):
    assert names(world, store.list(q(stage="matched"))) == ["t_cn"]
    assert names(world, store.list(q(visibility="private"))) == ["vn"]
    assert store.list(q(visibility="private", scope=PUBLIC)).items == []
    later = rec.update(world["t_th"], stage="negotiating")
    store.apply([later])
    assert names(world, store.list(q(updated_since=later["hlc"]))) == ["t_th"]
    assert len(store.list(q(updated_since="0000000000000-0000")).items) == len(world)


def test_include_deleted(store, rec, world):
    store.apply([rec.tombstone(world["t_th"])])
    assert "t_th" not in names(world, store.list(q(kinds=("technology",))))
    assert "t_th" in names(world, store.list(q(kinds=("technology",), include_deleted=True)))
    # a tombstone has no body left to filter on
    assert "t_th" not in names(world, store.list(q(field="food_processing", include_deleted=True)))


@pytest.mark.parametrize("limit", [1, 2, 3, 7])
def test_pages_visit_every_record_once(store, rec, limit):
    owner = rec.institution()
    store.apply([owner])
    store.apply([rec.technology(f"T{i}", owner=owner["rid"], trl=1 + i % 9) for i in range(23)])
    for query in (q(limit=limit), q(limit=limit, kinds=("technology",), trl_min=4)):
        seen, cursor, pages = [], None, 0
        while True:
            page = store.list(dataclasses.replace(query, cursor=cursor))
            assert len(page.items) <= limit
            seen += rids(page)
            pages += 1
            cursor = page.next_cursor
            if cursor is None:
                break
        expected = rids(store.list(dataclasses.replace(query, limit=500)))
        assert seen == expected and len(set(seen)) == len(seen)
        assert pages == max(1, -(-len(expected) // limit))


def test_pages_stay_stable_while_records_are_written(store, rec):
    owner = rec.institution()
    store.apply([owner] + [rec.technology(f"T{i}", owner=owner["rid"]) for i in range(10)])
    first = store.list(q(limit=5))
    store.apply([rec.technology("Newer", owner=owner["rid"])])  # lands before the first page
    second = store.list(q(limit=5, cursor=first.next_cursor))
    assert not set(rids(first)) & set(rids(second))
    assert rids(first) + rids(second) == rids(store.list(q()))[1:11]


def test_cursor_is_opaque_and_url_safe(store, world):
    cursor = store.list(q(limit=2)).next_cursor
    assert cursor and all(c.isalnum() or c in "-_." for c in cursor)


def _tampered(cursor: str) -> list[str]:
    out = []
    for i in (0, len(cursor) // 2, len(cursor) - 1):
        ch = cursor[i]
        out.append(cursor[:i] + ("A" if ch != "A" else "B") + cursor[i + 1:])
    payload, mac = cursor.split(".")
    out += [payload, "." + mac, payload + "." + mac[::-1], cursor + "=", cursor + "A",
            "W10." + mac, "", "...", "%%%", "x" * 2000, cursor.replace(".", ".."), " " + cursor]
    return out


def test_tampered_cursors_are_refused(store, world):
    cursor = store.list(q(limit=2)).next_cursor
    for bad in _tampered(cursor):
        with pytest.raises(errors.BadRequest) as exc:
            store.list(q(limit=2, cursor=bad))
        assert exc.value.detail == "invalid cursor"


def test_a_cursor_belongs_to_its_query(store, world):
    cursor = store.list(q(limit=2, kinds=("technology",))).next_cursor
    assert store.list(q(limit=2, kinds=("technology",), cursor=cursor)).items  # fine with the same
    assert store.list(q(limit=3, kinds=("technology",), cursor=cursor)) is not None  # page size may change
    for other in (q(limit=2, cursor=cursor),
                  q(limit=2, kinds=("demand",), cursor=cursor),
                  q(limit=2, kinds=("technology",), trl_min=2, cursor=cursor),
                  q(limit=2, kinds=("technology",), include_deleted=True, cursor=cursor),
                  q(limit=2, kinds=("technology",), scope=PUBLIC, cursor=cursor)):
        with pytest.raises(errors.BadRequest):
            store.list(other)
    with pytest.raises(errors.BadRequest):
        store.search("dryer", q(limit=2, kinds=("technology",), cursor=cursor))


@pytest.mark.parametrize("bad,field", [
    (dict(kinds=("widget",)), "kinds"),
    (dict(country="XX"), "country"),
    (dict(field="alchemy"), "field"),
    (dict(trl_min=0), "trl_min"),
    (dict(trl_max=10), "trl_max"),
    (dict(trl_min=7, trl_max=3), "trl_max"),
    (dict(party="not-a-rid"), "party"),
    (dict(stage="dreaming"), "stage"),
    (dict(visibility="secret"), "visibility"),
    (dict(updated_since="yesterday"), "updated_since"),
    (dict(limit=0), "limit"),
    (dict(limit=501), "limit"),
    (dict(scope=frozenset()), "scope"),
])
def test_bad_filters_name_the_field(store, bad, field):
    with pytest.raises(errors.ValidationError) as exc:
        store.list(q(**bad))
    assert [e["field"] for e in exc.value.errors] == [field]
