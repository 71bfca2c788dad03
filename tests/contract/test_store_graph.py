"""The graph projection: stubs, edges replaced and removed, neighbourhoods, their scope and
filters, and depth-3 neighbourhoods checked against a networkx walk on a generated federation."""
import random

import pytest

from jembatan.graph.store import ALLIANCE, LOCAL, PUBLIC
from jembatan.network import errors
from traversal_data import generated, projected, reference_neighbourhood


def node_map(sub):
    return {n.id: n for n in sub.nodes}


def edge_set(sub):
    return {(e.src, e.type, e.dst) for e in sub.edges}


def test_a_stub_fills_in_when_its_record_arrives(store, rec):
    inst_rid = rec.rid("institution")
    tech = rec.technology("Solar dryer", owner=inst_rid, fields=["new_energy"])
    store.apply([tech])
    sub = store.neighbours(tech["rid"])
    nodes = node_map(sub)
    assert nodes[inst_rid].stub is True and nodes[inst_rid].label == "Institution"
    assert nodes[tech["rid"]].stub is False and nodes[tech["rid"]].label == "Technology"
    assert nodes["field:new_energy"].label == "Field" and nodes["field:new_energy"].stub is False
    assert edge_set(sub) == {(inst_rid, "OWNS", tech["rid"]), (tech["rid"], "IN_FIELD", "field:new_energy")}
    with pytest.raises(errors.NotFound):
        store.neighbours(inst_rid)    # a stub is not a record

    inst = rec.institution("Guangxi University", country="CN", rid=inst_rid)
    store.apply([inst])
    sub = store.neighbours(tech["rid"], depth=2)
    nodes = node_map(sub)
    assert nodes[inst_rid].stub is False
    assert nodes[inst_rid].props["name"] == {"en": "Guangxi University"}
    assert nodes["country:CN"].label == "Country" and nodes["country:CN"].stub is False
    assert (inst_rid, "LOCATED_IN", "country:CN") in edge_set(sub)


def test_depth_one_and_two(store, rec):
    a = rec.institution("A", country="CN")
    b = rec.institution("B", country="TH")
    tech = rec.technology(owner=a["rid"], fields=["new_energy"])
    ag = rec.agreement(provider=a["rid"], recipient=b["rid"], technology=tech["rid"])
    store.apply([a, b, tech, ag])
    one = store.neighbours(a["rid"], depth=1)
    assert set(node_map(one)) == {a["rid"], "country:CN", tech["rid"], ag["rid"]}
    assert edge_set(one) == {(a["rid"], "LOCATED_IN", "country:CN"), (a["rid"], "OWNS", tech["rid"]),
                             (a["rid"], "PARTY_TO", ag["rid"]), (ag["rid"], "TRANSFERS", tech["rid"])}
    assert one.nodes[0].id == a["rid"]
    two = store.neighbours(a["rid"], depth=2)
    assert set(node_map(two)) == {a["rid"], "country:CN", tech["rid"], ag["rid"], b["rid"],
                                  "field:new_energy"}
    party = [e for e in two.edges if e.type == "PARTY_TO" and e.src == b["rid"]]
    assert [e.props for e in party] == [{"role": "recipient"}]
    assert (b["rid"], "LOCATED_IN", "country:TH") not in edge_set(two)  # TH is three hops away


def test_edges_are_replaced_on_update(store, rec):
    a, b = rec.institution("A"), rec.institution("B")
    tech = rec.technology(owner=a["rid"], fields=["new_energy", "marine"])
    store.apply([a, b, tech])
    store.apply([rec.update(tech, owner=b["rid"], fields=["ict"])])
    sub = store.neighbours(tech["rid"])
    assert edge_set(sub) == {(b["rid"], "OWNS", tech["rid"]), (tech["rid"], "IN_FIELD", "field:ict")}
    assert tech["rid"] not in node_map(store.neighbours(a["rid"]))


