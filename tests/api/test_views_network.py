"""The events calendar and the federation status pages, over the real app and store."""
from __future__ import annotations

import re
import time
from datetime import date, datetime, timedelta, timezone
from html import unescape

import pytest
from apikit import body
from babel import Locale
from babel.dates import format_skeleton
from babel.numbers import format_decimal

from jembatan.sync.peers import PEERS_FILE, Peers


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def event(node, name: str, starts: str, ends: str | None = None, *, visibility="public", **kw):
    data = dict(body("event"), name={"en": name}, starts_on=starts, ends_on=ends or starts, **kw)
    return node.created("event", data, visibility=visibility)


def test_a_month_shows_the_events_that_begin_in_it(node):
    inside = event(node, "Nanning matchmaking", "2025-09-17", "2025-09-18")
    event(node, "Bangkok roadshow", "2025-10-02", kind="roadshow", country="TH")
    html = node.client.get("/en/events?month=2025-09").get_data(as_text=True)
    assert "Nanning matchmaking" in html and "Bangkok roadshow" not in html
    assert f'/en/records/{inside["rid"]}' in html
    assert "1 event begins this month" in text_of(html)
    assert 'href="/en/events?month=2025-08"' in html and 'href="/en/events?month=2025-10"' in html


def test_the_calendar_speaks_the_readers_language(node):
    event(node, "Forum", "2025-09-17")
    html = node.client.get("/th/events?month=2025-09").get_data(as_text=True)
    thai = Locale.parse("th")
    assert format_skeleton("yMMMM", date(2025, 9, 1), locale=thai) in html     # กันยายน 2568
    first = thai.first_week_day
    heads = re.findall(r'<th scope="col">([^<]+)</th>', html)
    assert heads == [thai.days["stand-alone"]["abbreviated"][(first + i) % 7] for i in range(7)]
    # Burmese numbers its days in its own digits, as CLDR says
    html = node.client.get("/my/events?month=2025-09").get_data(as_text=True)
    assert f'<span class="day">{format_decimal(17, locale="my")}</span>' in html


def test_private_events_are_shown_only_to_the_node(node):
    event(node, "Closed meeting", "2025-09-20", visibility="private")
    assert "Closed meeting" not in node.client.get("/en/events?month=2025-09").get_data(as_text=True)
    assert "Closed meeting" in node.client.get(
        "/en/events?month=2025-09", headers=node.headers("viewer")).get_data(as_text=True)


def test_country_and_kind_narrow_the_month(node):
    event(node, "Kuala Lumpur salon", "2025-09-03", kind="salon", country="MY")
    event(node, "Nanning forum", "2025-09-04", kind="forum", country="CN")
    html = node.client.get("/en/events?month=2025-09&country=MY").get_data(as_text=True)
    assert "Kuala Lumpur salon" in html and "Nanning forum" not in html
    html = node.client.get("/en/events?month=2025-09&kind=forum").get_data(as_text=True)
    assert "Nanning forum" in html and "Kuala Lumpur salon" not in html


def test_without_a_month_the_calendar_opens_where_events_are(node):
    today = datetime.now(timezone.utc).date()
    month = lambda day: format_skeleton("yMMMM", day, locale="en")     # noqa: E731
    assert month(today) in node.client.get("/en/events").get_data(as_text=True)
    past = today - timedelta(days=200)
    event(node, "Past expo", past.isoformat())
    html = node.client.get("/en/events").get_data(as_text=True)
    assert "Past expo" in html and f"<h2>{month(past)}</h2>" in html
    soon = today + timedelta(days=100)
    upcoming = event(node, "Next summit", soon.isoformat())
    html = node.client.get("/en/events").get_data(as_text=True)
    assert f"<h2>{month(soon)}</h2>" in html
    # in the grid, in the month's list and under "coming up"
    assert html.count(f'href="/en/records/{upcoming["rid"]}"') == 3


@pytest.mark.parametrize("query, field", [("month=2025-13", "month"), ("month=25-09", "month"),
                                          ("country=XX", "country"), ("kind=party", "kind")])
def test_bad_calendar_filters_are_named(node, query, field):
    r = node.client.get(f"/th/events?{query}")
    assert r.status_code == 400
    assert field in r.get_data(as_text=True)


def test_the_federation_page_shows_peers_lag_and_quarantine(node):
    peers = Peers(node.home / PEERS_FILE)
    peers.add("http://127.0.0.1:9/", "node-b")
    peers.add("http://127.0.0.1:10/", "node-c")
    now = time.time()
    peers.record_attempt("http://127.0.0.1:9/", ok=True, now=now - 120, lag=42)
    peers.record_attempt("http://127.0.0.1:10/", ok=False, now=now - 60, error="connection refused")
    node.created("institution")
    html = node.client.get("/en/federation").get_data(as_text=True)
    text = text_of(html)
    assert "node-b" in text and "node-c" in text
    assert "42" in text and "2 minutes ago" in text
    assert "Failing" in text and "connection refused" in text
    assert "not yet in step" in text
    assert "Nothing is quarantined." in text
    html = node.client.get("/th/federation").get_data(as_text=True)
    assert "ago" not in html                       # times are said in Thai
    assert "node-b" in html


def test_quarantined_entries_are_listed_for_the_node_only(node):
    from jembatan.graph.store import Quarantined

    node.store.apply([], quarantine=[Quarantined(peer="node-b", reason="signature",
                                                 detail="bad signature", text="{}", rid=None)])
    anonymous = node.client.get("/en/federation").get_data(as_text=True)
    assert "signature" in anonymous and "bad signature" not in anonymous
    staff = node.client.get("/en/federation", headers=node.headers("viewer")).get_data(as_text=True)
    assert "bad signature" in staff
