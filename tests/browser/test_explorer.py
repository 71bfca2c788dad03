"""The graph explorer: it opens on an institution's neighbourhood, expands a node into its
neighbours, and finds the partnership paths between two institutions.

The explorer's DOM contract: ``#graph`` carries ``data-ready="true"`` after the first draw and
``data-nodes``/``data-edges`` after each; ``#node-list`` has a ``button.expand[data-id]`` per
drawn node; the path form is ``#path-from``, ``#path-to`` and ``button#find-path``, and its
answer goes in ``#path-result``.
"""
from __future__ import annotations

from collections import deque

import pytest

LOCALE = "en"
#: nodes the explorer draws whatever its filters' defaults are
CORE = (":institution:", ":agreement:")


def drawn_nodes(page) -> int:
    return int(page.locator("#graph").get_attribute("data-nodes") or 0)


def open_explorer(browse, focus: str) -> None:
    browse.open(f"/{LOCALE}/explorer?focus={focus}")
    browse.page.wait_for_selector('#graph[data-ready="true"]')


def test_the_explorer_expands_a_node(browse, site):
    focus = site.busiest_institution()
    open_explorer(browse, focus)
    page = browse.page
    before = drawn_nodes(page)
    assert before >= 2, f"the explorer drew {before} node(s) around {focus}"
    shown = {b.get_attribute("data-id") for b in page.locator("#node-list button.expand[data-id]").all()}
    assert focus in shown, f"the focus is not in #node-list: {sorted(shown)}"
    assert len(shown) == before, f"#node-list lists {len(shown)} nodes, the graph {before}"
    browse.shot(LOCALE, "explorer-focus")
    # a drawn node whose own neighbourhood (as the JSON API sees it) brings an institution or
    # an agreement the explorer does not show yet
    target = None
    for node in sorted(shown - {focus}, key=lambda n: (not any(c in n for c in CORE), n)):
        around = site.api(f"/api/v1/graph/neighbours/{node}")["nodes"]
        if any(n["id"] not in shown and any(c in n["id"] for c in CORE) for n in around):
            target = node
            break
    assert target, "no drawn node has neighbours beyond the focus's neighbourhood"
    page.locator(f'#node-list button.expand[data-id="{target}"]').click()
    page.wait_for_function("n => Number(document.querySelector('#graph').dataset.nodes) > n",
                           arg=before)
    browse.settle()
    after = drawn_nodes(page)
    listed = page.locator("#node-list button.expand[data-id]").count()
    assert after > before and listed == after, (before, after, listed)
    browse.shot(LOCALE, "explorer-expanded")


@pytest.fixture(scope="module")
def two_institutions(site) -> tuple[str, str, dict]:
    """Two institutions two agreements apart (one apart if the demo has no such pair), with
    the paths the JSON API finds between them."""
    partners = site.partnerships()
    start = site.busiest_institution()
    hops = {start: 0}
    queue = deque([start])
    while queue:
        here = queue.popleft()
        for there in sorted(partners.get(here, ())):
            if there not in hops:
                hops[there] = hops[here] + 1
                queue.append(there)
    far = sorted((n for n, h in hops.items() if 1 <= h <= 2), key=lambda n: (-hops[n], n))
    assert far, f"{start} has no partner"
    paths = site.api("/api/v1/graph/paths", **{"from": start, "to": far[0]})
    assert paths["paths"], f"the API finds no path from {start} to {far[0]}"
    return start, far[0], paths


def test_the_explorer_finds_a_path(browse, site, two_institutions):
    start, end, found = two_institutions
    open_explorer(browse, start)
    page = browse.page
    page.locator("#path-from").fill(start)
    page.locator("#path-to").fill(end)
    page.locator("button#find-path").click()
    result = page.locator("#path-result")
    result.locator("li").first.wait_for()
    browse.settle()
    html, text = result.inner_html(), result.inner_text()

    def listed(rid: str) -> bool:
        # an institution is listed by its page's link or id, or by its English name
        name = (found["nodes"].get(rid, {}).get("name") or {}).get("en")
        return rid in html or bool(name and name in text)

    institutions = [[n for n in path["nodes"] if ":institution:" in n] for path in found["paths"]]
    assert any(all(listed(rid) for rid in path) for path in institutions), \
        f"#path-result lists none of the API's paths {institutions}: {text!r}"
    browse.shot(LOCALE, "explorer-path")
