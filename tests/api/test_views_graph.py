"""The partnership graph's pages over the real app and SQLite store: an institution's
neighbourhood, the explorer page and its JSON endpoints (localized labels, problem
documents naming the field, nothing private shown to anonymous readers, paths as networkx
finds them)."""
from __future__ import annotations

import json
import re
from html import unescape
from itertools import islice

import networkx as nx
import pytest
from apikit import body
from babel import Locale

from jembatan.network import vocab

THAI = Locale.parse("th")


def institution(node, name: dict, country: str, *, kind: str = "university",
                visibility: str = "public") -> str:
    data = {**body("institution"), "name": name, "country": country, "kind": kind}
    return node.created("institution", data, visibility=visibility)["rid"]


def agreement(node, a: str, b: str, *, kind: str = "licence", signed_on: str = "2025-03-01",
              visibility: str = "public") -> str:
    data = {"kind": kind, "parties": [{"institution": a, "role": "provider"},
                                      {"institution": b, "role": "recipient"}],
            "signed_on": signed_on, "status": "active"}
    return node.created("agreement", data, visibility=visibility)["rid"]


@pytest.fixture
def trio(node):
    """Bandung (ID) with two partners: Chiang Mai (TH, two agreements) and Hanoi (VN)."""
    a = institution(node, {"en": "Bandung Institute"}, "ID")
    b = institution(node, {"en": "Chiang Mai Lab"}, "TH", kind="research_institute")
    c = institution(node, {"en": "Hanoi Works"}, "VN", kind="enterprise")
    agreement(node, a, b)
    agreement(node, a, b, kind="joint_rd", signed_on="2024-05-02")
    agreement(node, a, c, kind="technical_service")
    return a, b, c


def attribute(html: str, element_id: str, name: str) -> str:
    tag = re.search(rf'<[^>]*\bid="{element_id}"[^>]*>', html, re.S).group(0)
    return unescape(re.search(rf'\b{name}="([^"]*)"', tag).group(1))


def rows_of(html: str) -> list[str]:
    table = re.search(r'<table class="data partners">(.*?)</table>', html, re.S).group(1)
    return [unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row))).strip()
            for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]]


def problem(resp) -> list[str]:
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    return [e["field"] for e in resp.get_json()["errors"]]


# --- the institution page --------------------------------------------------------------------

def test_the_institution_page_lists_its_partners_in_thai(node, trio):
    a, b, c = trio
    html = node.client.get(f"/th/records/{a}").get_data(as_text=True)
    rows = rows_of(html)
    assert len(rows) == 2
    assert rows[0].startswith("Chiang Mai Lab") and THAI.territories["TH"] in rows[0]
    assert rows[1].startswith("Hanoi Works") and THAI.territories["VN"] in rows[1]
    kinds = vocab.enum_labels("agreement_kind")
    assert kinds["licence"]["th"] in rows[0] and kinds["joint_rd"]["th"] in rows[0]
    assert kinds["technical_service"]["th"] in rows[1]
    assert f'href="/th/records/{b}"' in html           # each partner links to its page
    graph = json.loads(attribute(html, "graph", "data-graph"))
    assert {n["id"] for n in graph["nodes"]} == {a, b, c}
    assert [n["id"] for n in graph["nodes"] if n.get("centre")] == [a]
    weights = {frozenset((e["source"], e["target"])): e["weight"] for e in graph["edges"]}
    assert weights == {frozenset((a, b)): 2, frozenset((a, c)): 1}
    assert {n["country_name"] for n in graph["nodes"]} == {THAI.territories[x] for x in ("ID", "TH", "VN")}
    assert "<script>" not in html and 'id="__________cytoscape_stylesheet"' in html


def test_the_institution_page_summarises_and_suggests(node, trio):
    a, b, c = trio
    d = institution(node, {"en": "Davao Centre"}, "PH")
    agreement(node, b, d)           # Davao is a partner of a partner of Bandung
    html = node.client.get(f"/en/records/{a}").get_data(as_text=True)
    suggested = re.search(r'<ul class="suggestions">(.*?)</ul>', html, re.S).group(1)
    assert "Davao Centre" in suggested and "Hanoi Works" not in suggested
    assert "1 partner in common" in unescape(suggested)
    charts = re.findall(r'class="chart" data-chart="([^"]+)"', html)
    by_country, by_year = (json.loads(unescape(c)) for c in charts)
    assert dict(zip(by_country["labels"], by_country["values"])) == {"Thailand": 1, "Vietnam": 1}
    assert dict(zip(by_year["labels"], by_year["values"])) == {"2024": 1, "2025": 2}


