"""A reader searches the catalogue in Thai, finds a technology and opens it."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def thai_technology(site) -> tuple[dict, str]:
    """A technology titled in Thai, and a Thai word of its title that finds it."""
    techs = [t for t in site.records("technology") if "th" in t["body"]["title"]]
    assert techs, "the demo holds no technology titled in Thai"
    tech = techs[0]
    return tech, site.search_word(tech["body"]["title"]["th"], tech["rid"])


def test_a_search_finds_a_record(browse, thai_technology):
    tech, word = thai_technology
    title = tech["body"]["title"]["th"]
    browse.open("/th/catalogue")
    page = browse.page
    box = page.locator('form[role="search"] input[name="q"]')
    box.fill(word)
    browse.follow(lambda: box.press("Enter"))
    assert page.locator("ol.results li").count() >= 1, f"searching {word!r} found nothing"
    links = browse.links_to(tech["rid"], within="ol.results")
    assert links, f"searching {word!r} did not list {tech['rid']}"
    assert title in links[0].inner_text()
    browse.shot("th", "catalogue-search-thai")
    browse.follow(links[0].click)
    assert page.locator("h1").inner_text().strip().startswith(title)
    assert page.get_attribute("html", "lang") == "th"
    browse.shot("th", "search-result-record")
