"""``jembatan demo --federation`` (what `make demo` runs): three real nodes converge, Bangkok
holds Jakarta's records through the hub, the status API says so, and Ctrl-C stops them all."""
from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

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
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert _processes_under(home) == []
