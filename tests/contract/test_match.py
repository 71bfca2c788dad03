"""Matchmaking over both stores: ranking across languages, the signals and their reasons,
scope, the graph's proximity, and an index that follows the store's changes."""
from __future__ import annotations

import pytest

from jembatan.graph.match import Matcher
from jembatan.graph.store import LOCAL, PUBLIC
from jembatan.network import errors

from conftest import Records


@pytest.fixture
def world(store):
    """A Thai enterprise's demand for battery recycling, Chinese technologies (one answers
    it, one is a near miss in the same field), and a Vietnamese one in another field."""
    r = Records()
    cn = r.institution("Guangxi University", country="CN")
    cn2 = r.institution("Nanning Battery Institute", country="CN")
    th = r.institution("Siam Recycling", country="TH", kind="enterprise")
    vn = r.institution("Hanoi Agritech", country="VN")
    recycling = r.technology({"zh-Hans": "退役动力电池回收利用成套技术"}, owner=cn["rid"],
                             fields=("energy_storage",), trl=7,
                             summary={"zh-Hans": "电池回收，湿法冶金提取锂钴镍，回收率95%以上。"})
    sodium = r.technology({"zh-Hans": "钠离子电池储能系统"}, owner=cn2["rid"],
                          fields=("energy_storage",), trl=7,
                          summary={"zh-Hans": "低成本钠离子电池，适合电网储能。"})
    rice = r.technology({"vi": "Máy sấy lúa bằng năng lượng mặt trời"}, owner=vn["rid"],
                        fields=("modern_agriculture",), trl=8)
    demand = r.demand("Battery recycling plant for used electric scooter packs", requester=th["rid"],
                      fields=("energy_storage",), trl_min=6, countries=["CN"],
                      summary={"en": "We collect used lithium packs and need battery recycling know-how."})
    records = [cn, cn2, th, vn, recycling, sodium, rice, demand]
    assert all(o.status == "created" for o in store.apply(records))
    return {"r": r, "store": store, "cn": cn, "cn2": cn2, "th": th, "vn": vn,
            "recycling": recycling, "sodium": sodium, "rice": rice, "demand": demand}


def ranked(doc: dict) -> list[str]:
    return [x["rid"] for x in doc["results"]]


def test_the_answer_comes_first_across_languages_with_its_reasons(world):
    doc = Matcher().match(world["store"], world["demand"]["rid"], PUBLIC, lang="th")
    assert doc["kind"] == "technology" and doc["for"]["kind"] == "demand"
    order = ranked(doc)
    assert order[0] == world["recycling"]["rid"]
    assert world["sodium"]["rid"] in order           # same field, a weaker match
    first = doc["results"][0]
    reasons = first["reasons"]
    # the English "battery recycling" and the Chinese "电池回收" are one concept of the
    # field's vocabulary, labelled in the reader's language when it has that language
    concept = next(c for c in reasons["concepts"] if c["id"] == "energy_storage/kw4")
    assert concept["terms"] == ["battery recycling", "电池回收"]
    assert reasons["fields"] == ["energy_storage"]
    assert reasons["trl"] == {"technology": 7, "minimum": 6, "fits": True}
    assert reasons["countries"] == ["CN"]
    assert first["signals"]["concepts"] > doc["results"][1]["signals"]["concepts"]
    assert first["score"] == pytest.approx(sum(doc["weights"][k] * v
                                               for k, v in first["signals"].items()), abs=1e-3)


def test_technology_side_ranks_demands(world):
    doc = Matcher().match(world["store"], world["recycling"]["rid"], PUBLIC)
    assert doc["kind"] == "demand"
    assert ranked(doc) == [world["demand"]["rid"]]
    assert doc["results"][0]["signals"]["geography"] == 1.0     # CN is of interest


def test_trl_below_the_minimum_ranks_lower(world):
    r, store = world["r"], world["store"]
    low = r.technology({"zh-Hans": "退役动力电池回收利用成套技术"}, owner=world["cn2"]["rid"],
                       fields=("energy_storage",), trl=3,
                       summary={"zh-Hans": "电池回收，湿法冶金提取锂钴镍，回收率95%以上。"})
    store.apply([low])
    doc = Matcher().match(store, world["demand"]["rid"], PUBLIC)
    by_rid = {x["rid"]: x for x in doc["results"]}
    assert ranked(doc).index(world["recycling"]["rid"]) < ranked(doc).index(low["rid"])
    assert by_rid[low["rid"]]["signals"]["trl"] == pytest.approx(0.0)
    assert by_rid[low["rid"]]["reasons"]["trl"]["fits"] is False