def test_a_tombstone_removes_its_edges(store, rec):
    inst = rec.institution("A")
    tech = rec.technology(owner=inst["rid"])
    store.apply([inst, tech])
    store.apply([rec.tombstone(tech)])
    assert tech["rid"] not in node_map(store.neighbours(inst["rid"], depth=2))
    with pytest.raises(errors.NotFound):
        store.neighbours(tech["rid"])


def test_a_deleted_record_still_referenced_becomes_a_stub(store, rec):
    inst = rec.institution("A")
    tech = rec.technology(owner=inst["rid"])
    store.apply([inst, tech])
    store.apply([rec.tombstone(inst)])
    sub = store.neighbours(tech["rid"], depth=2)
    nodes = node_map(sub)
    assert nodes[inst["rid"]].stub is True
    assert "country:CN" not in nodes            # its own edges went with it
    assert edge_set(sub) == {(inst["rid"], "OWNS", tech["rid"]), (tech["rid"], "IN_FIELD", "field:new_energy")}


def test_invisible_records_are_neither_shown_nor_crossed(store, rec):
    a = rec.institution("A", country="CN")
    secret = rec.institution("Secret partner", country="TH", visibility="private")
    b = rec.institution("B", country="VN")
    ag1 = rec.agreement(provider=a["rid"], recipient=secret["rid"], visibility="alliance")
    ag2 = rec.agreement(provider=secret["rid"], recipient=b["rid"])
    store.apply([a, secret, b, ag1, ag2])
    assert set(node_map(store.neighbours(a["rid"], depth=2, scope=PUBLIC))) == {a["rid"], "country:CN"}
    # ag1 → secret → ag2 would be two hops, but the private institution is a wall
    alliance = store.neighbours(ag1["rid"], depth=2, scope=ALLIANCE)
    assert set(node_map(alliance)) == {ag1["rid"], a["rid"], "country:CN"}
    assert all(secret["rid"] not in (e.src, e.dst) for e in alliance.edges)
    local = store.neighbours(ag1["rid"], depth=2, scope=LOCAL)
    assert set(node_map(local)) == {ag1["rid"], a["rid"], "country:CN", secret["rid"], ag2["rid"],
                                    "country:TH"}


def test_limit_caps_nodes_and_keeps_edges_inside(store, rec):
    hub = rec.institution("Hub")
    techs = [rec.technology(f"T{i}", owner=hub["rid"]) for i in range(30)]
    store.apply([hub] + techs)
    sub = store.neighbours(hub["rid"], depth=2, limit=10)
    ids = {n.id for n in sub.nodes}
    assert len(sub.nodes) == 10 and sub.nodes[0].id == hub["rid"]
    assert all(e.src in ids and e.dst in ids for e in sub.edges)
    assert len(store.neighbours(hub["rid"], depth=1, limit=500).nodes) == 32  # + country


def test_unknown_or_hidden_start(store, rec):
    with pytest.raises(errors.NotFound):
        store.neighbours("urn:jembatan:node-a:institution:0190f000-0000-7000-8000-000000000000")
    with pytest.raises(errors.NotFound):
        store.neighbours("not a rid")
    hidden = rec.institution(visibility="alliance")
    store.apply([hidden])
    with pytest.raises(errors.NotFound):
        store.neighbours(hidden["rid"], scope=PUBLIC)
    assert store.neighbours(hidden["rid"], scope=ALLIANCE).nodes[0].id == hidden["rid"]


