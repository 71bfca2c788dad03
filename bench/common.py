"""Shared helpers of the benchmarks: the machine's description, percentiles, tables."""
from __future__ import annotations

import os
import platform
import sqlite3
import statistics
import time
from contextlib import contextmanager
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kb = int(next(l for l in Path("/proc/meminfo").read_text().splitlines()
                          if l.startswith("MemTotal")).split()[1])
        mem = f"{mem_kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        mem = "? GiB"
    return (f"{model}, {os.cpu_count()} cores, {mem} RAM, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")


def percentiles(samples_s: list[float]) -> dict[str, float]:
    """p50 and p99 in milliseconds."""
    ordered = sorted(samples_s)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000, "n": len(ordered)}


def measure(fn, args) -> dict[str, float]:
    """Call ``fn`` on each argument; p50 and p99 of the calls, printed and returned."""
    samples = []
    for a in args:
        start = time.perf_counter()
        fn(a)
        samples.append(time.perf_counter() - start)
    result = percentiles(samples)
    print(f"    p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms", flush=True)
    return result


@contextmanager
def timed():
    box = {}
    start = time.perf_counter()
    yield box
    box["s"] = time.perf_counter() - start


def table(title: str, header: list[str], rows: list[list]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:,.2f}" if v < 100 else f"{v:,.0f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |",
             "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
