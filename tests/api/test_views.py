"""The localized pages, rendered by the real app over its real store: locales in the URL,
negotiation, CLDR formatting, content fallback, escaping and the security headers."""
from __future__ import annotations

import re
from html import unescape

import pytest
from apikit import body
from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency

from jembatan.api.i18n import LOCALES


def text_of(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize("locale", LOCALES)
def test_every_locale_serves_the_home_page(node, locale):
    node.created("institution")
    r = node.client.get(f"/{locale}/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert f'<html lang="{locale}">' in html
    for other in LOCALES:      # the switcher keeps the page and changes the language
        assert f'href="/{other}/"' in html
    assert r.headers["Content-Language"] == locale


def test_an_unknown_locale_is_not_found(node):
    assert node.client.get("/xx/").status_code == 404


@pytest.mark.parametrize("header, locale", [
    ("th-TH,th;q=0.9,en;q=0.5", "th"), ("zh-TW", "zh-Hant"), ("zh-CN,zh;q=0.9", "zh-Hans"),
    ("my", "my"), (None, "en"), ("de-DE", "en")])
def test_the_root_negotiates_the_locale(node, header, locale):
    r = node.client.get("/", headers={"Accept-Language": header} if header else {})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/{locale}/")
    assert "Accept-Language" in r.headers["Vary"]


def test_pages_carry_the_security_headers(node):
    r = node.client.get("/en/catalogue")
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in r.get_data(as_text=True)     # no inline script


def test_the_home_page_formats_with_cldr(node):
    node.created("institution")
    node.created("agreement")
    html = node.client.get("/th/").get_data(as_text=True)
    thai = Locale.parse("th")
    assert thai.territories["ID"] in html                      # Indonesia, in Thai
    assert format_currency(2500000, "CNY", locale="th") in html


def test_a_record_shown_in_another_language_is_marked(node):
    tech = node.created("technology", body("technology", title={"zh-Hans": "高效钙钛矿太阳能电池"}))
    html = node.client.get(f"/th/records/{tech['rid']}").get_data(as_text=True)
    assert "高效钙钛矿太阳能电池" in html
    marker = re.search(r'<small class="fallback">([^<]+)</small>', html)
    assert marker and Locale.parse("th").languages["zh"] in unescape(marker.group(1))
    html = node.client.get(f"/zh-Hans/records/{tech['rid']}").get_data(as_text=True)
    assert 'class="fallback"' not in html


def test_a_record_page_formats_dates_and_money(node):
    demand = node.created("demand")
    html = node.client.get(f"/vi/records/{demand['rid']}").get_data(as_text=True)
    assert format_date(__import__("datetime").date(2026, 12, 31), "medium", locale="vi") in html
    assert format_currency(150000, "USD", locale="vi") in html


def test_the_home_page_dates_what_comes_and_what_was_signed(node):
    from datetime import date, timedelta

    soon = date.today() + timedelta(days=40)
    node.created("event", dict(body("event"), starts_on=soon.isoformat(),
                               ends_on=soon.isoformat()))
    node.created("agreement")                      # signed 2025-03-01
    html = node.client.get("/th/").get_data(as_text=True)
    assert format_date(soon, "long", locale="th") in html
    assert format_date(date(2025, 3, 1), "long", locale="th") in html


def test_the_catalogue_finds_and_filters(node):
    node.created("technology")
    node.created("demand")
    html = node.client.get("/en/catalogue?q=perovskite").get_data(as_text=True)
    assert "Efficient perovskite solar cells" in html and "Smart irrigation" not in html
    html = node.client.get("/en/catalogue?kind=demand").get_data(as_text=True)
    assert "Smart irrigation system" in html and "perovskite" not in text_of(html).split("Search")[-1]
    # the form sends its empty choices too: they filter nothing
    r = node.client.get("/en/catalogue?q=perovskite&kind=&country=&field=&trl=&stage=")
    assert r.status_code == 200 and "Efficient perovskite solar cells" in r.get_data(as_text=True)


def test_a_bad_filter_names_the_field_and_changes_nothing(node):
    r = node.client.get("/en/catalogue?trl=12")
    assert r.status_code == 400 and "<code>trl</code>" in r.get_data(as_text=True)


def test_record_text_is_escaped(node):
    tech = node.created("technology", body("technology", title={"en": "<script>alert(1)</script>"}))
    html = node.client.get(f"/en/records/{tech['rid']}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_a_missing_record_is_a_localized_404(node):
    r = node.client.get("/en/records/urn:jembatan:x:technology:0190a5b0-0000-7000-8000-00000000ffff")
    assert r.status_code == 404


@pytest.mark.parametrize("locale, folder", [("th", "th"), ("my", "my"), ("zh-Hans", "zh_Hans")])
def test_pages_speak_the_catalogs_language(node, locale, folder):
    from babel.messages.pofile import read_po

    from jembatan.api.i18n import TRANSLATIONS_DIR

    with open(TRANSLATIONS_DIR / folder / "LC_MESSAGES" / "messages.po", "rb") as f:
        catalog = read_po(f)
    html = node.client.get(f"/{locale}/catalogue").get_data(as_text=True)
    for msgid in ("Catalogue", "Search in any language", "Every country"):
        assert catalog[msgid].string and catalog[msgid].string in html
        assert msgid not in text_of(html)


def chart_of(html: str, css: str) -> dict:
    import json

    found = re.search(rf'class="chart {css}" data-chart="([^"]+)"', html)
    return json.loads(unescape(found.group(1)))


def test_the_flows_page_draws_every_agreement_once(node):
    node.created("institution")
    for _ in range(3):
        node.created("agreement")
    html = node.client.get("/th/flows").get_data(as_text=True)
    sankey = chart_of(html, "sankey")
    assert sum(link["value"] for link in sankey["links"]) == 3
    assert set(sankey["names"].values()) <= {Locale.parse("th").territories[c] for c in ("ID", "ZZ")}
    csv_link = re.search(r'class="csv" href="([^"]+)"', html).group(1)
    rows = node.client.get(unescape(csv_link)).get_data(as_text=True).strip().splitlines()
    assert len(rows) >= 2       # the CSV of the same filters: a header and the pair
    assert format_currency(7500000, "CNY", locale="th") in html


def test_the_flows_matrix_sums_to_the_agreements(node):
    for _ in range(3):
        node.created("agreement")
    html = node.client.get("/th/flows").get_data(as_text=True)
    matrix = re.search(r'<table class="data matrix">(.*?)</table>', html, re.S).group(1)
    values = [int(v) for v in re.findall(r'<td class="value[^"]*">(\d+)</td>', matrix)]
    assert sum(values) == 3 and max(values) >= 1
    heads = {unescape(h) for h in re.findall(r'<th scope="(?:row|col)">([^<]+)</th>', matrix)}
    assert heads & set(Locale.parse("th").territories.values())      # countries named in Thai


def test_the_flows_page_filters_by_period(node):
    node.created("agreement")
    html = node.client.get("/en/flows?from=2026&to=2030&kind=").get_data(as_text=True)
    assert 'class="chart sankey"' not in html and 'class="empty"' in html


@pytest.mark.parametrize("query", ["from=abc", "from=2025&to=2020", "kind=barter"])
def test_a_bad_flow_filter_names_its_field(node, query):
    r = node.client.get(f"/en/flows?{query}")
    assert r.status_code == 400
    field = "kind" if "kind" in query else "from"
    assert f"<code>{field}</code>" in r.get_data(as_text=True)
