"""The match page, rendered by the real app over its real store and matcher: ranked results
with their reasons in the reader's language, the fallback marker, errors that name the field,
what each reader may see, and the record pages' links to it."""
from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from apikit import body
from babel import Locale
from babel.numbers import format_percent

from jembatan.api.i18n import LOCALES

TECH_URN = "urn:jembatan:n:technology:0190a5b0-0000-7000-8000-000000000003"


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def results_of(html: str) -> list[tuple[str, str]]:
    """(rid, html) of each ranked result, in the page's order."""
    parts = re.split(r'<li class="result" data-rid="([^"]+)">', html)
    return [(unescape(parts[i]), parts[i + 1]) for i in range(1, len(parts), 2)]


def hrefs(html: str) -> list[str]:
    return [unquote(unescape(h)) for h in re.findall(r'href="([^"]+)"', html)]


def page(node, locale: str, status: int = 200, headers: dict | None = None, **params) -> str:
    resp = node.client.get(f"/{locale}/match", query_string=params, headers=headers or {})
    assert resp.status_code == status, resp.get_data(as_text=True)[:2000]
    return resp.get_data(as_text=True)


@pytest.fixture
def records(node):
    cn = node.created("institution", body("institution", name={"zh-Hans": "广西大学"}, country="CN"))
    th = node.created("institution", {**body("institution", name={"th": "บริษัทรีไซเคิล",
                                                                 "en": "Recycling Co."},
                                             country="TH"), "kind": "enterprise"})
    my = node.created("institution", body("institution", name={"en": "Penang Cells"}, country="MY"))
    recycling = node.created("technology", body(
        "technology", title={"zh-Hans": "退役动力电池回收利用技术"}, owner=cn["rid"],
        fields=["energy_storage"], keywords=["电池回收"], trl=7))
    storage = node.created("technology", body(
        "technology", title={"en": "Battery storage cabinets for solar farms"}, owner=my["rid"],
        fields=["energy_storage"], trl=4, transfer_modes=["equity"]))
    solar = node.created("technology", body("technology", owner=cn["rid"]))
    demand = node.created("demand", body(
        "demand", title={"en": "Battery recycling for used scooter packs"}, requester=th["rid"],
        fields=["energy_storage"], trl_min=5, countries=["CN"],
        transfer_modes=["licence"]))
    deal = node.created("agreement", body("agreement", title={"en": "Cell testing services"},
                                          parties=[{"institution": cn["rid"], "role": "provider"},
                                                   {"institution": th["rid"], "role": "recipient"}],
                                          technology=solar["rid"]))
    private = node.created("demand", body("demand", requester=th["rid"]), visibility="private")
    lonely = node.created("demand", body("demand", title={"en": "Seaweed drying racks"},
                                         requester=th["rid"], fields=["marine"], countries=[]))
    return {"cn": cn, "th": th, "my": my, "recycling": recycling, "storage": storage,
            "solar": solar, "demand": demand, "deal": deal, "private": private, "lonely": lonely}


def test_results_come_in_the_matchers_order_with_their_reasons(node, records):
    rid = records["demand"]["rid"]
    html = page(node, "en", demand=rid)
    api = node.client.get("/api/v1/match", query_string={"demand": rid}).get_json()
    found = results_of(html)
    assert [r for r, _ in found] == [r["rid"] for r in api["results"]]
    assert len(found) >= 2 and found[0][0] == records["recycling"]["rid"]
    assert records["solar"]["rid"] not in html            # no evidence of relevance: not ranked
    top = found[0][1]
    words = text_of(top)
    assert hrefs(top)[0] == f"/en/records/{records['recycling']['rid']}"      # the title's link
    assert "Score " + format_percent(api["results"][0]["score"], locale="en") in words
    assert "Owner: 广西大学" in words and "China" in words
    assert "Shared concepts: battery recycling" in words
    assert "Shared fields: Energy storage" in words
    assert "TRL 7 ≥ 5 wanted" in words
    assert "The owner is in a country of interest: China" in words
    # the path: requester → their agreement → owner, each a link to its record
    path = re.search(r'<ol class="path">(.*?)</ol>', top, re.S).group(1)
    assert hrefs(path) == [f"/en/records/{records[k]['rid']}" for k in ("th", "deal", "cn")]
    assert "Cell testing services" in text_of(path) and "Recycling Co." in text_of(path)
    # one bar per signal, from the matcher's values
    meters = re.findall(r'<meter min="0" max="1" value="([0-9.]+)"', top)
    assert [float(v) for v in meters] == pytest.approx(
        [api["results"][0]["signals"][s] for s in ("text", "concepts", "fields", "trl", "modes",
                                                   "geography", "graph")], abs=1e-4)
    second = text_of(found[1][1])
    assert "TRL 4: the 5 wanted is not reached" in second
    assert "Penang Cells" in second and "Malaysia" in second
    heading = re.search(r"<h1>(.*?)</h1>", html, re.S).group(1)
    assert "Battery recycling for used scooter packs" in heading
    assert f'href="/en/records/{rid}"' in unquote(html)             # back to the demand