def test_private_partners_are_absent_for_anonymous_readers(node, trio):
    a, b, c = trio
    secret = institution(node, {"en": "Secret Foundry"}, "SG", visibility="private")
    deal = agreement(node, a, secret)      # public, with a private party
    hidden_deal = agreement(node, a, c, kind="consultancy", visibility="private")
    html = node.client.get(f"/en/records/{a}").get_data(as_text=True)
    assert "Secret Foundry" not in html and secret not in html
    assert "Consultancy" not in "".join(rows_of(html))
    assert node.client.get(f"/en/records/{secret}").status_code == 404
    doc = node.client.get(f"/en/explorer/neighbours?rid={a}").get_json()
    assert hidden_deal not in json.dumps(doc) and deal in {n["id"] for n in doc["nodes"]}
    doc = node.client.get(f"/en/explorer/neighbours?rid={deal}").get_json()
    assert secret not in json.dumps(doc)
    assert node.client.get(f"/en/explorer/neighbours?rid={secret}").status_code == 404
    assert node.client.get(f"/en/explorer/paths?from={a}&to={secret}").status_code == 404
    found = node.client.get("/en/explorer/institutions?q=Secret").get_json()["items"]
    assert found == []
    assert "Secret Foundry" not in node.client.get("/en/explorer?q=Secret").get_data(as_text=True)
    # the node's own users see it: the checks above can fail
    staff = node.headers("viewer")
    assert "Secret Foundry" in node.client.get(f"/en/records/{a}", headers=staff).get_data(as_text=True)
    doc = node.client.get(f"/en/explorer/neighbours?rid={a}", headers=staff).get_json()
    assert hidden_deal in {n["id"] for n in doc["nodes"]}
    doc = node.client.get(f"/en/explorer/neighbours?rid={deal}", headers=staff).get_json()
    assert secret in {n["id"] for n in doc["nodes"]}


# --- the explorer page -----------------------------------------------------------------------

def test_the_explorer_starts_at_the_best_connected_institution(node, trio):
    a, b, c = trio
    r = node.client.get("/en/explorer")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert attribute(html, "graph", "data-focus") == a
    start = json.loads(attribute(html, "graph", "data-graph"))
    assert start["focus"] == a and a in {n["id"] for n in start["nodes"]}
    for element in ('<ul id="node-list">', 'id="path-from"', 'id="path-to"',
                    '<button id="find-path"', 'id="path-result"'):
        assert element in html
    assert f'class="expand" type="submit" name="focus" value="{a}" data-id="{a}">Expand<' in html
    assert "/static/vendor/cytoscape/cytoscape.min.js" in html and "/static/js/graph.js" in html
    assert "<script>" not in html and " style=" not in html
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert attribute(html, "graph", "data-neighbours-url") == "/en/explorer/neighbours"


def test_the_explorer_focuses_searches_and_lists_paths_without_script(node, trio):
    a, b, c = trio
    html = node.client.get(f"/th/explorer?focus={b}").get_data(as_text=True)
    assert attribute(html, "graph", "data-focus") == b
    html = node.client.get("/en/explorer?q=Hanoi").get_data(as_text=True)
    found = re.search(r'<section class="found">(.*?)</section>', html, re.S).group(1)
    assert "Hanoi Works" in found and "Chiang Mai" not in found
    html = node.client.get(f"/en/explorer?from={b}&to={c}").get_data(as_text=True)
    result = re.search(r'<div id="path-result"[^>]*>(.*?)</div>', html, re.S).group(1)
    lists = re.findall(r'<ol class="path"[^>]*>(.*?)</ol>', result, re.S)
    assert len(lists) == 2          # Chiang Mai and Bandung share two agreements
    for steps in lists:
        assert re.findall(r'<li data-id="([^"]+)"', steps) == [b, a, c]


def test_an_empty_node_still_serves_the_explorer(node):
    r = node.client.get("/en/explorer")
    assert r.status_code == 200
    assert json.loads(attribute(r.get_data(as_text=True), "graph", "data-graph"))["nodes"] == []


@pytest.mark.parametrize("query, field", [("focus=nonsense", "focus"), ("from=x&to=y", "from"),
                                          ("from=urn:jembatan:a:institution:0190a5b0-0000-7000-8000-000000000001", "to")])
def test_a_bad_explorer_argument_names_its_field(node, query, field):
    r = node.client.get(f"/en/explorer?{query}")
    assert r.status_code == 400 and f"<code>{field}</code>" in r.get_data(as_text=True)


# --- the JSON endpoints ----------------------------------------------------------------------

