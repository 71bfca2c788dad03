"""SQLite and Neo4j side by side on the same generated data: import (apply) rate, get, list,
search and the 2-hop neighbourhood, at each size, with the Neo4j/SQLite ratio.

The Neo4j server is the one the tests use (tests/neo4j_server.py, built by ``make neo4j``),
sized for a 10^6-record run on this machine.
"""
from __future__ import annotations

import random
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

from jembatan.graph import open_store
from jembatan.graph.prepare import prepare
from jembatan.graph.store import LOCAL, RecordQuery
from jembatan.network import demo

from .common import OUT, measure

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from neo4j_server import Neo4jServer  # noqa: E402

QUERIES = 500
HEAP, PAGECACHE = "4g", "6g"


def _workload(store, rng: random.Random) -> dict[str, dict]:
    techs = store.list(RecordQuery(kinds=("technology",), scope=LOCAL, limit=500)).items
    last = store.last_seq()
    spread = [r for r in store.changes(rng.randrange(max(1, last - 1000)), 500)
              if r.envelope["kind"] == "technology"]
    rids = [r.rid for r in techs + spread]
    owners = list({r.envelope["body"]["owner"] for r in techs + spread})
    filters = [RecordQuery(kinds=("technology",), limit=20),
               RecordQuery(kinds=("technology",), country="TH", limit=20),
               RecordQuery(kinds=("technology",), field="energy_storage", trl_min=5, limit=20),
               RecordQuery(kinds=("technology",), stage="negotiating", limit=20)]
    pages = []
    for q in filters:
        page = store.list(q)
        for _ in range(3):
            if page.next_cursor:
                pages.append(replace(q, cursor=page.next_cursor))
                page = store.list(pages[-1])
    words = ["电池", "水稻", "储能", "芯片", "พลังงาน", "ข้าว", "baterai", "padi", "battery", "rice",
             "năng lượng", "sensor"]
    search_q = RecordQuery(kinds=("technology",), limit=20)
    return {
        "get": measure(lambda rid: store.get(rid, LOCAL), [rng.choice(rids) for _ in range(QUERIES * 4)]),
        "list, first page": measure(store.list, [rng.choice(filters) for _ in range(QUERIES)]),
        "list, cursor page": measure(store.list, [rng.choice(pages) for _ in range(QUERIES)]),
        "search": measure(lambda w: store.search(w, search_q), [rng.choice(words) for _ in range(QUERIES)]),
        "2-hop neighbourhood (institution)": measure(
            lambda rid: store.neighbours(rid, 2, LOCAL, 500), [rng.choice(owners) for _ in range(QUERIES)]),
        "2-hop neighbourhood (technology)": measure(
            lambda rid: store.neighbours(rid, 2, LOCAL, 500), [rng.choice(rids) for _ in range(QUERIES)]),
    }


def _load(url: str, records: list) -> tuple[object, float]:
    store = open_store(url)
    start = time.perf_counter()
    for i in range(0, len(records), 100_000):   # 100,000 records per transaction
        store.apply(records[i:i + 100_000], trusted=True)
    return store, len(records) / (time.perf_counter() - start)


def run(sizes: list[int]) -> list[list]:
    rows = []
    for n in sizes:
        print(f"  preparing {n:,} technologies", flush=True)
        records = [prepare(env) for env in demo.technologies(n, origin="bench-node")]
        results = {}
        base = OUT / "backends" / str(n)
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        server = Neo4jServer(base / "neo4j", heap=HEAP, pagecache=PAGECACHE).start()
        try:
            for name, url in (("sqlite", f"sqlite:///{base / 'node.db'}"), ("neo4j", server.url)):
                store, rate = _load(url, records)
                print(f"  {name} {n:,}: apply {rate:,.0f} records/s", flush=True)
                results[name] = {"apply": rate, **_workload(store, random.Random(11))}
                store.close()
        finally:
            server.stop()
        del records
        s, g = results["sqlite"], results["neo4j"]
        rows.append([f"{n:,}", "apply (records/s)", round(s["apply"]), round(g["apply"]),
                     f"{g['apply'] / s['apply']:.2f}"])
        for op in [k for k in s if k != "apply"]:
            rows.append([f"{n:,}", f"{op} p50 / p99 ms",
                         f"{s[op]['p50_ms']:.2f} / {s[op]['p99_ms']:.2f}",
                         f"{g[op]['p50_ms']:.2f} / {g[op]['p99_ms']:.2f}",
                         f"{g[op]['p50_ms'] / s[op]['p50_ms']:.1f}"])
    return rows
