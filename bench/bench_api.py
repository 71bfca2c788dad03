"""API read throughput under gunicorn, as a ratio to a hello-world Flask app served the same
way (same worker count, same client: wrk on the same machine)."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from jembatan.api.node import load_node
from jembatan.graph import open_store
from jembatan.graph.store import PUBLIC, RecordQuery

WORKERS = "2"
DURATION = "10s"
CONNECTIONS = "8"


def _wait_for(proc: subprocess.Popen, stream, pattern: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            continue
        m = re.search(pattern, line)
        if m:
            return m.group(1)
    raise RuntimeError("server did not start")


def _wrk(url: str) -> float:
    out = subprocess.run(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{DURATION}", url],
                         capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} error responses")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def run(home: Path) -> list[list]:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed for the API benchmark (apt-get install wrk)")
    env = dict(os.environ, JEMBATAN_WORKERS=WORKERS, JEMBATAN_LOG_LEVEL="warning")
    bindir = Path(sys.executable).parent
    hello = subprocess.Popen([str(bindir / "gunicorn"), "-w", WORKERS, "-b", "127.0.0.1:0",
                              "bench.hello:create_app()"], stderr=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[1])
    node = subprocess.Popen([str(bindir / "jembatan"), "serve", "--dir", str(home), "--port", "0"],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        hello_url = "http://127.0.0.1:" + _wait_for(hello, hello.stderr, r"Listening at: http://127\.0\.0\.1:(\d+)")
        base = _wait_for(node, node.stdout, r"(http://127\.0\.0\.1:\d+)/").rstrip("/")
        store = open_store(load_node(home).store_url)
        rid = store.list(RecordQuery(kinds=("technology",), scope=PUBLIC, limit=1)).items[0].rid
        store.close()
        time.sleep(2)  # let every worker boot
        for url in (f"{hello_url}/hello", f"{base}/api/v1/technologies/{rid}"):
            requests.get(url, timeout=5).raise_for_status()
        baseline = _wrk(f"{hello_url}/hello")
        rows = [["hello world (Flask)", round(baseline), "100%"]]
        for name, path in (("GET one technology", f"/api/v1/technologies/{rid}"),
                           ("list technologies, 20 per page", "/api/v1/technologies?limit=20"),
                           ("search 电池, 20 per page", "/api/v1/search?q=%E7%94%B5%E6%B1%A0&limit=20"),
                           ("healthz", "/healthz")):
            rps = _wrk(base + path)
            rows.append([name, round(rps), f"{rps / baseline:.0%}"])
            print(f"  {name}: {rps:,.0f} req/s ({rps / baseline:.0%} of hello world)", flush=True)
        return rows
    finally:
        _stop(node)
        _stop(hello)
