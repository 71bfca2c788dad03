"""The localized pages over the graph benchmark's SQLite store (``bench_graph``), rendered
in-process by the Flask test client: what a reader waits for beyond the network.

Each page is asked for with varied arguments (other institutions, countries, months) so the
figures are not one cached answer; an institution's page builds the partnership graph on
its first call after a change (``analytics.GraphCache``), which is reported on its own.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from jembatan.api.app import create_app
from jembatan.api.node import init_node
from jembatan.graph.store import PUBLIC, RecordQuery

from .bench_graph import dataset, open_sqlite
from .common import OUT, percentiles, table

CALLS = 40
COUNTRIES = ("CN", "TH", "ID", "VN", "MY", "PH", "SG", "KH", "LA", "MM", "BN")


def _pages(store, meta: dict) -> dict[str, list[str]]:
    institutions = meta["institutions"][:CALLS]
    techs = [r.rid for r in store.list(RecordQuery(kinds=("technology",), scope=PUBLIC,
                                                   limit=CALLS)).items]
    months = [f"{2019 + i % 7}-{1 + i % 12:02d}" for i in range(CALLS)]
    return {
        "home": ["/th/"] * CALLS,
        "catalogue, a kind and a country (with facet counts)": [
            f"/th/catalogue?kind=technology&country={COUNTRIES[i % 11]}" for i in range(CALLS)],
        "catalogue, a text search": [f"/th/catalogue?q={w}" for w in
                                     ("solar", "rice", "vaccine", "battery", "fish") * (CALLS // 5)],
        "country flows (Sankey, corridors, matrix)": [
            f"/th/flows?from={2019 + i % 5}&to={2021 + i % 5}" for i in range(CALLS)],
        "events calendar, a month": [f"/th/events?month={m}" for m in months],
        "federation status": ["/th/federation"] * CALLS,
        "a technology": [f"/th/records/{rid}" for rid in techs],
        "an institution (partners, summary, suggestions)": [
            f"/th/records/{rid}" for rid in institutions],
        "explorer focused on an institution": [f"/th/explorer?focus={rid}" for rid in institutions],
    }


def run(n: int) -> list[list]:
    base = OUT / "graph" / str(n)
    base.mkdir(parents=True, exist_ok=True)
    meta = dataset(n, base)
    store, _ = open_sqlite(base, meta)
    pages = _pages(store, meta)
    store.close()
    home = Path(tempfile.mkdtemp(prefix="bench-views-")) / "node"
    init_node(home, name="Bench node", country="ID")
    app = create_app({"JEMBATAN_HOME": str(home), "JEMBATAN_STORE": f"sqlite:///{base / 'node.db'}"})
    client = app.test_client()
    rows = []
    try:
        start = time.perf_counter()
        assert client.get(pages["an institution (partners, summary, suggestions)"][0]).status_code == 200
        rows.append(["an institution, first after a change (builds the partnership graph)",
                     f"{(time.perf_counter() - start) * 1000:,.0f}", ""])
        for name, urls in pages.items():
            print(f"  {name}", flush=True)
            samples = []
            for url in urls:
                t = time.perf_counter()
                status = client.get(url).status_code
                samples.append(time.perf_counter() - t)
                assert status == 200, (url, status)
            p = percentiles(samples)
            rows.append([name, f"{p['p50_ms']:.1f}", f"{p['p99_ms']:.1f}"])
    finally:
        app.extensions["jembatan"].close()
    return rows


def tables(sizes: list[int]) -> list[str]:
    return [table(f"Pages at {n:,} agreements (SQLite; Flask test client, in-process, Thai)",
                  ["page", "p50 ms", "p99 ms"], run(n)) for n in sizes]