def test_event_and_endorsement_edges(store, rec):
    org, guest = rec.institution("Org"), rec.institution("Guest", country="LA")
    tech = rec.technology(owner=org["rid"])
    ev = rec.event(country="LA", organisers=[org["rid"]], participants=[guest["rid"]],
                   technologies=[tech["rid"]])
    ag = rec.agreement(provider=org["rid"], recipient=guest["rid"], event=ev["rid"])
    en = rec.endorsement(agreement=ag, party=guest["rid"])
    store.apply([org, guest, tech, ev, ag, en])
    edges = edge_set(store.neighbours(ev["rid"]))
    assert edges >= {(org["rid"], "ORGANISED", ev["rid"]), (guest["rid"], "PARTICIPATED_IN", ev["rid"]),
                     (ev["rid"], "SHOWED", tech["rid"]), (ev["rid"], "HELD_IN", "country:LA"),
                     (ag["rid"], "SIGNED_AT", ev["rid"])}
    sub = store.neighbours(en["rid"])
    assert edge_set(sub) == {(en["rid"], "ENDORSES", ag["rid"]), (en["rid"], "BY", guest["rid"]),
                             (guest["rid"], "PARTY_TO", ag["rid"])}  # edges among the returned nodes
    assert [e.props for e in sub.edges if e.type == "ENDORSES"] == [{"version": 1}]


def test_neighbours_of_a_field(store, rec):
    inst = rec.institution()
    tech = rec.technology(owner=inst["rid"], fields=["marine"])
    store.apply([inst, tech])
    sub = store.neighbours("field:marine")
    assert set(node_map(sub)) == {"field:marine", tech["rid"]}


@pytest.mark.parametrize("kw,field", [
    (dict(depth=4), "depth"), (dict(depth=0), "depth"), (dict(depth=True), "depth"),
    (dict(limit=0), "limit"), (dict(kinds=("person",)), "kinds"), (dict(kinds="institution"), "kinds"),
    (dict(kinds=("Institution",)), "kinds"), (dict(countries=("ZZ",)), "countries"),
    (dict(countries=("cn",)), "countries"), (dict(countries="CN"), "countries"),
    (dict(countries=(None,)), "countries")])
def test_bad_arguments(store, rec, kw, field):
    inst = rec.institution()
    store.apply([inst])
    with pytest.raises(errors.ValidationError) as exc:
        store.neighbours(inst["rid"], **kw)
    assert exc.value.errors[0]["field"] == field


def _world(store, rec):
    """A (CN) and B (TH) with a technology and an agreement; B's agreement with C (VN)."""
    a = rec.institution("A", country="CN")
    b = rec.institution("B", country="TH")
    c = rec.institution("C", country="VN")
    tech = rec.technology(owner=a["rid"], fields=["new_energy"])
    ab = rec.agreement(provider=a["rid"], recipient=b["rid"], technology=tech["rid"])
    bc = rec.agreement(provider=b["rid"], recipient=c["rid"])
    store.apply([a, b, c, tech, ab, bc])
    return a, b, c, tech, ab, bc


def test_depth_three(store, rec):
    a, b, c, tech, ab, bc = _world(store, rec)
    three = store.neighbours(a["rid"], depth=3)
    assert three.nodes[0].id == a["rid"]
    assert set(node_map(three)) == {a["rid"], "country:CN", tech["rid"], ab["rid"], b["rid"],
                                    "field:new_energy", "country:TH", bc["rid"]}
    assert {(b["rid"], "LOCATED_IN", "country:TH"), (b["rid"], "PARTY_TO", bc["rid"])} <= edge_set(three)
    assert c["rid"] not in node_map(three)            # four hops away
    # breadth first: what the limit keeps is the nearer hops whole
    two = set(node_map(store.neighbours(a["rid"], depth=2)))
    capped = store.neighbours(a["rid"], depth=3, limit=len(two) + 1)
    assert two < set(node_map(capped)) and len(capped.nodes) == len(two) + 1


def test_kinds_filter_neither_shows_nor_crosses(store, rec):
    a, b, c, tech, ab, bc = _world(store, rec)
    sub = store.neighbours(a["rid"], depth=3, kinds=("institution", "agreement"))
    assert set(node_map(sub)) == {a["rid"], ab["rid"], b["rid"], bc["rid"]}
    assert edge_set(sub) == {(a["rid"], "PARTY_TO", ab["rid"]), (b["rid"], "PARTY_TO", ab["rid"]),
                             (b["rid"], "PARTY_TO", bc["rid"])}
    # the field is only reached through the technology, which is not kept
    assert set(node_map(store.neighbours(a["rid"], depth=3, kinds=["field", "country"]))) == {
        a["rid"], "country:CN"}
    # the start is kept whatever its kind
    sub = store.neighbours(tech["rid"], depth=2, kinds=("field",))
    assert set(node_map(sub)) == {tech["rid"], "field:new_energy"}
    alone = store.neighbours(a["rid"], kinds=("event",))
    assert [n.id for n in alone.nodes] == [a["rid"]] and alone.edges == []
    assert alone.nodes[0].props["name"] == {"en": "A"}


