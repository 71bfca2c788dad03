"""The CouchDB-protocol baseline for the sync benchmark: the same records replicated between
two in-memory ``pouchdb-server`` processes on 127.0.0.1.

    python -m bench.couch [--n 10000]

Server 1 gets the records as documents in ``src`` (``_id`` = rid, the envelope's fields as
the document; ``_bulk_docs`` in batches, not timed). The timed part is one non-continuous
``POST server2/_replicate {source: server1/src, target: "dst", create_target: true}``, which
answers only when the replication has finished; server 2 pulls with PouchDB's own replicator
(``_changes``, ``_revs_diff``, ``_bulk_get``, stock batch sizes).

Bytes on the wire are what server 2 read during the replication: the growth of ``rchar`` in
``/proc/<pid>/io``. Node reads sockets with read(2), which ``rchar`` counts; the servers run
with ``--no-stdout-logs`` because otherwise pouchdb-server tails its own log file and those
reads would be counted too. Responses are gzip-compressed (express-pouchdb's ``compression``
middleware, and the replicator asks for gzip), so these are compressed bytes.

The npm packages live in ``bench/couch/node_modules``:
``npm ci --prefix bench/couch --ignore-scripts --no-audit --no-fund``.
"""
from __future__ import annotations

import argparse
import itertools
import json
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterable

import requests

from jembatan.network.envelope import canonical_bytes

COUCH_DIR = Path(__file__).resolve().parent / "couch"
SERVER_JS = COUCH_DIR / "node_modules" / "pouchdb-server" / "bin" / "pouchdb-server"
INSTALL = "npm ci --prefix bench/couch --ignore-scripts --no-audit --no-fund"
LOAD_BATCH = 1000          # documents per _bulk_docs request while filling the source
START_TIMEOUT_S = 60
REPLICATE_TIMEOUT_S = 3600


def as_document(envelope: dict) -> dict:
    """The CouchDB document for one envelope: its fields, keyed by its rid."""
    rid = envelope.get("rid") if isinstance(envelope, dict) else None
    if not isinstance(rid, str) or not rid:
        raise ValueError(f"envelope without a rid: {str(envelope)[:80]!r}")
    return {"_id": rid, **envelope}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proc_field(pid: int, name: str, field: str) -> int:
    """One numeric field of /proc/<pid>/<name> (``io`` in bytes, ``status`` in kB)."""
    for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == field:
            return int(value.split()[0])
    raise KeyError(f"/proc/{pid}/{name} has no {field}")


