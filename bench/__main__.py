"""``python -m bench [--sizes 100000,1000000] [--only import,store,api,backends,sync,graph,views,match]``

Prints markdown tables (and writes them to bench/out/results.md) for BENCHMARKS.md.
"""
from __future__ import annotations

import argparse

from . import (bench_api, bench_backends, bench_graph, bench_import, bench_match, bench_store,
               bench_sync, bench_views)
from .common import OUT, machine, table


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--sizes", default="100000,1000000",
                        help="technology counts to import (comma-separated); "
                             "for graph, agreement counts")
    parser.add_argument("--only", default="import,store,api,backends,sync",
                        help="benchmarks to run (comma-separated); graph, views and match run "
                             "only when named")
    parser.add_argument("--couch-max", type=int, default=bench_sync.COUCH_MAX,
                        help="sync: the largest size also replicated through pouchdb-server")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    only = set(args.only.split(","))
    OUT.mkdir(parents=True, exist_ok=True)
    parts = [f"Machine: {machine()}\n"]
    print(parts[0], flush=True)
    if "backends" in only:
        parts.append(table("SQLite vs Neo4j on the same data (store called in-process)",
                           ["technologies", "operation", "SQLite", "Neo4j", "Neo4j / SQLite"],
                           bench_backends.run(sizes)))
    if only & {"import", "store", "api"}:
        rows, nodes = bench_import.run(sizes)
        if "import" in only:
            parts.append(table("Import (technologies; parse + validate on every core, one transaction)",
                               ["technologies", "format", "file", "seconds", "records/s"], rows))
        if "store" in only:
            parts.append(table("Store latency (SQLite), at the largest size",
                               ["operation", "records", "p50 ms", "p99 ms", "queries"],
                               bench_store.run(nodes[max(nodes)])))
        if "api" in only:
            parts.append(table("API read throughput (gunicorn, 2 workers; wrk, 8 connections, 10 s)",
                               ["request", "requests/s", "vs hello world"],
                               bench_api.run(nodes[min(nodes)])))
    if "sync" in only:
        parts.extend(bench_sync.tables(bench_sync.run(sizes, couch_max=args.couch_max)))
    if "graph" in only:
        parts.extend(bench_graph.tables(sizes))
    if "views" in only:
        parts.extend(bench_views.tables(sizes))
    if "match" in only:
        parts.extend(bench_match.tables(sizes))
    text = "\n".join(parts)
    (OUT / "results.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