def test_kinds_filter_knows_stubs_and_tombstones(store, rec):
    owner = rec.rid("institution")                      # never received
    tech = rec.technology(owner=owner, fields=["marine"])
    gone = rec.institution("Gone")
    ag = rec.agreement(provider=gone["rid"], recipient=owner, technology=tech["rid"])
    store.apply([tech, gone, ag])
    store.apply([rec.tombstone(gone)])
    sub = store.neighbours(ag["rid"], kinds=("institution",))
    nodes = node_map(sub)
    assert set(nodes) == {ag["rid"], owner, gone["rid"]}
    assert nodes[owner].stub and nodes[gone["rid"]].stub
    assert set(node_map(store.neighbours(ag["rid"], kinds=("technology",)))) == {ag["rid"], tech["rid"]}


def test_countries_filter(store, rec):
    a, b, c, tech, ab, bc = _world(store, rec)
    ev = rec.event(country="LA", organisers=[a["rid"]])
    store.apply([ev])
    sub = store.neighbours(a["rid"], depth=3, countries=("CN",))
    # B (TH) is neither shown nor crossed; places and records without a country pass
    assert set(node_map(sub)) == {a["rid"], "country:CN", tech["rid"], ab["rid"], "field:new_energy"}
    sub = store.neighbours(a["rid"], depth=3, countries=("CN", "TH", "LA"))
    assert set(node_map(sub)) == {a["rid"], "country:CN", tech["rid"], ab["rid"], "field:new_energy",
                                  b["rid"], "country:TH", bc["rid"], ev["rid"], "country:LA"}
    # a Country start is kept; its own code does not have to be asked for
    assert set(node_map(store.neighbours("country:TH", countries=("CN",)))) == {"country:TH"}
    both = store.neighbours(a["rid"], depth=3, kinds=("institution", "agreement", "country"),
                            countries=("CN", "TH"))
    assert set(node_map(both)) == {a["rid"], "country:CN", ab["rid"], b["rid"], "country:TH", bc["rid"]}


@pytest.mark.parametrize("scope", [PUBLIC, ALLIANCE, LOCAL], ids=["public", "alliance", "local"])
def test_depth_three_equals_a_networkx_walk(store, rec, scope):
    envelopes, batches, _ = generated(rec, seed=3)
    for batch in batches:
        store.apply(batch)
    records, edges = projected(envelopes)
    starts = sorted(e["rid"] for e in envelopes if not e["deleted"] and e["visibility"] in scope)
    r = random.Random(9)
    filters = [((), ()), (("institution", "agreement"), ()), ((), ("CN", "TH")),
               (("institution", "agreement", "technology", "country"), ("VN", "ID", "MY"))]
    sizes = []
    for start in r.sample(starts, 6) + ["country:CN", "field:ict"]:
        for depth in (1, 2, 3):
            for kinds, countries in filters:
                sub = store.neighbours(start, depth, scope, 10_000, kinds=kinds, countries=countries)
                nodes, want_edges = reference_neighbourhood(records, edges, start, depth, scope,
                                                            kinds, countries)
                assert sub.nodes[0].id == start
                assert len(sub.nodes) == len(node_map(sub))   # no node twice
                assert set(node_map(sub)) == nodes, (start, depth, kinds, countries)
                assert edge_set(sub) == want_edges, (start, depth, kinds, countries)
                sizes.append(len(nodes))
    assert max(sizes) > 50 and min(sizes) == 1    # hubs reached, and filters that keep nothing
