"""Every page in zh-Hans, Thai, Burmese and English renders in a real browser with no error:
the locale in ``<html lang>``, a title and a heading, a screenshot kept; the home page's
charts are drawn; the language switcher keeps the page; a record shown in another language
than the reader's says so."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

LOCALES = ("zh-Hans", "th", "my", "en")
PAGES = ("home", "catalogue", "catalogue-search", "flows", "technology", "demand", "agreement",
         "event", "institution", "explorer", "events", "federation", "staff-login", "match")
RECORD_KINDS = ("technology", "demand", "agreement", "event", "institution")
FIXED = {"home": "/", "catalogue": "/catalogue", "flows": "/flows", "explorer": "/explorer",
         "events": "/events", "federation": "/federation", "staff-login": "/staff/login"}


@pytest.fixture(scope="module")
def english_word(site) -> str:
    """A word of a technology's English title that finds it."""
    tech = next(t for t in site.records("technology") if "en" in t["body"]["title"])
    return site.search_word(tech["body"]["title"]["en"], tech["rid"])


@pytest.fixture(scope="module")
def record_rids(site) -> dict[str, str]:
    return {kind: site.rid(kind) for kind in RECORD_KINDS}


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize("locale", LOCALES)
def test_every_page_renders_in_the_locale(browse, locale, name, english_word, record_rids):
    if name in FIXED:
        path = FIXED[name]
    elif name == "catalogue-search":
        path = f"/catalogue?q={english_word}"
    elif name == "match":
        path = f"/match?demand={record_rids['demand']}"
    else:
        path = f"/records/{record_rids[name]}"
    browse.open(f"/{locale}{path}", shot=(locale, name))
    page = browse.page
    assert page.get_attribute("html", "lang") == locale
    assert page.title().strip(), "the page has no <title>"
    assert page.locator("h1").count() >= 1, "the page has no <h1>"
    assert page.locator("h1").first.inner_text().strip(), "the page's <h1> is empty"
    if name == "catalogue-search":
        assert page.locator("ol.results li").count() >= 1, f"{english_word!r} found nothing"


@pytest.mark.parametrize("locale", LOCALES)
def test_the_home_charts_are_drawn(browse, locale):
    browse.open(f"/{locale}/", shot=(locale, "home-charts"))
    page = browse.page
    charts = page.locator("[data-chart]")
    assert charts.count() >= 2, "the home page has lost its charts"
    for i in range(charts.count()):
        chart = charts.nth(i)
        assert chart.get_attribute("data-drawn") == "true", f"chart {i} was not drawn"
        assert chart.locator("svg").count() == 1, f"chart {i} has no SVG"
        values = browse.page.evaluate("el => JSON.parse(el.dataset.chart).values", chart.element_handle())
        # a bar is a filled closed path; the axes and grid lines have fill="none"
        bars = chart.locator("svg path[fill]:not([fill='none'])").count()
        assert bars >= sum(1 for v in values if v) > 0, \
            f"chart {i}: {bars} bars drawn for values {values}"


def test_the_site_has_an_icon(browse, site):
    """Browsers ask for the site's icon: the one a page names, else /favicon.ico."""
    browse.open("/en/")
    declared = browse.page.locator('link[rel~="icon"]')
    href = declared.first.get_attribute("href") if declared.count() else "/favicon.ico"
    icon = browse.page.request.get(href)
    assert icon.status == 200 and icon.headers.get("content-type", "").startswith("image/"), \
        f"GET {href}: HTTP {icon.status} {icon.headers.get('content-type')}"


def test_the_language_switcher_keeps_the_page(browse):
    browse.open("/th/catalogue?kind=technology")
    page = browse.page
    browse.follow(page.locator('nav.languages a[hreflang="my"]').click)
    url = urlsplit(page.url)
    assert (url.path, url.query) == ("/my/catalogue", "kind=technology"), page.url
    assert page.get_attribute("html", "lang") == "my"
    assert page.locator("select[name=kind]").input_value() == "technology"
    browse.shot("my", "catalogue-technologies")


@pytest.fixture(scope="module")
def chinese_only(site) -> tuple[str, str]:
    """A technology titled only in Chinese (the demo has one), its rid and title; made
    through the API if the demo lacks it."""
    for tech in site.records("technology"):
        title = tech["body"]["title"]
        if list(title) == ["zh-Hans"]:
            return tech["rid"], title["zh-Hans"]
    made = site.create("technology", {
        "title": {"zh-Hans": "热带水果冷冻干燥加工示范线"}, "owner": site.rid("institution"),
        "fields": ["food_processing"], "trl": 6, "transfer_modes": ["licence"],
        "stage": "registered"})
    return made["rid"], "热带水果冷冻干燥加工示范线"


def test_a_title_in_another_language_is_marked(browse, chinese_only):
    rid, title = chinese_only
    browse.open(f"/th/records/{rid}")
    page = browse.page
    heading = page.locator("h1")
    assert heading.locator('[lang="zh-Hans"]').inner_text() == title
    marker = heading.locator(".fallback")
    assert marker.count() == 1, "the Chinese title is not marked as a fallback"
    assert marker.inner_text().strip(), "the fallback marker is empty"
    # the marker speaks Thai, and names the language shown
    assert any("\u0e00" <= ch <= "\u0e7f" for ch in marker.inner_text()), marker.inner_text()
    browse.shot("th", "record-fallback")
