"""The country flows page draws its Sankey chart from the agreements, and says when a year
range holds none."""
from __future__ import annotations


def test_the_flows_chart_renders_with_data(browse, site):
    total = site.api("/api/v1/flows")["totals"]["agreements"]
    assert total > 0, "the demo holds no agreements"
    browse.open("/en/flows")
    page = browse.page
    sankey = page.locator(".sankey[data-chart]")
    assert sankey.count() == 1
    assert sankey.get_attribute("data-drawn") == "true"
    links = browse.chart(".sankey[data-chart]")["links"]
    assert links and sum(link["value"] for link in links) == total
    # a Sankey link is a curved band (cubic Bézier); a node is a straight-edged bar
    drawn = page.evaluate("""el => Array.from(el.querySelectorAll("svg path"))
        .filter(p => /C/.test(p.getAttribute("d") || "")).length""", sankey.element_handle())
    assert drawn == len(links) > 0, f"{drawn} link paths drawn for {len(links)} links"
    browse.shot("en", "flows-sankey")


def test_a_year_range_without_agreements_draws_nothing(browse, site):
    years = sorted(a["body"]["signed_on"][:4] for a in site.records("agreement")
                   if a["body"].get("signed_on"))
    assert years, "the demo's agreements carry no signing dates"
    first, last = int(years[0]) - 12, int(years[0]) - 10
    assert site.api("/api/v1/flows", **{"from": first, "to": last})["totals"]["agreements"] == 0
    browse.open("/en/flows")
    page = browse.page
    page.locator("#from").fill(str(first))
    page.locator("#to").fill(str(last))
    browse.follow(page.locator("form.search button[type=submit]").click)
    assert f"from={first}" in page.url and f"to={last}" in page.url, page.url
    empty = page.locator(".empty")
    assert empty.count() == 1 and "Nothing matches" in empty.inner_text()
    assert page.locator("[data-chart]").count() == 0
    assert page.locator("main svg").count() == 0
    browse.shot("en", "flows-empty")
