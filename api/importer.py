"""``jembatan import``: CSV, XLSX or JSON Lines into the node's store, all or nothing.

    read rows (main) ─chunks→ parse + validate (one process per core) ─in order→ resolve
    drafts against the store (main) ─generator→ ONE ``store.apply`` transaction (main)

Validation streams while the store writes, so no file is ever held in memory (the import
keeps a few bytes per row, the store one outcome per record), and a kill -9 at any moment
leaves the store as it was: the transaction never commits. Any invalid row aborts the
transaction unless ``skip_invalid``; then the valid rows are written and the invalid ones go
to a rejects file, each with its reasons. The store's write lock is held for the whole
import, so writes through the API wait for it (up to the store's busy timeout).

A row is either a full envelope (JSON Lines only: a line with ``hlc``, as ``jembatan export``
writes them; it must be one of this node's records) or a *draft*: kind, optional rid,
visibility, version, deleted, and a body. A draft without rid is a new record; with a rid of
this node it becomes the next version if its content differs and is ``unchanged`` if not.
``version``, when given, must name the stored version (a row edited from an old export is
refused instead of overwriting a newer change).

Row numbers are line numbers for JSON Lines and spreadsheet row numbers (header = 1) for
CSV/XLSX. The report has one JSON line per row: ``{row, rid, outcome, errors}``.
"""
from __future__ import annotations

import json
import os
import time
from array import array
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from jembatan.graph import open_store
from jembatan.graph.prepare import Prepared
from jembatan.graph.store import CREATED, REJECTED, STALE, UNCHANGED, UPDATED, BatchRejected
from jembatan.network import errors
from jembatan.network.envelope import make_envelope
from jembatan.network.hlc import Clock
from jembatan.network.ids import new_rid
from jembatan.network.keys import load_keyring
from jembatan.network.workers import worker_pool

from .import_rows import bad, set_context, sign, validate_chunk
from .import_sources import ImportFailed, open_source
from .node import NodeConfig

__all__ = ["ImportFailed", "ImportOptions", "ImportResult", "run_import"]

NOT_IMPORTED = "not_imported"  # a valid row of an import that was aborted
CHUNK_ROWS = 2000
#: below this size the rows are validated in this process: a pool costs more than it saves
PARALLEL_MIN_BYTES = 512 * 1024


@dataclass
class ImportOptions:
    fmt: str                          # csv | xlsx | jsonl
    kind: str | None = None           # kind of rows that name none
    visibility: str | None = None     # visibility of rows that name none
    skip_invalid: bool = False
    report: Path | None = None
    rejects: Path | None = None
    sheet: str | None = None
    jobs: int | None = None           # validating processes (default: every core)


@dataclass
class ImportResult:
    read: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        (CREATED, UPDATED, UNCHANGED, STALE, REJECTED), 0))
    written: bool = False
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # first few (row, field, detail)
    seconds: float = 0.0
    report: Path | None = None
    rejects: Path | None = None

    @property
    def rate(self) -> float:
        return self.read / self.seconds if self.seconds else 0.0


@contextmanager
def _validator(jobs: int) -> Iterator[Callable[[Iterator[list]], Iterator[list]]]:
    """A function mapping chunks to validated chunks, in order, on ``jobs`` processes.

    The pool forks before the store is opened, so no database connection crosses a fork;
    at most a few chunks are in flight, so a huge file never piles up in memory.
    """
    if jobs <= 1:
        yield lambda chunks: (validate_chunk(c) for c in chunks)
        return
    pool = worker_pool(jobs)

    def run(chunks: Iterator[list]) -> Iterator[list]:
        pending: deque = deque()
        for chunk in chunks:
            pending.append(pool.apply_async(validate_chunk, (chunk,)))
            if len(pending) >= 2 * jobs + 2:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()

    try:
        yield run
    finally:
        pool.terminate()
        pool.join()


def _chunks(rows: Iterator[tuple[int, Any]]) -> Iterator[list]:
    chunk: list = []
    for item in rows:
        chunk.append(item)
        if len(chunk) >= CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# -- the import (main process) --------------------------------------------------------------

class _Aborted(Exception):
    """Raised inside the store's transaction to roll it back: some row was invalid."""


def _same(a: Any, b: Any) -> bool:
    """Equal bodies, reading an empty list or mapping as an absent field (as a CSV cell does)."""
    def norm(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items() if x not in ([], {}, None)}
        if isinstance(v, list):
            return [norm(x) for x in v]
        return v
    return norm(a) == norm(b)