def test_the_thai_page_speaks_thai(node, records):
    html = page(node, "th", demand=records["demand"]["rid"])
    thai = Locale.parse("th")
    assert '<html lang="th">' in html
    words = text_of(html)
    for english in ("Technologies for this demand", "Shared fields", "Text similarity",
                    "Owner", "Score"):
        assert english not in words
    assert "เทคโนโลยีสำหรับความต้องการนี้" in words            # the heading, from the catalog
    assert thai.territories["CN"] in words and thai.territories["MY"] in words
    assert "การกักเก็บพลังงาน" in words                              # the field's Thai label
    top = results_of(html)[0][1]
    api = node.client.get("/api/v1/match", query_string={"demand": records["demand"]["rid"]})
    assert format_percent(api.get_json()["results"][0]["score"], locale="th") in text_of(top)


def test_a_title_in_another_language_is_marked(node, records):
    html = page(node, "th", demand=records["demand"]["rid"])
    title = re.search(r'<a class="title"[^>]*>(.*?)</a>', results_of(html)[0][1], re.S).group(1)
    assert '<span lang="zh-Hans">退役动力电池回收利用技术</span>' in title
    marker = re.search(r'<small class="fallback">([^<]+)</small>', title)
    assert marker and Locale.parse("th").languages["zh"] in unescape(marker.group(1))
    html = page(node, "zh-Hans", demand=records["demand"]["rid"])
    title = re.search(r'<a class="title"[^>]*>(.*?)</a>', results_of(html)[0][1], re.S).group(1)
    assert 'class="fallback"' not in title


def test_demands_for_a_technology(node, records):
    html = page(node, "en", technology=records["recycling"]["rid"], limit=1)
    found = results_of(html)
    assert [r for r, _ in found] == [records["demand"]["rid"]]
    words = text_of(html)
    assert "Demands for this technology" in words and "Requester: Recycling Co." in words
    assert "Show more matches" in words          # a full page of one: more are offered
    more = unquote(unescape(re.search(r'<a href="([^"]+)">Show more matches</a>', html).group(1)))
    assert parse_qs(urlsplit(more).query) == {"technology": [records["recycling"]["rid"]],
                                              "limit": ["50"]}


def test_no_match_is_said_in_words(node, records):
    html = page(node, "en", demand=records["lonely"]["rid"])
    assert results_of(html) == []
    assert "No technology matches this demand yet." in text_of(html)


@pytest.mark.parametrize("params, field", [
    ({}, "demand"),
    ({"demand": "x"}, "demand"),
    ({"demand": TECH_URN}, "demand"),
    ({"technology": TECH_URN, "limit": "51"}, "limit"),
    ({"technology": TECH_URN, "limit": "ten"}, "limit"),
])
def test_bad_input_names_the_field(node, records, params, field):
    before = node.snapshot()
    html = page(node, "en", 400, **params)
    assert f"<code>{field}</code>" in html
    assert node.snapshot() == before


def test_both_sides_at_once_are_refused(node, records):
    html = page(node, "en", 400, demand=records["demand"]["rid"],
                technology=records["recycling"]["rid"])
    assert "<code>technology</code>" in html and "not both" in html


def test_the_problem_is_told_in_the_readers_language(node, records):
    html = page(node, "th", 400, demand="x")
    detail = re.search(r"<code>demand</code>: ([^<]+)", html).group(1)
    assert "record identifier" not in detail and re.search("[\u0e00-\u0e7f]", detail)


def test_a_withdrawn_technology_is_refused_by_name(node, records):
    gone = node.created("technology", body("technology", stage="withdrawn"))
    html = page(node, "en", 400, technology=gone["rid"])
    assert "<code>technology</code>" in html and "withdrawn" in html
    record = node.client.get(f"/en/records/{gone['rid']}").get_data(as_text=True)
    assert "/match?" not in record                    # and its page offers no matching


def test_what_the_reader_may_not_see_does_not_exist(node, records):
    rid = records["private"]["rid"]
    page(node, "en", 404, demand=rid)
    page(node, "en", 404, demand="urn:jembatan:x:demand:0190a5b0-0000-7000-8000-00000000ffff")
    html = page(node, "en", 200, headers=node.headers("viewer"), demand=rid)
    assert "Technologies for this demand" in html
    # a private demand is never a result for an anonymous reader
    html = page(node, "en", technology=records["recycling"]["rid"], limit=50)
    assert rid not in html


@pytest.mark.parametrize("kind, other, words", [
    ("technology", "demand", "Find matching demands"),
    ("demand", "technology", "Find matching technologies"),
])
def test_the_record_page_links_to_its_matches(node, records, kind, other, words):
    rid = records["recycling" if kind == "technology" else "demand"]["rid"]
    html = node.client.get(f"/en/records/{rid}").get_data(as_text=True)
    link = re.search(r'<p class="match-link"><a href="([^"]+)">([^<]+)</a>', html)
    assert link and link.group(2) == words
    url = urlsplit(unquote(unescape(link.group(1))))
    assert url.path == "/en/match" and parse_qs(url.query) == {kind: [rid]}
    assert node.client.get(unescape(link.group(1))).status_code == 200
    institution = node.client.get(f"/en/records/{records['cn']['rid']}").get_data(as_text=True)
    assert "match-link" not in institution


@pytest.mark.parametrize("locale", LOCALES)
def test_every_locale_serves_the_page_without_inline_style_or_script(node, records, locale):
    resp = node.client.get(f"/{locale}/match", query_string={"demand": records["demand"]["rid"]})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert f'<html lang="{locale}">' in html and results_of(html)
    assert " style=" not in html and "<script" not in html
    assert "style-src 'self'" in resp.headers["Content-Security-Policy"]
