"""Graph queries, country flows and statistics over a large alliance, SQLite vs Neo4j.

``python -m bench --only graph --sizes 1000000``: the alliance of ``bench/graph_alliance.py``
with n agreements is generated and prepared once (cached under ``bench/out/graph/<n>/data``),
loaded into a SQLite file and a Neo4j server (both kept, and reused by the next run when
their counts match), then each store is called in-process with the same queries:

* the flow matrix, unfiltered and with a year range and agreement kind;
* one country pair's time series;
* the statistics, for the alliance and for one country and period;
* the 2-hop neighbourhood of an institution (at most 500 nodes);
* the 3 shortest partnership paths (≤ 4 agreements) between two institutions with agreements;
* once: reading the partnerships and building the networkx graph, and the brokers by
  sampled betweenness on it.

Targets: flows matrix < 100 ms and stats < 200 ms for every query (judged on the p99),
shortest paths p50 < 50 ms. Each operation is warmed up with a few calls first; one that
would take more than ``BUDGET_S`` is measured on a prefix of its arguments (the table
says how many queries).
"""
from __future__ import annotations

import json
import os
import pickle
import random
import secrets
import shutil
import sys
import time
from collections import deque
from pathlib import Path

from jembatan.graph import analytics, flows, open_store
from jembatan.graph.flows import FlowFilter
from jembatan.graph.prepare import prepare
from jembatan.graph.store import LOCAL, PUBLIC
from jembatan.network import vocab
from jembatan.network.workers import worker_pool

from . import graph_alliance
from .bench_backends import HEAP, PAGECACHE
from .common import OUT, measure, table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from neo4j_server import Neo4jServer, Neo4jUnavailable  # noqa: E402

BACKENDS = ("sqlite", "neo4j")
PART = 50_000            # records per cached file, and per transaction when loading SQLite
#: records per transaction when loading Neo4j: a transaction's state is held in the heap, and
#: 50,000 agreements with their tallies' cells pass Neo4j's limit (70% of a 4 GiB heap)
NEO4J_BATCH = 10_000
FLOW_QUERIES = 100       # per flows/stats operation
GRAPH_QUERIES = 200      # per neighbourhood/paths operation
WARM_UP = 3              # calls before measuring: plans compiled, caches filled on both stores
#: seconds an operation may take: a slower one is measured on the first of its arguments
#: (the same on every store), at least MIN_QUERIES of them; the table says how many
BUDGET_S = 300
MIN_QUERIES = 20
BROKER_SAMPLE = 100      # the API's default sample of source nodes
#: bump when the generator's output changes, so cached data and loaded stores are rebuilt
DATA_VERSION = 1

#: operation → (target in ms, the percentile it applies to)
TARGETS = {"flows matrix": (100, "p99"), "flows matrix, years + kind": (100, "p99"),
           "stats": (200, "p99"), "stats, country + period": (200, "p99"),
           "shortest paths (k=3, ≤ 4 hops)": (50, "p50")}


# -- the data, generated and prepared once ------------------------------------------------