class _Run:
    """One import: resolves drafts, streams envelopes into the store, keeps the row book."""

    def __init__(self, cfg: NodeConfig, opts: ImportOptions, reader, on_write: Callable[[], None]):
        self.node_id = cfg.node_id
        self.opts = opts
        self.reader = reader               # a second store: reads see the state before the import
        self.clock = Clock()
        self.on_write = on_write
        self.read = 0
        self.yielded = array("q")          # row number of each envelope handed to the store
        self.valid = array("q")            # every valid row (for the report of an aborted import)
        self.rejected: dict[int, list[dict[str, str]]] = {}
        self.aborted = False

    def reject(self, rowno: int, problems: list[dict[str, str]]) -> None:
        self.rejected[rowno] = problems
        if not self.opts.skip_invalid:
            self.aborted = True

    def resolve(self, draft: tuple) -> dict:
        kind, rid, visibility, version, deleted, body = draft
        existing = self.reader.get(rid) if rid is not None else None
        if version is not None:
            if existing is None:
                raise bad("version", "No stored record has this rid; leave version empty to create it.")
            if existing.version != version:
                raise bad("version", f"The stored version is {existing.version}, the row was made "
                                      f"from version {version}: export again and redo the change.")
        if existing is None:
            if deleted:
                raise bad("deleted", "No stored record has this rid.")
            return sign(make_envelope(rid=rid or new_rid(self.node_id, kind), body=body, version=1,
                                      hlc=self.clock.tick(),
                                      visibility=visibility or self.opts.visibility or "public"))
        env = existing.envelope
        visibility = visibility or self.opts.visibility or env["visibility"]
        if visibility == env["visibility"] and (
                env["deleted"] if deleted else (not env["deleted"] and _same(body, env["body"]))):
            return env                     # the store reports it unchanged
        return sign(make_envelope(rid=rid, body=body, version=env["version"] + 1,
                                  hlc=self.clock.tick(env["hlc"]), visibility=visibility,
                                  deleted=deleted))

    def envelopes(self, validated: Iterator[list], progress: Callable[[], None]) -> Iterator[dict | Prepared]:
        started = False
        for chunk in validated:
            for rowno, what, value in chunk:
                self.read += 1
                if what == "error":
                    self.reject(rowno, value)
                    continue
                try:
                    env = value if what == "ready" else self.resolve(value)
                except errors.ValidationError as exc:
                    self.reject(rowno, exc.errors)
                    continue
                self.valid.append(rowno)
                if self.aborted:
                    continue               # keep validating, to list every bad row
                if not started:
                    started = True
                    self.on_write()
                self.yielded.append(rowno)
                yield env
            progress()
        if self.aborted:
            raise _Aborted()


def run_import(cfg: NodeConfig, path: Path, opts: ImportOptions, *,
               progress: Callable[[int, int], None] = lambda done, total: None,
               on_write: Callable[[], None] = lambda: None) -> ImportResult:
    """Import ``path`` into the node's store; see the module docstring.

    ``progress(done, total)`` is called after each chunk (bytes, or rows for XLSX);
    ``on_write()`` once, when the first record goes to the store.
    """
    started = time.perf_counter()
    ring = load_keyring(cfg.home)
    if not len(ring):
        raise ImportFailed("this node has no signing key yet: make one with `jembatan key rotate`")
    source = open_source(path, opts.fmt, sheet=opts.sheet, kind=opts.kind)
    set_context(opts.fmt, cfg.node_id, opts.kind, source.header,
                visibility=opts.visibility or "public", hlc=Clock().tick(),
                ring=ring)
    jobs = opts.jobs if opts.jobs is not None else (
        (os.cpu_count() or 1) if path.stat().st_size >= PARALLEL_MIN_BYTES else 1)
    result = ImportResult(report=opts.report or path.with_name(path.name + ".report.jsonl"))
    rejects = opts.rejects or path.with_name(f"{path.stem}.rejects{path.suffix}")
    # find out now, not after the store has committed, that a result file cannot be written
    for target in (result.report, *([rejects] if opts.skip_invalid else [])):
        if not os.access(target.parent.resolve(), os.W_OK) or target.resolve() == path.resolve():
            raise ImportFailed(f"cannot write {target}: pick another place with --report/--rejects")
    with _validator(jobs) as validate:
        store = open_store(cfg.store_url)
        try:
            reader = open_store(cfg.store_url)
            try:
                run = _Run(cfg, opts, reader, on_write)
                envelopes = run.envelopes(validate(_chunks(source.rows())),
                                          lambda: progress(source.position, source.total))
                try:
                    outcomes = store.apply(envelopes, trusted=True,
                                           all_or_nothing=not opts.skip_invalid)
                    result.written = True
                except BatchRejected as exc:
                    outcomes = exc.outcomes
                except _Aborted:
                    outcomes = None
            finally:
                reader.close()
        finally:
            store.close()
    result.read = run.read
    result.seconds = time.perf_counter() - started
    _write_report(result, run, outcomes)
    if opts.skip_invalid and run.rejected:
        result.rejects = rejects
        source.write_rejects(result.rejects, run.rejected)
    return result


def _write_report(result: ImportResult, run: _Run, outcomes: list | None) -> None:
    """One JSON line per row, in row order; the counts and the first errors go to ``result``."""
    rids: dict[int, str] = {}
    if outcomes is None:       # aborted while validating: no valid row reached the store
        done = ((rowno, None, NOT_IMPORTED) for rowno in run.valid)
    else:
        for rowno, outcome in zip(run.yielded, outcomes):
            if outcome.status == REJECTED:
                rids[rowno] = outcome.rid
                run.rejected[rowno] = [{"field": "(record)",
                                        "detail": outcome.reason or "Rejected by the store."}]
        done = ((rowno, o.rid, o.status if result.written else NOT_IMPORTED)
                for rowno, o in zip(run.yielded, outcomes) if rowno not in rids)
    bad = iter(sorted(run.rejected.items()))
    nxt = next(bad, None)
    counts = result.counts
    with open(result.report, "w", encoding="utf-8") as out:
        for rowno, rid, status in done:
            while nxt is not None and nxt[0] < rowno:
                _report_rejected(out, result, *nxt, rid=rids.get(nxt[0]))
                nxt = next(bad, None)
            if status != NOT_IMPORTED:
                counts[status] += 1
            out.write(f'{{"row":{rowno},"rid":{json.dumps(rid)},"outcome":"{status}","errors":[]}}\n')
        while nxt is not None:
            _report_rejected(out, result, *nxt, rid=rids.get(nxt[0]))
            nxt = next(bad, None)


def _report_rejected(out, result: ImportResult, rowno: int, problems: list, rid: str | None = None) -> None:
    result.counts[REJECTED] += 1
    for p in problems:
        if len(result.errors) < 20:
            result.errors.append((rowno, p["field"], p["detail"]))
    out.write(json.dumps({"row": rowno, "rid": rid, "outcome": REJECTED, "errors": problems},
                         ensure_ascii=False) + "\n")
