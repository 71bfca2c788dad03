"""Sync between two real nodes over loopback HTTP, and the same records through CouchDB's
replication protocol.

    python -m bench --only sync --sizes 100000,1000000

For each size: an alliance with two nodes (`jembatan init`, `alliance admit`, `registry
import`); the source imports the demo generator's technologies and their owners, every one
public (`jembatan import`, which signs them; not timed) and serves them with `jembatan serve`
(gunicorn, 2 workers); the puller has it as its only peer.

- Initial sync: one `jembatan sync --once --quiet` process, timed from its start to its exit
  (fetch, verification on every core, apply and checkpoint included). records/s = records
  received / that wall time.
- Peak RSS: VmHWM from /proc/<pid>/status. Source: gunicorn's master plus its workers,
  their peaks summed, counted from just before the sync (VmHWM reset through clear_refs).
  Puller: the sync process plus its verification pool, polled every 20 ms while it runs, each
  process's last peak summed. Forked processes share pages, so the sums are upper bounds.
  In brackets, the same sum of the largest RssAnon sampled: VmHWM also counts the pages of
  the database file SQLite reads through mmap (up to 256 MiB per connection), which are
  the page cache's, not the process's own.
- Wire bytes: what the sync process read from its sockets (status lines, headers and bodies
  of every response), counted by wrapping ``socket.socket``'s receive methods in that process
  (``/proc/<pid>/io`` would count module and SQLite reads too), per record received; against
  the mean size of the records' canonical envelopes as the source serves them.
- Incremental: one record changed at the source through the REST API, then one sync, timed
  as a `jembatan sync --once --quiet` process (start included) and as ``Syncer.run_once``
  called in this process; several changes, each synced alone.
- CouchDB protocol: the same envelopes (as the source serves them) through
  ``bench.couch.couch_replicate`` — two in-memory pouchdb-servers — with the nodes stopped.
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import threading
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .common import OUT

ROOT = Path(__file__).resolve().parents[1]
DATA = OUT / "data"
SOURCE_ID, PULLER_ID = "sync-source", "sync-puller"
#: the largest catalogue replicated through pouchdb-server as well (it holds it in memory)
COUCH_MAX = 100_000
REPEATS = 5
SAMPLE_S = 0.02


# ---------------------------------------------------------------- processes and /proc

def _status_kb(pid: int, *keys: str) -> dict[str, int]:
    """Fields of /proc/<pid>/status in kB; empty when the process is gone or a zombie."""
    found = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in keys:
                found[key] = int(value.split()[0])
    except (OSError, ValueError, IndexError):
        return {}
    return found


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # the command name may hold spaces and parentheses: the fields follow the last ")"
                ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def _reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")   # VmHWM := current RSS
    except OSError:
        return False
    return True


class PeakRss:
    """Polls a process and its descendants while they run: each one's VmHWM (the kernel's
    own peak, so one living longer than a rescan is never missed) and the largest RssAnon
    seen (memory not backed by a file: SQLite's mmap of the database is file-backed)."""

    def __init__(self, root: int, interval: float = SAMPLE_S, rescan: float = 0.25):
        self.root, self.interval, self.rescan = root, interval, rescan
        self.peak_kb: dict[int, int] = {}
        self.anon_kb: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def sample(self, pids: list[int]) -> None:
        for pid in pids:
            got = _status_kb(pid, "VmHWM", "RssAnon")
            for mine, key in ((self.peak_kb, "VmHWM"), (self.anon_kb, "RssAnon")):
                if got.get(key, 0) > mine.get(pid, 0):
                    mine[pid] = got[key]

    def _poll(self) -> None:
        pids, scanned = [self.root], 0.0
        while True:
            if time.monotonic() - scanned > self.rescan:
                pids, scanned = [self.root] + _descendants(self.root), time.monotonic()
            self.sample(pids)
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def mb(self) -> tuple[float, float, list[int]]:
        """(sum of the peaks, sum of the anonymous peaks) in MB, and each peak in kB."""
        return (sum(self.peak_kb.values()) / 1024, sum(self.anon_kb.values()) / 1024,
                sorted(self.peak_kb.values(), reverse=True))


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JEMBATAN_")}
    env["JEMBATAN_WORKERS"] = "2"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


CLI = [sys.executable, "-m", "jembatan.api.cli"]


def _cli(*args: Any, timeout: float = 3600) -> str:
    done = subprocess.run([*CLI, *map(str, args)], env=_env(), capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"jembatan {' '.join(map(str, args))}: {done.stderr.strip()}")
    return done.stdout


# ---------------------------------------------------------------- the catalogue

def catalogue(n: int, data: Path = DATA) -> tuple[Path, Path]:
    """JSON Lines for `jembatan import`: the owners (with their rids), then n technologies
    (drafts), all public; generated once per size and kept in ``data``."""
    from jembatan.network import demo

    data.mkdir(parents=True, exist_ok=True)
    owners = data / f"sync-owners-{SOURCE_ID}-{n}.jsonl"
    techs = data / f"sync-tech-{SOURCE_ID}-{n}.jsonl"
    if owners.exists() and techs.exists():
        return owners, techs
    stream, k = demo.technologies(n, origin=SOURCE_ID), max(50, n // 200)
    for path, rows, keep_rid in ((owners, k, True), (techs, n, False)):
        part = path.with_suffix(".part")
        with part.open("w", encoding="utf-8") as out:
            for _ in range(rows):
                env = next(stream)
                row = {"kind": env["kind"], "visibility": "public", "body": env["body"]}
                if keep_rid:       # technologies name their owners by these rids
                    row["rid"] = env["rid"]
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        part.replace(path)
    return owners, techs


def feed_texts(home: Path) -> Iterator[str]:
    """The source's public feed, record texts in change order (read from its store)."""
    from jembatan.api.node import load_node
    from jembatan.graph import open_store
    from jembatan.graph.store import PUBLIC, iter_feed

    with closing(open_store(load_node(home).store_url)) as store:
        for record in iter_feed(store, PUBLIC, 5000):
            yield record.text


def served(home: Path) -> Iterator[dict]:
    """The source's public feed as envelopes."""
    for text in feed_texts(home):
        yield json.loads(text)


# ---------------------------------------------------------------- two nodes

@dataclass
class Pair:
    source: Path
    puller: Path
    records: int = 0
    envelope_bytes: int = 0
    probe_rid: str = ""
    editor: str = ""
    url: str = ""
    proc: Any = None
    log: Any = None
    base_title: str = ""
    changes: int = 0

    def start(self) -> None:
        self.log = (self.source.parent / "source.log").open("wb")
        self.proc = subprocess.Popen([*CLI, "serve", "--dir", str(self.source), "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     env=_env())
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.proc.stdout.readline()),
                         daemon=True).start()
        try:
            line = lines.get(timeout=120)
        except queue.Empty:
            line = ""
        if not line.startswith(f"Serving {SOURCE_ID} on http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"the source did not start ({line!r}); see {self.log.name}")
        self.url = line.split(" on ", 1)[1].strip().rstrip("/")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None

    def source_pids(self) -> list[int]:
        return [self.proc.pid] + _descendants(self.proc.pid)

    def change_one(self) -> None:
        """A new version of one technology, written through the source's REST API."""
        import requests

        self.changes += 1
        url = f"{self.url}/api/v1/technologies/{self.probe_rid}"
        auth = {"Authorization": f"Bearer {self.editor}"}
        current = requests.get(url, headers=auth, timeout=60)
        current.raise_for_status()
        body = current.json()["body"]
        self.base_title = self.base_title or body["title"]["en"]
        body["title"]["en"] = f"{self.base_title} (revision {self.changes})"
        reply = requests.put(url, json={"body": body}, timeout=60,
                             headers={**auth, "If-Match": current.headers["ETag"]})
        if reply.status_code != 200:
            raise RuntimeError(f"update refused: {reply.status_code} {reply.text[:300]}")


def setup(n: int, workdir: Path, data: Path = DATA) -> Pair:
    """Two nodes in one alliance, the source holding n technologies and their owners and
    serving them, the puller with the source as its peer."""
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    pair = Pair(workdir / SOURCE_ID, workdir / PULLER_ID)
    alliance = workdir / "alliance"
    root = _cli("alliance", "init", "--dir", alliance, "--name", "Bench alliance"
                ).strip().splitlines()[-1]
    for home, node_id, country in ((pair.source, SOURCE_ID, "CN"), (pair.puller, PULLER_ID, "ID")):
        _cli("init", "--dir", home, "--name", f"Bench {node_id}", "--country", country,
             "--node-id", node_id, "--alliance-root", root)
    started = time.perf_counter()
    for path in catalogue(n, data):
        _cli("import", path, "--dir", pair.source)
    print(f"  sync {n:,}: catalogue imported in {time.perf_counter() - started:,.0f} s",
          flush=True)
    last = "{}"
    for last in feed_texts(pair.source):      # the canonical bytes the origin signed
        pair.records += 1
        pair.envelope_bytes += len(last.encode("utf-8"))
    newest = json.loads(last)                  # the technologies were imported last
    if newest.get("kind") != "technology":
        raise RuntimeError(f"the source's newest record is not a technology: {last[:200]}")
    pair.probe_rid = newest["rid"]
    pair.editor = _cli("token", "create", "--role", "editor", "--dir", pair.source).strip()
    pair.start()
    try:
        for home in (pair.source, pair.puller):
            card = home / "card.json"
            card.write_text(_cli("key", "show", "--json", "--dir", home))
            _cli("alliance", "admit", "--dir", alliance, "--card", card,
                 "--url", pair.url if home == pair.source else "http://127.0.0.1:9")
        for home in (pair.source, pair.puller):
            _cli("registry", "import", alliance / "registry.json", "--dir", home)
        _cli("peer", "add", pair.url, "--dir", pair.puller)
    except BaseException:
        pair.stop()
        raise
    return pair


def _peer_totals(puller: Path) -> dict[str, int]:
    from jembatan.sync.peers import PEERS_FILE, Peers

    (peer,) = Peers(puller / PEERS_FILE).list()
    return {"received": peer.received, "applied": peer.applied,
            "quarantined": peer.quarantined, "failures": peer.failures}


def _held(home: Path) -> int:
    from jembatan.api.node import load_node
    from jembatan.graph import open_store

    with closing(open_store(load_node(home).store_url)) as store:
        return sum(store.counts().values())


# ---------------------------------------------------------------- the measurements

def _probe_sync(pair: Pair) -> dict:
    """One `jembatan sync --once --quiet` in a process of its own, counting its socket
    reads; wall time, bytes, and the peaks of both nodes."""
    counts = pair.puller.parent / "probe.json"
    source = pair.source_pids()
    reset = all([_reset_peak(pid) for pid in source])
    load = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "bench.bench_sync", "--probe", str(counts),
                             "sync", "--once", "--quiet", "--dir", str(pair.puller)],
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with PeakRss(proc.pid) as puller, PeakRss(source[0]) as server:
        out, err = proc.communicate()
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"sync failed ({proc.returncode}): {err.decode()[-2000:]}")
    if pair.source_pids() != source:
        raise RuntimeError("a gunicorn worker of the source was replaced during the sync")
    server.sample(source)                  # the workers' peaks, exact: they are still alive
    wire = json.loads(counts.read_text())
    return {"seconds": seconds, "received_bytes": wire["received"], "sent_bytes": wire["sent"],
            "source": server.mb(), "puller": puller.mb(), "rss_since": "sync" if reset
            else "start", "load": load}


def initial_sync(pair: Pair) -> dict:
    run = _probe_sync(pair)
    totals = _peer_totals(pair.puller)
    held = _held(pair.puller)
    if totals["received"] != pair.records or totals["applied"] != pair.records \
            or totals["quarantined"] or held != pair.records:
        raise RuntimeError(f"incomplete sync: {pair.records} records served, totals {totals}, "
                           f"{held} held by the puller")
    records = totals["received"]
    return {"records": records, "seconds": run["seconds"], "rate": records / run["seconds"],
            "wire_bytes_per_record": run["received_bytes"] / records,
            "sent_bytes_per_record": run["sent_bytes"] / records,
            "envelope_bytes_per_record": pair.envelope_bytes / pair.records,
            "rss_source_mb": run["source"][0], "anon_source_mb": run["source"][1],
            "rss_puller_mb": run["puller"][0], "anon_puller_mb": run["puller"][1],
            "rss_processes": {"source": run["source"][2], "puller": run["puller"][2]},
            "rss_since": run["rss_since"], "load": run["load"]}


def incremental(pair: Pair, repeats: int = REPEATS) -> dict:
    """One change at the source, then one sync: ``repeats`` times as a process, then as
    ``Syncer.run_once`` in this process. Seconds per sync, and the bytes of one (process)."""
    process, in_process, wire = [], [], []
    for _ in range(repeats):
        before = _peer_totals(pair.puller)
        pair.change_one()
        run = _probe_sync(pair)
        after = _peer_totals(pair.puller)
        if (after["received"] - before["received"], after["applied"] - before["applied"]) != (1, 1):
            raise RuntimeError(f"one change, but the sync moved {before} → {after}")
        process.append(run["seconds"])
        wire.append(run["received_bytes"])

    from jembatan.api.node import load_node
    from jembatan.graph import open_store
    from jembatan.sync.peers import PEERS_FILE, Peers
    from jembatan.sync.runner import Syncer

    cfg = load_node(pair.puller)
    with closing(open_store(cfg.store_url)) as store:
        syncer = Syncer(cfg.home, cfg.node_id, store, Peers(cfg.home / PEERS_FILE))
        try:
            for _ in range(repeats):
                pair.change_one()
                started = time.perf_counter()
                (result,) = syncer.run_once(force=True)
                in_process.append(time.perf_counter() - started)
                if result.error or (result.received, result.applied) != (1, 1):
                    raise RuntimeError(f"one change, but the sync gave {result}")
        finally:
            syncer.close()
    return {"process_s": process, "in_process_s": in_process,
            "wire_bytes": statistics.median(wire)}


def couch(pair: Pair, workdir: Path) -> dict:
    from .couch import couch_replicate

    envelopes = served(pair.source)
    try:
        return couch_replicate(envelopes, n=pair.records, workdir=workdir / "couch")
    finally:
        envelopes.close()


def run_size(n: int, workdir: Path, *, couch_max: int = COUCH_MAX, repeats: int = REPEATS,
             data: Path = DATA, keep: bool = False) -> dict:
    """Every figure for one catalogue of ``n`` technologies (plus their owners)."""
    pair = setup(n, workdir, data)
    try:
        first = initial_sync(pair)
        print(f"  sync {n:,}: {first['records']:,} records in {first['seconds']:,.1f} s "
              f"({first['rate']:,.0f}/s)", flush=True)
        again = incremental(pair, repeats)
    finally:
        pair.stop()
    result = {"technologies": n, "initial": first, "incremental": again}
    if n <= couch_max:
        result["couch"] = couch(pair, workdir)
        print(f"  couch {n:,}: {result['couch']['rate']:,.0f} records/s", flush=True)
    else:
        result["couch"] = None
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def run(sizes: list[int], workdir: Path = OUT / "sync", **kw: Any) -> list[dict]:
    return [run_size(n, workdir / str(n), **kw) for n in sizes]


# ---------------------------------------------------------------- tables

def _ms(samples: list[float]) -> list[float]:
    return [statistics.median(samples) * 1000, min(samples) * 1000, max(samples) * 1000]


def tables(results: list[dict]) -> list[str]:
    from .common import table

    initial, procs, incr, versus = [], [], [], []
    for r in results:
        i, size = r["initial"], f"{r['technologies']:,}"
        initial.append([size, i["records"], round(i["seconds"], 1), round(i["rate"]),
                        i["wire_bytes_per_record"], i["envelope_bytes_per_record"],
                        i["wire_bytes_per_record"] / i["envelope_bytes_per_record"],
                        f"{i['rss_source_mb']:,.0f} ({i['anon_source_mb']:,.0f})",
                        f"{i['rss_puller_mb']:,.0f} ({i['anon_puller_mb']:,.0f})",
                        round(i["load"], 1)])
        for node in ("source", "puller"):
            procs.append([size, node, " + ".join(f"{kb / 1024:.0f}"
                                                 for kb in i["rss_processes"][node])])
        inc = r["incremental"]
        incr.append([size, "`jembatan sync --once` process", *_ms(inc["process_s"]),
                     len(inc["process_s"]), round(inc["wire_bytes"])])
        incr.append([size, "`Syncer.run_once` in-process", *_ms(inc["in_process_s"]),
                     len(inc["in_process_s"]), ""])
        c = r["couch"]
        if c is None:
            versus.append([size, "(pouchdb-server not run at this size)", "", "", ""])
            continue
        for measure, ours, theirs in (
                ("records/s", i["rate"], c["rate"]),
                ("wire bytes / record", i["wire_bytes_per_record"], c["wire_bytes_per_record"]),
                ("peak RSS source, MB", i["rss_source_mb"], c["rss_mb"]["source"]),
                ("peak RSS puller / target, MB", i["rss_puller_mb"], c["rss_mb"]["target"])):
            versus.append([size, measure, ours, theirs, ours / theirs])
    return [
        table("Initial sync, node → node over loopback HTTP (one `jembatan sync --once` "
              "process; verification and apply included)",
              ["technologies", "records", "seconds", "records/s", "wire bytes / record",
               "envelope bytes / record", "wire / envelope", "peak RSS source MB (anon)",
               "peak RSS puller MB (anon)", "load before"], initial),
        table("Peak RSS per process during the initial sync, MB (source: gunicorn master + "
              "workers; puller: sync process + verification pool)",
              ["technologies", "node", "VmHWM of each process"], procs),
        table("Incremental sync: one record changed at the source, then one sync",
              ["technologies", "sync", "p50 ms", "min ms", "max ms", "runs",
               "wire bytes"], incr),
        table("The same records through the CouchDB protocol (two in-memory pouchdb-servers, "
              "one-shot pull)",
              ["technologies", "measure", "Jembatan", "CouchDB protocol", "Jembatan / CouchDB"],
              versus),
    ]


# ---------------------------------------------------------------- the counting sync process

def _probe(out: str, argv: list[str]) -> None:
    """Run the `jembatan` command ``argv`` here, counting the bytes this process reads from
    and writes to its sockets; the counts go to ``out`` as JSON when it exits."""
    import atexit
    import socket

    counts, me = {"received": 0, "sent": 0}, os.getpid()
    cls = socket.socket
    recv_into, recv, sendall, send = cls.recv_into, cls.recv, cls.sendall, cls.send

    def counted_recv_into(self, buffer, *args):
        n = recv_into(self, buffer, *args)
        counts["received"] += n
        return n

    def counted_recv(self, *args):
        data = recv(self, *args)
        counts["received"] += len(data)
        return data

    def counted_sendall(self, data, *args):
        counts["sent"] += memoryview(data).nbytes
        return sendall(self, data, *args)

    def counted_send(self, data, *args):
        n = send(self, data, *args)
        counts["sent"] += n
        return n

    cls.recv_into, cls.recv, cls.sendall, cls.send = (counted_recv_into, counted_recv,
                                                      counted_sendall, counted_send)

    def write() -> None:
        if os.getpid() == me:       # not in a forked worker of the verification pool
            Path(out).write_text(json.dumps(counts))
    atexit.register(write)
    from jembatan.api.cli import cli
    cli.main(args=argv, prog_name="jembatan")


if __name__ == "__main__" and len(sys.argv) > 2 and sys.argv[1] == "--probe":
    _probe(sys.argv[2], sys.argv[3:])
