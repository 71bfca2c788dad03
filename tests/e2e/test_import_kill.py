"""kill -9 in the middle of a large ``jembatan import``: the store is exactly as before.

A real ``jembatan import`` process streams 200,000 technologies into one store transaction;
once it reports that it is writing and the write-ahead log has grown, it gets SIGKILL. The
store must then hold what it held before (counts, last change sequence), open cleanly and
pass SQLite's integrity check, and the validating worker processes must not linger.
"""
from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from jembatan.api.node import load_node
from jembatan.graph import open_store
from jembatan.graph.store import LOCAL
from jembatan.network.demo import technologies

CLI = [sys.executable, "-m", "jembatan.api.cli"]
ROWS = 200_000
SEED = 1_000


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300)


def _state(url: str) -> tuple[dict, int]:
    store = open_store(url)
    try:
        return store.counts(LOCAL), store.last_seq()
    finally:
        store.close()


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out.update(int(p) for p in (task / "children").read_text().split())
        except OSError:
            pass
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def test_kill_9_while_writing_leaves_store_unchanged(tmp_path: Path):
    home = tmp_path / "node"
    assert _cli("init", "--dir", str(home), "--name", "Kill Test", "--country", "MY").returncode == 0
    cfg = load_node(home)
    db = Path(cfg.store_url.removeprefix("sqlite:///"))

    big, seed = tmp_path / "big.jsonl", tmp_path / "seed.jsonl"
    with open(big, "w", encoding="utf-8") as out, open(seed, "w", encoding="utf-8") as first:
        for n, env in enumerate(technologies(ROWS, origin=cfg.node_id)):
            line = json.dumps(env, ensure_ascii=False) + "\n"
            out.write(line)
            if n < SEED:
                first.write(line)
    done = _cli("import", str(seed), "--dir", str(home))
    assert done.returncode == 0, done.stderr
    before = _state(cfg.store_url)
    assert sum(before[0].values()) == SEED and before[1] == SEED

    proc = subprocess.Popen([*CLI, "import", str(big), "--dir", str(home)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True).start()
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 300
        while True:   # the importer says when the store transaction has started
            line = lines.get(timeout=max(1, deadline - time.monotonic()))
            if "Writing to the store" in line:
                break
        wal = db.with_name(db.name + "-wal")
        while (not wal.exists() or wal.stat().st_size < (1 << 20)) and time.monotonic() < deadline:
            assert proc.poll() is None, "the import ended before it could be killed"
            time.sleep(0.05)
        assert wal.stat().st_size >= 1 << 20, "the transaction never reached the log"
        workers = _children(proc.pid)
        assert proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
        # the validating workers notice their parent is gone and exit
        deadline = time.monotonic() + 60
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(w) for w in workers)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()

    assert _state(cfg.store_url) == before
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM records").fetchone()[0] == SEED

    # the node works on: the same import, run to the end, commits everything
    again = _cli("import", str(seed), "--dir", str(home))
    assert again.returncode == 0 and f"{SEED} unchanged" in again.stdout