class PouchServer:
    """One ``pouchdb-server --in-memory`` on 127.0.0.1, its config and log in ``home``."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self, attempts: int = 3) -> "PouchServer":
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is needed for the CouchDB comparison")
        if not SERVER_JS.exists():
            raise RuntimeError(f"pouchdb-server is not installed; run `{INSTALL}`")
        self.home.mkdir(parents=True, exist_ok=True)
        for _ in range(attempts):
            # pouchdb-server reads --port 0 as "unset" (5984), so pick a free port here; a
            # port taken in between shows up as a start failure and is retried.
            port = _free_port()
            log = self.home / "log.txt"
            log.unlink(missing_ok=True)
            with open(self.home / "stderr.txt", "wb") as err:
                self.proc = subprocess.Popen(
                    [node, str(SERVER_JS), "--in-memory", "--no-stdout-logs", "--no-color",
                     "--host", "127.0.0.1", "--port", str(port),
                     "--config", str(self.home / "config.json"), "--dir", str(self.home)],
                    cwd=self.home, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=err)
            # The "has started" line is logged only once listen() succeeded; an address in
            # use is reported on stderr while the process keeps running.
            started = f"pouchdb-server has started on http://127.0.0.1:{port}/"
            deadline = time.monotonic() + START_TIMEOUT_S
            while time.monotonic() < deadline and self.proc.poll() is None:
                if log.exists() and started in log.read_text(errors="replace"):
                    self.url = f"http://127.0.0.1:{port}"
                    requests.get(self.url + "/", timeout=10).raise_for_status()
                    return self
                if "already in use" in (self.home / "stderr.txt").read_text(errors="replace"):
                    break
                time.sleep(0.05)
            self.stop()
        raise RuntimeError(f"pouchdb-server did not start; see {self.home / 'stderr.txt'}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rchar(self) -> int:
        return _proc_field(self.pid, "io", "rchar")

    def peak_rss_mb(self) -> float:
        return _proc_field(self.pid, "status", "VmHWM") / 1024

    def reset_peak_rss(self) -> bool:
        """Restart VmHWM from the current RSS (Linux ≥ 4.0), so a later peak belongs to
        what ran after this call; False where the kernel does not allow it."""
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)      # pouchdb-server exits 0 on SIGINT
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> "PouchServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _load(session: requests.Session, db_url: str, envelopes: Iterable[dict], n: int) -> int:
    """Write the first ``n`` envelopes to ``db_url``; the total of their canonical sizes."""
    session.put(db_url, timeout=30).raise_for_status()
    total_bytes = loaded = 0
    stream = iter(envelopes)
    while loaded < n:
        batch = list(itertools.islice(stream, min(LOAD_BATCH, n - loaded)))
        if not batch:
            raise ValueError(f"envelopes: {n} records asked for, only {loaded} given")
        docs = [as_document(env) for env in batch]
        total_bytes += sum(len(canonical_bytes(env)) for env in batch)
        body = json.dumps({"docs": docs}, ensure_ascii=False).encode("utf-8")
        r = session.post(db_url + "/_bulk_docs", data=body, timeout=300,
                         headers={"Content-Type": "application/json"})
        r.raise_for_status()
        failed = [row for row in r.json() if "error" in row]
        if failed:
            raise RuntimeError(f"source refused {len(failed)} documents, first: {failed[0]}")
        loaded += len(batch)
    return total_bytes


def couch_replicate(envelopes: Iterable[dict], *, n: int, workdir: Path) -> dict:
    """Replicate the first ``n`` envelopes between two in-memory pouchdb-servers.

    Returns ``{"records", "seconds", "rate", "wire_bytes_per_record",
    "envelope_bytes_per_record", "rss_mb": {"source", "target", "since"}}``. ``seconds``
    covers the ``_replicate`` request alone; the target's document count is checked
    afterwards. The peak RSS (VmHWM) counts from the start of the replication
    (``since: "replication"``), or from the server's start where the kernel cannot reset
    it (``since: "start"``).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer ≥ 1, not {n!r}")
    workdir = Path(workdir)
    with PouchServer(workdir / "source") as source, PouchServer(workdir / "target") as target, \
            requests.Session() as session:
        envelope_bytes = _load(session, source.url + "/src", envelopes, n)
        # Peaks of the replication, not of filling the source.
        rss_since = "replication" if all([source.reset_peak_rss(), target.reset_peak_rss()]) \
            else "start"
        read_before = target.rchar()
        started = time.perf_counter()
        r = session.post(target.url + "/_replicate", timeout=REPLICATE_TIMEOUT_S,
                         json={"source": source.url + "/src", "target": "dst",
                               "create_target": True})
        seconds = time.perf_counter() - started
        wire = target.rchar() - read_before
        r.raise_for_status()
        reply = r.json()
        if not reply.get("ok") or reply.get("docs_written") != n:
            raise RuntimeError(f"replication incomplete: {reply}")
        copied = session.get(target.url + "/dst", timeout=60).json().get("doc_count")
        if copied != n:
            raise RuntimeError(f"target holds {copied} documents, expected {n}")
        rss = {"source": source.peak_rss_mb(), "target": target.peak_rss_mb(),
               "since": rss_since}
    return {"records": n, "seconds": seconds, "rate": n / seconds,
            "wire_bytes_per_record": wire / n, "envelope_bytes_per_record": envelope_bytes / n,
            "rss_mb": rss}


def rows(result: dict) -> list[list]:
    """The result as (measure, value) rows for :func:`bench.common.table`."""
    since = result["rss_mb"]["since"]
    return [["records", result["records"]],
            ["replication seconds", result["seconds"]],
            ["records/s", result["rate"]],
            ["wire bytes per record (target's rchar)", result["wire_bytes_per_record"]],
            ["canonical envelope bytes per record", result["envelope_bytes_per_record"]],
            ["wire / envelope", result["wire_bytes_per_record"]
             / result["envelope_bytes_per_record"]],
            [f"peak RSS source, MB (since {since})", result["rss_mb"]["source"]],
            [f"peak RSS target, MB (since {since})", result["rss_mb"]["target"]]]


def main() -> None:
    from jembatan.network import demo

    from .common import machine, table

    parser = argparse.ArgumentParser(prog="python -m bench.couch")
    parser.add_argument("--n", type=int, default=10_000, help="records to replicate")
    parser.add_argument("--origin", default="bench-node")
    args = parser.parse_args()
    print(f"Machine: {machine()}\n", flush=True)
    # The demo catalogue: its owning institutions first, then technologies, cut at n.
    with tempfile.TemporaryDirectory(prefix="couch-") as tmp:
        result = couch_replicate(demo.technologies(args.n, origin=args.origin), n=args.n,
                                 workdir=Path(tmp))
    print(table("CouchDB protocol: pouchdb-server → pouchdb-server, in memory, one-shot pull",
                ["measure", "value"], rows(result)))


if __name__ == "__main__":
    main()