def test_endpoints_localize_labels_with_fallback_info(node):
    a = institution(node, {"zh-Hans": "广西科技大学"}, "CN")
    b = institution(node, {"th": "มหาวิทยาลัยเชียงใหม่", "en": "Chiang Mai University"}, "TH")
    deal = agreement(node, a, b, kind="joint_lab")
    doc = node.client.get(f"/th/explorer/neighbours?rid={b}").get_json()
    nodes = {n["id"]: n for n in doc["nodes"]}
    assert nodes[b]["label"] == "มหาวิทยาลัยเชียงใหม่" and nodes[b]["shown_in"] is None
    assert nodes[deal]["kind"] == "agreement" and nodes[deal]["subkind"] == "joint_lab"
    assert nodes[deal]["url"] == f"/th/records/{deal}"
    assert nodes["country:TH"]["label"] == THAI.territories["TH"]
    assert {e["type"] for e in doc["edges"]} == {"PARTY_TO", "LOCATED_IN"}
    assert nodes[b]["kind_label"] != "Institution"              # the record kind in Thai
    doc = node.client.get(f"/th/explorer/neighbours?rid={deal}").get_json()
    chinese = {n["id"]: n for n in doc["nodes"]}[a]
    assert chinese["label"] == "广西科技大学" and chinese["lang"] == "zh-Hans"
    assert THAI.languages["zh"] in chinese["shown_in"]
    assert chinese["country_name"] == THAI.territories["CN"]
    roles = {e["source"]: e["label"] for e in doc["edges"] if e["type"] == "PARTY_TO"}
    assert roles[a] != "provider" and roles[a]                   # the role's label, not its code
    items = node.client.get("/th/explorer/institutions?q=广西科技").get_json()["items"]
    assert [i["id"] for i in items] == [a] and items[0]["shown_in"] == chinese["shown_in"]
    best = node.client.get("/th/explorer/institutions?limit=1").get_json()["items"]
    assert [i["id"] for i in best] == [a] and best[0]["country_name"] == THAI.territories["CN"]
    paths = node.client.get(f"/th/explorer/paths?from={a}&to={b}").get_json()
    step = paths["paths"][0]["steps"][1]
    assert step["id"] == b and step["via"] == deal and step["via_label"]
    assert {n["id"]: n["label"] for n in paths["nodes"]}[a] == "广西科技大学"


def test_neighbours_filter_by_kind_and_country(node, trio):
    a, b, c = trio
    doc = node.client.get(f"/en/explorer/neighbours?rid={a}&kind=institution&kind=agreement"
                          "&country=ID&country=TH").get_json()
    kinds = {n["kind"] for n in doc["nodes"]}
    assert kinds == {"institution", "agreement"}
    doc = node.client.get("/en/explorer/neighbours?rid=country:TH").get_json()
    assert {n["id"] for n in doc["nodes"]} == {"country:TH", b}


@pytest.mark.parametrize("path, field", [
    ("neighbours?rid=not-a-rid", "rid"),
    ("neighbours", "rid"),
    ("neighbours?rid=country:XX", "rid"),
    ("neighbours?rid={a}&country=XX", "country"),
    ("neighbours?rid={a}&kind=planet", "kind"),
    ("neighbours?rid={a}&limit=0", "limit"),
    ("neighbours?rid={a}&depth=2", "depth"),
    ("paths?from=nope&to={a}", "from"),
    ("paths?from={a}", "to"),
    ("paths?from={a}&to={a}", "to"),
    ("paths?from={a}&to={a_tech}", "to"),
    ("paths?from={a}&to={b}&k=99", "k"),
    ("institutions?limit=500", "limit"),
    ("institutions?q=", "q"),
    ("institutions?lang=xx", "lang"),
])
def test_bad_input_is_a_problem_naming_the_field(node, trio, path, field):
    a, b, c = trio
    a_tech = a.replace(":institution:", ":technology:")
    before = node.snapshot()
    fields = problem(node.client.get("/en/explorer/" + path.format(a=a, b=b, a_tech=a_tech)))
    assert any(f == field or f.startswith(field + ".") for f in fields), fields
    assert node.snapshot() == before


def test_an_unknown_locale_is_not_found(node, trio):
    assert node.client.get(f"/xx/explorer/neighbours?rid={trio[0]}").status_code == 404


def test_paths_are_the_ones_networkx_finds(node):
    names = "ABCDEFG"
    rid = {n: institution(node, {"en": f"Institution {n}"}, "ID") for n in names}
    pairs = [("A", "B"), ("B", "C"), ("C", "D"), ("A", "E"), ("E", "D"), ("A", "F"), ("F", "G"),
             ("G", "C"), ("B", "E")]
    deals = {pair: agreement(node, rid[pair[0]], rid[pair[1]]) for pair in pairs}
    G = nx.Graph()
    for (x, y), deal in deals.items():       # institutions and agreements, as the store walks
        G.add_edge(rid[x], deal)
        G.add_edge(deal, rid[y])
    k = 4
    expected = sorted((p for p in islice(nx.shortest_simple_paths(G, rid["A"], rid["D"]), 50)
                       if len(p) // 2 <= 4), key=lambda p: (len(p), p))[:k]
    doc = node.client.get(f"/en/explorer/paths?from={rid['A']}&to={rid['D']}&k={k}").get_json()
    assert [p["nodes"] for p in doc["paths"]] == expected
    assert doc["paths"][0]["institutions"] == expected[0][0::2]
    assert doc["paths"][0]["caption"] == "2 agreements"
    drawn = {e["id"] for e in doc["edges"]}
    for path in expected:
        for inst, deal in zip(path[0::2], path[1::2]):
            assert f"{inst} PARTY_TO {deal}" in drawn
    far = node.client.get(f"/en/explorer/paths?from={rid['A']}&to={rid['D']}&max_hops=1").get_json()
    assert far["paths"] == []
