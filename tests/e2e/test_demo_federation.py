"""``jembatan demo --federation`` (what `make demo` runs): three real nodes converge, Bangkok
holds Jakarta's records through the hub, the status API says so, and Ctrl-C stops them all."""
from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
import os
import signal
import subprocess
from pathlib import Path

import networkx as nx
import requests

from nodes import CLI, first_line


def _processes_under(path: Path) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(path) in cmd:
                pids.append(int(entry.name))
    return pids


GEXF = "{http://www.gexf.net/1.2draft}"


def analyst_at(url: str, records: dict[str, int]) -> None:
    """What an analyst does with a node of the federation: the whole graph into Gephi (valid
    GEXF 1.2) and the country flows into a spreadsheet (summing to the agreements)."""
    resp = requests.get(url + "/api/v1/graph/export?format=gexf", timeout=60)
    assert resp.status_code == 200
    root = ET.fromstring(resp.content)
    assert root.tag == GEXF + "gexf" and root.get("version") == "1.2"
    graph = root.find(GEXF + "graph")
    assert graph is not None and graph.get("defaultedgetype") in ("directed", "undirected")
    ids = {n.get("id") for n in graph.iter(GEXF + "node")}
    assert all(n.get("label") for n in graph.iter(GEXF + "node"))
    declared = {a.get("id") for a in graph.iter(GEXF + "attribute")}
    assert {v.get("for") for v in graph.iter(GEXF + "attvalue")} <= declared
    edges = list(graph.iter(GEXF + "edge"))
    assert edges and all(e.get("id") and {e.get("source"), e.get("target")} <= ids for e in edges)
    G = nx.read_gexf(io.BytesIO(resp.content))
    kinds = {}
    for _, data in G.nodes(data=True):
        kinds[data["kind"]] = kinds.get(data["kind"], 0) + (not data["stub"])
    assert kinds["Institution"] == records["institution"]
    assert kinds["Agreement"] == records["agreement"]

    flows = requests.get(url + "/api/v1/flows", headers={"Accept": "text/csv"}, timeout=60)
    assert flows.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(flows.text)))
    assert sum(int(r["agreements"]) for r in rows) == records["agreement"] > 0


def test_the_demo_federation_converges_and_says_so(tmp_path: Path):
    home = tmp_path / "fed"
    proc = subprocess.Popen([*CLI, "demo", "--federation", "--dir", str(home), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=dict(os.environ, JEMBATAN_WORKERS="1"))
    lines = []
    try:
        while not lines or not lines[-1].startswith("Converged."):
            line = first_line(proc.stdout, 300)
            assert line, f"the demo ended early: {lines}"
            lines.append(line.strip())
        assert "the hub–Jakarta agreement is confirmed there" in lines[-1], lines[-1]
        assert "the hub–Bangkok one awaits Bangkok's endorsement" in lines[-1]
        state = json.loads((home / "federation.json").read_text())
        urls = state["urls"]
        bangkok = requests.get(urls["bangkok"] + "/api/v1/federation", timeout=30).json()
        assert bangkok["converged"] is True
        assert [p["url"] for p in bangkok["peers"]] == [urls["nanning-hub"]]   # only the hub
        assert bangkok["quarantine"] == {}
        # Jakarta's records at Bangkok, byte for byte as Jakarta serves them
        jakarta_feed = requests.get(urls["jakarta"] + "/sync/v1/changes?limit=50", timeout=30)
        mine = [json.loads(line) for line in jakarta_feed.text.splitlines()]
        mine = [r for r in mine if r["origin"] == "jakarta"]
        assert mine
        for rec in mine[:10]:
            at_bangkok = requests.get(f"{urls['bangkok']}/sync/v1/records/{rec['rid']}", timeout=30)
            assert at_bangkok.status_code == 200
            assert json.loads(at_bangkok.content) == rec
        counts = {n: requests.get(u + "/healthz", timeout=30).json()["records"]
                  for n, u in urls.items()}
        assert len({json.dumps(c, sort_keys=True) for c in counts.values()}) == 1, counts
        analyst_at(urls["bangkok"], bangkok["records"])
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert _processes_under(home) == []
