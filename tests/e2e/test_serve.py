"""``jembatan serve --port 0`` as a real process: it prints its URL, then answers on it."""
from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

from nodes import CLI, first_line


def _init(home: Path) -> None:
    subprocess.run([*CLI, "init", "--dir", str(home), "--name", "Serve Test", "--country", "VN",
                    "--node-id", "serve-test"], check=True, capture_output=True, timeout=60)


@pytest.mark.parametrize("dev", [True, False], ids=["dev", "gunicorn"])
def test_serve_port_0_prints_url_and_answers(tmp_path: Path, dev: bool):
    home = tmp_path / "node"
    _init(home)
    env = dict(os.environ, JEMBATAN_WORKERS="1")
    proc = subprocess.Popen([*CLI, "serve", "--dir", str(home), "--port", "0", *(["--dev"] if dev else [])],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = first_line(proc.stdout, 60)
        assert line.startswith("Serving serve-test on http://127.0.0.1:"), line
        url = line.split(" on ", 1)[1].strip()
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        assert port > 0
        with urllib.request.urlopen(url + "healthz", timeout=30) as resp:
            assert resp.status == 200
            health = json.load(resp)
        assert health["status"] == "ok" and health["node"] == "serve-test"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode is not None


def test_serve_without_node_is_a_clear_error(tmp_path: Path):
    proc = subprocess.run([*CLI, "serve", "--dir", str(tmp_path / "nothing"), "--port", "0", "--dev"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "not a node directory" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""
