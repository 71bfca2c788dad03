"""The catalogue's facet counts: each choice's count is what choosing it would list."""
from __future__ import annotations

import re
from html import unescape

import pytest
from apikit import body

from jembatan.api.facets import facet_counts
from jembatan.api.records import RESOURCE_KINDS
from jembatan.graph.store import LOCAL, PUBLIC, RecordQuery


@pytest.fixture
def catalogue(node):
    owners = {c: node.created("institution", body("institution", country=c))["rid"]
              for c in ("TH", "VN", "CN")}
    specs = [("TH", 3, "registered", ["new_energy"]), ("TH", 6, "matched", ["new_energy", "ict"]),
             ("VN", 6, "registered", ["ict"]), ("CN", 9, "transferred", ["marine"]),
             ("CN", 6, "registered", ["new_energy"])]
    for country, trl, stage, fields in specs:
        node.created("technology", body("technology", owner=owners[country], trl=trl, stage=stage,
                                        fields=fields))
    node.created("technology", body("technology", owner=owners["CN"], trl=4), visibility="private")
    node.created("demand", body("demand", requester=owners["VN"], trl_min=6, fields=["ict"]))
    node.created("agreement", body("agreement", parties=[
        {"institution": owners["CN"], "role": "provider"},
        {"institution": owners["TH"], "role": "recipient"}]))
    return owners


def listed(store, scope, kind=None, **filters) -> int:
    trl = filters.pop("trl", None)
    q = RecordQuery(kinds=(kind,) if kind else RESOURCE_KINDS, scope=scope, trl_min=trl,
                    trl_max=trl, limit=500, **filters)
    return len(store.list(q).items)


@pytest.mark.parametrize("scope", [PUBLIC, LOCAL])
@pytest.mark.parametrize("given", [{}, {"country": "TH"}, {"field": "new_energy"}, {"trl": 6},
                                   {"stage": "registered", "country": "CN"}])
@pytest.mark.parametrize("kind", ["technology", "demand", "institution", "agreement"])
def test_every_count_is_what_the_choice_lists(node, catalogue, scope, given, kind):
    args = {"q": None, "kind": kind, "country": None, "field": None, "trl": None, "stage": None,
            **given}
    facets = facet_counts(node.store, scope, RESOURCE_KINDS, args)
    filters = {k: v for k, v in given.items()}
    for k, n in facets["kind"].items():
        if n is not None:
            assert n == listed(node.store, scope, k, **filters), (k, filters)
    checked = 0
    for facet in ("country", "field", "trl", "stage"):
        for value, n in facets.get(facet, {}).items():
            chosen = dict(filters, **{facet: value})
            assert n == listed(node.store, scope, kind, **chosen), (facet, value, chosen)
            checked += 1
    if kind == "technology" or (kind == "demand" and "stage" not in given):
        assert checked > 0


def test_the_page_shows_counts_beside_the_choices(node, catalogue):
    html = node.client.get("/en/catalogue?kind=technology").get_data(as_text=True)
    thailand = re.search(r'<option value="TH"[^>]*>([^<]+)</option>', html).group(1)
    assert unescape(thailand) == "Thailand (2)"
    tech = re.search(r'<option value="technology"[^>]*>([^<]+)</option>', html).group(1)
    assert tech.endswith("(5)")          # the private one is not counted for visitors
    # a text search has no counts
    html = node.client.get("/en/catalogue?kind=technology&q=solar").get_data(as_text=True)
    assert re.search(r'<option value="TH"[^>]*>Thailand</option>', html)
