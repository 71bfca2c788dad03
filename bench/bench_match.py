"""Matchmaking: quality on the labelled set (``match_quality``) and speed at scale.

Speed runs on the import benchmark's SQLite node (``bench_import``: n generated technologies
with their owners), to which the evaluation set's 225 demands and their requesters are added.
It reports the index build (every record read from the store, encoded and inverted), the
memory it takes (the index's arrays, and the process's resident set before and after), the
latency of ``Matcher.match`` end to end (the record read, the index brought up to date, every
technology scored, graph proximity for the best 100, reasons and titles of the first ten), and
of the first match after a write (the index's delta rebuilt).
"""
from __future__ import annotations

import gc
import time

from jembatan.graph.match import Matcher
from jembatan.graph.match.index import MatchIndex
from jembatan.graph.sqlite import SqliteStore
from jembatan.graph.store import PUBLIC, RecordQuery
from jembatan.network import demo

from . import match_quality
from .common import OUT, percentiles, table

DEMANDS = 200
TECH_QUERIES = 50


def _rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _store(n: int) -> SqliteStore:
    path = OUT / "nodes" / f"import-jsonl-{n}" / "node.db"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `python -m bench --only import --sizes {n}` first")
    store = SqliteStore(str(path))
    envs, _, demand_envs = match_quality.envelopes()
    if store.get(demand_envs[0][1]["rid"]) is None:
        store.apply(envs)
    return store


def speed(n: int) -> list[list]:
    store = _store(n)
    gc.collect()
    rss0 = _rss_mib()
    t0 = time.perf_counter()
    index = MatchIndex.from_store(store)
    build = time.perf_counter() - t0
    gc.collect()
    rss1 = _rss_mib()
    matcher = Matcher()
    matcher._indexes[store] = index
    _, _, demand_envs = match_quality.envelopes()
    demands = [env["rid"] for _, env in demand_envs][:DEMANDS]
    techs = [r.rid for r in store.list(RecordQuery(kinds=("technology",), scope=PUBLIC,
                                                   limit=TECH_QUERIES)).items]

    def timed(rids):
        out = []
        for rid in rids:
            t = time.perf_counter()
            matcher.match(store, rid, PUBLIC, limit=10)
            out.append(time.perf_counter() - t)
        return percentiles(out)
    for_demand = timed(demands)
    for_tech = timed(techs)
    after_write = []
    for i in range(5):
        store.apply(list(demo.technologies(1, seed=1000 + i))[-1:])
        t = time.perf_counter()
        matcher.match(store, demands[i], PUBLIC, limit=10)
        after_write.append(time.perf_counter() - t)
    techs_n, demands_n = index.size("technology"), index.size("demand")
    store.close()
    print(f"  match {n:,}: build {build:.0f} s, demand p50 {for_demand['p50_ms']:.0f} ms", flush=True)
    return [
        [f"{techs_n:,}", "index build (read, encode, invert)", f"{build:.1f} s", "", ""],
        [f"{techs_n:,}", "index arrays", f"{index.memory() / 2**20:,.0f} MiB", "", ""],
        [f"{techs_n:,}", "process resident set, before → after build",
         f"{rss0:,.0f} → {rss1:,.0f} MiB", "", ""],
        [f"{techs_n:,}", f"match a demand ({len(demands)} demands, limit 10)", "",
         f"{for_demand['p50_ms']:.1f}", f"{for_demand['p99_ms']:.1f}"],
        [f"{techs_n:,}", f"match a technology ({len(techs)}, against {demands_n} demands)", "",
         f"{for_tech['p50_ms']:.1f}", f"{for_tech['p99_ms']:.1f}"],
        [f"{techs_n:,}", "first match after a write (delta rebuilt)", "",
         f"{sorted(after_write)[2] * 1000:.1f}", f"{max(after_write) * 1000:.1f}"],
    ]


def tables(sizes: list[int]) -> list[str]:
    pair_rows, mrr_rows, ablation = match_quality.run()
    counts = ["alone", "among 10,000 demo technologies"]
    parts = [
        table("Matching quality: recall@10 per language pair (demand → technology)",
              ["pair", "relevant pairs", *(f"recall@10, {c}" for c in counts)], pair_rows),
        table("Matching quality: MRR per demand language",
              ["demand language", *(f"MRR, {c}" for c in counts)], mrr_rows),
        table("What each signal contributes (recall@10 and MRR over all 246 pairs)",
              ["distractors", "signals", "recall@10", "MRR"], ablation),
    ]
    rows = [row for n in sizes for row in speed(n)]
    parts.append(table("Matching speed (SQLite store, in-process)",
                       ["technologies", "measure", "value", "p50 ms", "p99 ms"], rows))
    return parts
