"""Import throughput: 10^5 and 10^6 technologies, JSON Lines and CSV, through `jembatan import`'s
code path (parse + validate on every core, one store transaction)."""
from __future__ import annotations

import shutil
from pathlib import Path

from jembatan.api.importer import ImportOptions, run_import
from jembatan.api.node import init_node

from . import datasets
from .common import OUT

NODE_ID = "bench-node"


def fresh_node(name: str) -> Path:
    home = OUT / "nodes" / name
    shutil.rmtree(home, ignore_errors=True)
    init_node(home, name="Bench node", country="CN", node_id=NODE_ID)
    return home


def run(sizes: list[int]) -> tuple[list[list], dict[int, Path]]:
    """Rows for the table, and for each size the node holding the JSON Lines import."""
    rows, nodes = [], {}
    for n in sizes:
        paths = datasets.files(n, NODE_ID)
        for fmt in ("jsonl", "csv"):
            home = fresh_node(f"import-{fmt}-{n}")
            from jembatan.api.node import load_node
            cfg = load_node(home)
            run_import(cfg, paths["owners"], ImportOptions(fmt="jsonl"))
            result = run_import(cfg, paths[fmt], ImportOptions(fmt=fmt, kind="technology"))
            assert result.written and result.counts["created"] == n, result.counts
            rows.append([f"{n:,}", fmt, f"{paths[fmt].stat().st_size / 2**20:,.0f} MiB",
                         round(result.seconds, 1), round(n / result.seconds)])
            if fmt == "jsonl":
                nodes[n] = home
            else:
                shutil.rmtree(home)
            print(f"  import {n:,} {fmt}: {n / result.seconds:,.0f} records/s", flush=True)
    return rows, nodes