def _prepare_part(path: str, envelopes: list[dict]) -> int:
    """In a worker: prepare a part's records and write them (atomically, by rename)."""
    records = [prepare(env) for env in envelopes]
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        pickle.dump(records, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
    return len(records)


def dataset(n: int, base: Path, seed: int = graph_alliance.SEED, jobs: int = 2) -> dict:
    """The prepared alliance of ``n`` agreements under ``base/data``, generated unless a
    finished copy of the same data is there: its meta (counts, parts, the public
    institutions that are party to public agreements, fingerprint)."""
    data = base / "data"
    fingerprint = f"{DATA_VERSION}:{n}:{seed}"
    meta_path = data / "meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta["fingerprint"] == fingerprint:
            return meta
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    print(f"  generating and preparing {n:,} agreements and the rest", flush=True)
    start = time.perf_counter()
    public: dict[str, None] = {}
    parts, chunk, pending = [], [], deque()
    # the main process generates (one RNG); the workers prepare and write, a few parts at a time
    with worker_pool(jobs) as pool:
        def flush() -> None:
            path = data / f"part-{len(parts):05d}.pickle"
            parts.append(path.name)
            pending.append(pool.apply_async(_prepare_part, (str(path), chunk[:])))
            chunk.clear()
            while len(pending) > jobs * 2:
                pending.popleft().get()
        for env in graph_alliance.alliance(n, seed):
            chunk.append(env)
            if env["kind"] == "agreement" and env["visibility"] == "public":
                for p in env["body"]["parties"]:
                    public[p["institution"]] = None
            if len(chunk) == PART:
                flush()
        if chunk:
            flush()
        while pending:
            pending.popleft().get()
    meta = {"fingerprint": fingerprint, "counts": graph_alliance.counts(n), "parts": parts,
            "institutions": list(public), "seconds": time.perf_counter() - start}
    meta_path.write_text(json.dumps(meta), encoding="utf-8")   # last: the data is complete
    print(f"  data ready in {meta['seconds']:.0f} s", flush=True)
    return meta


# -- the stores, loaded once --------------------------------------------------------------

def _open(url: str):
    """open_store, saying how long it took when it derived something again (a store
    loaded under older tallies derives them when opened)."""
    start = time.perf_counter()
    store = open_store(url)
    seconds = time.perf_counter() - start
    if seconds > 5:
        print(f"  opened in {seconds:,.0f} s (derived data made again)", flush=True)
    return store


def _loaded(store, meta: dict, marker: Path) -> bool:
    if not marker.exists() or marker.read_text() != meta["fingerprint"]:
        return False
    got = {k: v for k, v in store.counts(LOCAL).items() if v}
    return got == meta["counts"]


def _load(store, meta: dict, data: Path, marker: Path, batch: int = PART) -> dict:
    marker.unlink(missing_ok=True)
    records, start = 0, time.perf_counter()
    for name in meta["parts"]:
        with open(data / name, "rb") as f:
            part = pickle.load(f)
        for i in range(0, len(part), batch):
            store.apply(part[i:i + batch], trusted=True)
        records += len(part)
    seconds = time.perf_counter() - start
    marker.write_text(meta["fingerprint"])
    print(f"  loaded {records:,} records in {seconds:,.0f} s ({records / seconds:,.0f}/s)", flush=True)
    return {"records": records, "seconds": seconds, "rate": records / seconds}


def open_sqlite(base: Path, meta: dict) -> tuple[object, dict | None]:
    """The loaded SQLite store (and the load's figures, None when reused)."""
    path, marker = base / "node.db", base / "sqlite.loaded"
    store = _open(f"sqlite:///{path}")
    if _loaded(store, meta, marker):
        return store, None
    store.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = open_store(f"sqlite:///{path}")
    return store, _load(store, meta, base / "data", marker)


def neo4j_server(base: Path) -> Neo4jServer:
    """A server whose database lives in ``base/neo4j-data``, outside its home, so it survives
    a restart; its password is kept beside it (the server listens on 127.0.0.1 only)."""
    secret = base / "neo4j.password"
    if not secret.exists():
        secret.write_text(secrets.token_urlsafe(24))
        secret.chmod(0o600)
    home = base / "neo4j-home"
    shutil.rmtree(home, ignore_errors=True)
    return Neo4jServer(home, heap=HEAP, pagecache=PAGECACHE, password=secret.read_text(),
                       extra_config={"server.directories.data": str(base / "neo4j-data")})


def open_neo4j(base: Path, meta: dict) -> tuple[Neo4jServer, object, dict | None]:
    marker = base / "neo4j.loaded"
    server = neo4j_server(base)
    try:
        server.start()
        store = _open(server.url)
        if _loaded(store, meta, marker):
            return server, store, None
        store.close()
    except Neo4jUnavailable:      # e.g. a data directory whose password was lost
        pass
    server.stop()
    marker.unlink(missing_ok=True)
    shutil.rmtree(base / "neo4j-data", ignore_errors=True)
    (base / "neo4j.password").unlink(missing_ok=True)
    server = neo4j_server(base).start()
    store = open_store(server.url)
    return server, store, _load(store, meta, base / "data", marker, NEO4J_BATCH)


# -- the workload ---------------------------------------------------------------------------

def workload(meta: dict, rng: random.Random) -> dict[str, tuple]:
    """The same query arguments for every store: operation → (function of store and
    argument, arguments, warm-up arguments)."""
    institutions = meta["institutions"]
    countries = vocab.ALLIANCE_COUNTRIES
    filtered = [FlowFilter(years=(2015, 2020), kind="licence"),
                FlowFilter(years=(2019, 2023), kind="joint_rd"),
                FlowFilter(years=(2021, 2025), kind="technical_service")]
    pairs = [(rng.choice(countries), rng.choice(countries)) for _ in range(FLOW_QUERIES)]
    places = [(rng.choice(countries), (y, y + 4)) for y in
              (rng.randrange(2015, 2022) for _ in range(FLOW_QUERIES))]
    ends = []
    while len(ends) < GRAPH_QUERIES and len(institutions) > 1:
        a, b = rng.sample(institutions, 2)
        ends.append((a, b))
    ops = {
        "flows matrix": (lambda s, f: flows.matrix(s, PUBLIC, f), [FlowFilter()] * FLOW_QUERIES),
        "flows matrix, years + kind": (lambda s, f: flows.matrix(s, PUBLIC, f),
                                       [rng.choice(filtered) for _ in range(FLOW_QUERIES)]),
        "country pair's time series": (
            lambda s, p: flows.series(s, PUBLIC, FlowFilter(), *p), pairs),
        "stats": (lambda s, _: flows.stats(s, PUBLIC), [None] * FLOW_QUERIES),
        "stats, country + period": (
            lambda s, cp: flows.stats(s, PUBLIC, country=cp[0], years=cp[1]), places),
        "2-hop neighbourhood (institution, ≤ 500 nodes)": (
            lambda s, rid: s.neighbours(rid, 2, PUBLIC, 500),
            [rng.choice(institutions) for _ in range(GRAPH_QUERIES)]),
        "shortest paths (k=3, ≤ 4 hops)": (
            lambda s, ab: s.paths(ab[0], ab[1], k=3, scope=PUBLIC, max_hops=4), ends),
    }
    return {op: (fn, args, args[:WARM_UP]) for op, (fn, args) in ops.items()}


def _answers(store) -> tuple:
    """Answers both stores must agree on (the benchmark checks it, once)."""
    matrix = flows.matrix(store, PUBLIC, FlowFilter())
    return ({pair: (c.agreements, c.values) for pair, c in sorted(matrix.items())},
            flows.stats(store, PUBLIC))


def run_store(name: str, store, meta: dict, brokers: bool) -> dict:
    """Every measurement on one store."""
    out: dict = {"answers": _answers(store)}
    for op, (fn, args, warm) in workload(meta, random.Random(11)).items():
        print(f"  {name}: {op} ({len(args)} queries)", flush=True)
        start = time.perf_counter()
        for a in warm:
            fn(store, a)
        each = (time.perf_counter() - start) / max(1, len(warm))
        if each * len(args) > BUDGET_S:
            args = args[:max(MIN_QUERIES, int(BUDGET_S / each))]
            print(f"    ~{each:.1f} s a query: the first {len(args)} only", flush=True)
        if op.startswith("shortest paths"):
            found = []
            out[op] = measure(lambda ab: found.append(bool(fn(store, ab))), args)
            out["paths found"] = (sum(found), len(found))
        else:
            out[op] = measure(lambda a: fn(store, a), args)
    start = time.perf_counter()
    partners = store.partnerships(PUBLIC)
    out["partnerships read, s"] = time.perf_counter() - start
    start = time.perf_counter()
    G = analytics.partnership_graph(partners)
    out["networkx graph built, s"] = time.perf_counter() - start
    out["graph"] = (G.number_of_nodes(), G.number_of_edges())
    print(f"  {name}: partnerships {out['partnerships read, s']:.1f} s, graph "
          f"{out['networkx graph built, s']:.1f} s ({G.number_of_nodes():,} nodes, "
          f"{G.number_of_edges():,} edges)", flush=True)
    if brokers:
        start = time.perf_counter()
        found = analytics.brokers(G, sample=BROKER_SAMPLE)
        out["brokers, s"] = time.perf_counter() - start
        out["brokers sample"] = found["sample"]
        print(f"  brokers: {out['brokers, s']:.1f} s (sample {found['sample']})", flush=True)
    return out


# -- the table ------------------------------------------------------------------------------

def _cell(result: dict | None, op: str, asked: int) -> str:
    if result is None:
        return "—"
    r = result[op]
    cut = f" ({r['n']} queries)" if r["n"] < asked else ""
    return f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f}{cut}"


