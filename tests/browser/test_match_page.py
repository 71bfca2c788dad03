"""A broker opens a demand, asks for its matches and follows the best one to its technology."""
from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest


@pytest.fixture(scope="module")
def matched_demand(site) -> tuple[str, str]:
    """A demand with at least one match (the one the pages' test visits if it has any), and
    its best technology, as the JSON API ranks them."""
    first = site.rid("demand")
    for rid in dict.fromkeys([first, *(d["rid"] for d in site.records("demand"))]):
        results = site.api("/api/v1/match", demand=rid, limit=1)["results"]
        if results:
            return rid, results[0]["rid"]
    pytest.fail("no demand of the demo has a matching technology")


def test_the_best_match_opens_its_technology(browse, matched_demand):
    demand, best = matched_demand
    browse.open(f"/th/records/{demand}")
    page = browse.page
    browse.follow(page.locator("p.match-link a").click)
    url = urlsplit(page.url)
    assert url.path == "/th/match" and unquote(url.query) == f"demand={demand}", page.url
    results = page.locator("ol.matches li.result")
    assert results.count() >= 1, "the match page lists nothing"
    first = results.first
    assert first.get_attribute("data-rid") == best
    assert first.locator("meter").count() == 7, "a bar per signal"
    assert first.locator("ul.reasons li").count() >= 1, "the best match gives no reason"
    browse.shot("th", "match-demand")
    title = first.locator("a.title")
    name = title.inner_text().strip()
    assert name, "the best match has no title"
    browse.follow(title.click)
    assert unquote(urlsplit(page.url).path) == f"/th/records/{best}", page.url
    assert page.get_attribute("html", "lang") == "th"
    # the technology's page, headed by the title the match page showed
    assert page.locator("article.record.technology").count() == 1
    assert page.locator("h1").inner_text().strip() == name
    assert page.locator("p.match-link a").count() == 1, "the technology offers its own matches"
    browse.shot("th", "match-best-technology")