def test_a_private_technology_is_matched_for_the_node_only(world):
    r, store = world["r"], world["store"]
    secret = r.technology({"en": "Battery recycling by direct cathode regeneration"},
                          owner=world["cn2"]["rid"], fields=("energy_storage",), trl=8,
                          visibility="private")
    store.apply([secret])
    matcher = Matcher()
    assert secret["rid"] not in ranked(matcher.match(store, world["demand"]["rid"], PUBLIC))
    assert secret["rid"] in ranked(matcher.match(store, world["demand"]["rid"], LOCAL))


def test_a_private_demand_is_not_found_by_a_public_reader(world):
    r, store = world["r"], world["store"]
    hidden = r.demand("Battery recycling", requester=world["th"]["rid"],
                      fields=("energy_storage",), visibility="private")
    store.apply([hidden])
    with pytest.raises(errors.NotFound):
        Matcher().match(store, hidden["rid"], PUBLIC)
    assert ranked(Matcher().match(store, hidden["rid"], LOCAL))


def test_own_records_are_not_matched(world):
    r, store = world["r"], world["store"]
    mine = r.technology({"en": "Battery recycling line"}, owner=world["th"]["rid"],
                        fields=("energy_storage",), trl=9)
    store.apply([mine])
    assert mine["rid"] not in ranked(Matcher().match(store, world["demand"]["rid"], LOCAL))


def test_partners_and_event_companions_are_closer(world):
    r, store = world["r"], world["store"]
    deal = r.agreement(provider=world["cn2"]["rid"], recipient=world["th"]["rid"])
    fair = r.envelope("event", {"name": {"en": "Battery fair"}, "kind": "matchmaking",
                                "starts_on": "2025-05-01", "ends_on": "2025-05-02",
                                "country": "TH", "participants": [world["th"]["rid"], world["cn"]["rid"]]})
    store.apply([deal, fair])
    doc = Matcher().match(store, world["demand"]["rid"], PUBLIC)
    by_rid = {x["rid"]: x for x in doc["results"]}
    sodium, recycling = by_rid[world["sodium"]["rid"]], by_rid[world["recycling"]["rid"]]
    assert sodium["signals"]["graph"] == 1.0
    assert sodium["reasons"]["path"] == [world["th"]["rid"], deal["rid"], world["cn2"]["rid"]]
    assert recycling["signals"]["graph"] == pytest.approx(0.6)
    assert recycling["reasons"]["path"] == [world["th"]["rid"], fair["rid"], world["cn"]["rid"]]


def test_the_index_follows_the_store(world):
    r, store = world["r"], world["store"]
    matcher = Matcher()
    assert world["recycling"]["rid"] in ranked(matcher.match(store, world["demand"]["rid"], PUBLIC))
    new = r.technology({"en": "Battery recycling for scooter lithium packs"},
                       owner=world["cn2"]["rid"], fields=("energy_storage",), trl=8)
    store.apply([new])
    assert new["rid"] in ranked(matcher.match(store, world["demand"]["rid"], PUBLIC))
    # withdrawn and deleted technologies leave the index
    body = dict(world["recycling"]["body"], stage="withdrawn")
    store.apply([r.envelope("technology", body, rid=world["recycling"]["rid"], version=2)])
    store.apply([r.envelope("technology", None, rid=new["rid"], version=2, deleted=True)])
    order = ranked(matcher.match(store, world["demand"]["rid"], PUBLIC))
    assert world["recycling"]["rid"] not in order and new["rid"] not in order
    assert world["sodium"]["rid"] in order


def test_bad_requests(world):
    store, matcher = world["store"], Matcher()
    with pytest.raises(errors.ValidationError) as exc:
        matcher.match(store, world["cn"]["rid"], PUBLIC)
    assert exc.value.errors[0]["field"] == "rid"
    with pytest.raises(errors.ValidationError) as exc:
        matcher.match(store, world["demand"]["rid"], PUBLIC, limit=0)
    assert exc.value.errors[0]["field"] == "limit"
    with pytest.raises(errors.NotFound):
        matcher.match(store, world["r"].rid("demand"), PUBLIC)
    body = dict(world["rice"]["body"], stage="withdrawn")
    store.apply([world["r"].envelope("technology", body, rid=world["rice"]["rid"], version=2)])
    with pytest.raises(errors.ValidationError):
        matcher.match(store, world["rice"]["rid"], PUBLIC)