def rows(meta: dict, results: dict[str, dict], loads: dict[str, dict | None]) -> list[list]:
    """operation | SQLite p50 / p99 | Neo4j p50 / p99 | target | met?"""
    s, g = results.get("sqlite"), results.get("neo4j")
    out = []
    load = []
    for name in BACKENDS:
        if name not in results:
            load.append("—")
        elif loads.get(name) is None:
            load.append("loaded before")
        else:
            L = loads[name]
            load.append(f"{L['rate']:,.0f} records/s ({L['seconds']:,.0f} s)")
    records = sum(meta["counts"].values())
    out.append([f"load {records:,} records (informational)", *load, "", ""])
    for op in (k for k in (s or g) if isinstance((s or g)[k], dict) and "p50_ms" in (s or g)[k]):
        target, met = "", ""
        if op in TARGETS:
            limit, pct = TARGETS[op]
            target = f"{pct} < {limit} ms"
            met = ", ".join(f"{label} {'yes' if r[op][f'{pct}_ms'] < limit else 'no'}"
                            for label, r in (("SQLite", s), ("Neo4j", g)) if r is not None)
        asked = max(r[op]["n"] for r in (s, g) if r is not None)
        out.append([f"{op}, ms", _cell(s, op, asked), _cell(g, op, asked), target, met])
    out.append(["pairs with a path",
                *(f"{r['paths found'][0]} of {r['paths found'][1]}" if r else "—" for r in (s, g)),
                "", ""])
    for op in ("partnerships read, s", "networkx graph built, s"):
        out.append([f"{op} (once)", *(f"{r[op]:.1f}" if r else "—" for r in (s, g)), "", ""])
    first = s or g
    nodes, edges = first["graph"]
    how = ("exact" if first["brokers sample"] is None
           else f"sampled, k={first['brokers sample']}")
    out.append([f"brokers by betweenness ({how}; {nodes:,} institutions, "
                f"{edges:,} partnerships), s (once)",
                f"{first['brokers, s']:.1f}" if s else "—",
                "same graph" if s and g else f"{g['brokers, s']:.1f}" if g else "—", "", ""])
    if s and g:
        same = s["answers"] == g["answers"] and s["graph"] == g["graph"]
        out.append(["same flows, stats and graph on both", "", "yes" if same else "NO", "", ""])
    return out


def run_size(n: int, base: Path, backends: tuple[str, ...] = BACKENDS) -> list[list]:
    base.mkdir(parents=True, exist_ok=True)
    meta = dataset(n, base)
    results, loads = {}, {}
    if "sqlite" in backends:
        store, loads["sqlite"] = open_sqlite(base, meta)
        try:
            results["sqlite"] = run_store("sqlite", store, meta, brokers=True)
        finally:
            store.close()
    if "neo4j" in backends:
        server, store, loads["neo4j"] = open_neo4j(base, meta)
        try:
            results["neo4j"] = run_store("neo4j", store, meta, brokers="sqlite" not in backends)
        finally:
            store.close()
            server.stop()
    return rows(meta, results, loads)


def tables(sizes: list[int], backends: tuple[str, ...] = BACKENDS) -> list[str]:
    return [table(f"Graph queries, flows and statistics at {n:,} agreements "
                  "(stores called in-process)",
                  ["operation", "SQLite p50 / p99", "Neo4j p50 / p99", "target", "met?"],
                  run_size(n, OUT / "graph" / str(n), backends))
            for n in sizes]
