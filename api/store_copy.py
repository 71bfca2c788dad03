"""``jembatan store copy``: move a node's whole store to another backend, and prove it arrived.

    copy_store(src, dst, *, batch=5000, progress=None, into_nonempty=False) → CopyReport
    store_digest(store) → {kind: (count, sha256 hex)}

Every record — tombstones, every visibility and shadow tombstones included — is read from
the source in change order (``iter_all``), prepared once (``graph.prepare``) and applied to
the destination in batches of ``batch`` records, each batch one transaction (``trusted``:
the source already validated them). The destination keeps its own change sequence, so its seq numbers may
differ; what must not differ is the content, which ``store_digest`` summarises per kind from
both stores once the copy is done.

Peer checkpoints are not copied: they are positions in other nodes' feeds, and a node that
moves to a new store starts its pulls again (apply is idempotent, so that is safe).
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlsplit

from jembatan.graph import NEO4J_SCHEMES
from jembatan.graph.prepare import Prepared, prepare
from jembatan.graph.store import CREATED, LOCAL, REJECTED, STALE, UNCHANGED, UPDATED, Store
from jembatan.network.ids import KINDS

from .node import load_node

Digest = dict[str, tuple[int, str]]
#: progress(position, end): the change sequence reached in the source, out of its last one
Progress = Callable[[int, int], None]


class StoreArgumentError(ValueError):
    """A store named on the command line that cannot be copied from or to, and why."""


class NotEmpty(Exception):
    """The destination already holds records and the caller did not allow copying into it."""

    def __init__(self, last_seq: int):
        self.last_seq = last_seq
        super().__init__(f"not empty (its last change is #{last_seq})")


@dataclass
class CopyReport:
    """What a copy did and whether both stores now hold the same records."""
    read: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        (CREATED, UPDATED, UNCHANGED, STALE, REJECTED), 0))
    rejected: list[tuple[str, str]] = field(default_factory=list)   # (rid, reason), the first few
    copy_seconds: float = 0.0
    verify_seconds: float = 0.0
    src_digest: Digest = field(default_factory=dict)
    dst_digest: Digest = field(default_factory=dict)

    @property
    def equal(self) -> bool:
        return self.src_digest == self.dst_digest

    @property
    def differing(self) -> list[str]:
        """The kinds whose count or content hash differs."""
        return [k for k in KINDS if self.src_digest.get(k) != self.dst_digest.get(k)]

    @property
    def rate(self) -> float:
        return self.read / self.copy_seconds if self.copy_seconds > 0 else 0.0


class _DigestBuilder:
    """Collects (rid, hash) per kind; the digest hashes the sorted ``rid + " " + hash`` lines,
    so it is independent of the order (and seq numbers) in which a store holds them."""

    def __init__(self) -> None:
        self._lines: dict[str, list[str]] = {k: [] for k in KINDS}

    def add(self, kind: str, rid: str, content_hash: str) -> None:
        self._lines.setdefault(kind, []).append(f"{rid} {content_hash}")

    def digest(self) -> Digest:
        out: Digest = {}
        for kind, lines in self._lines.items():
            lines.sort()
            h = hashlib.sha256()
            for line in lines:
                h.update(line.encode("utf-8") + b"\n")
            out[kind] = (len(lines), h.hexdigest())
        return out


def store_digest(store: Store) -> Digest:
    """Per kind: (number of records, tombstones included; sha256 over their sorted
    ``rid + " " + content hash`` lines, a record with a shadow tombstone followed by the
    sha256 of the shadow's text). Equal digests mean the same records at the same versions
    with the same content and the same shadows, whatever the backend."""
    builder = _DigestBuilder()
    for rec in store.iter_all(LOCAL):
        digest = rec.hash
        if rec.shadow is not None:
            digest += " " + hashlib.sha256(rec.shadow.encode("utf-8")).hexdigest()
        builder.add(rec.envelope["kind"], rec.rid, digest)
    return builder.digest()


def copy_store(src: Store, dst: Store, *, batch: int = 5000, progress: Progress | None = None,
               into_nonempty: bool = False) -> CopyReport:
    """Copy every record of ``src`` into ``dst``, then compare both stores' digests.

    Raises ``NotEmpty`` (before writing anything) when ``dst`` has ever been written to,
    unless ``into_nonempty``: then the federation's rule applies record by record (a record
    already there at the same version is ``unchanged``, the higher version wins), which is
    how an interrupted copy is finished.

    Records are prepared in this process (measured on a 2-core machine that also runs
    Neo4j, preparing in worker processes only took CPU from the database).
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    dst_last = dst.last_seq()
    if dst_last and not into_nonempty:
        raise NotEmpty(dst_last)
    report = CopyReport()
    end = src.last_seq()

    def batches() -> Iterator[tuple[list[Prepared], int]]:
        chunk: list[Prepared] = []
        for rec in src.iter_all(LOCAL):
            shadow = json.loads(rec.shadow) if rec.shadow is not None else None
            chunk.append(prepare(rec.envelope, shadow=shadow))
            if len(chunk) >= batch:
                yield chunk, rec.seq
                chunk = []
        if chunk:
            yield chunk, rec.seq

    began = time.monotonic()
    for items, position in batches():
        for outcome in dst.apply(items, trusted=True):
            report.outcomes[outcome.status] = report.outcomes.get(outcome.status, 0) + 1
            if outcome.status == REJECTED and len(report.rejected) < 20:
                report.rejected.append((outcome.rid, outcome.reason or ""))
        report.read += len(items)
        if progress is not None:
            progress(position, max(end, position))
    report.copy_seconds = time.monotonic() - began

    began = time.monotonic()
    report.src_digest = store_digest(src)
    report.dst_digest = store_digest(dst)
    report.verify_seconds = time.monotonic() - began
    return report


def format_report(report: CopyReport) -> str:
    """The verification as a table: per kind, both counts and both content hashes."""
    rows = [("kind", "source", "destination", "source sha256", "destination sha256", "")]
    for kind in KINDS:
        s = report.src_digest.get(kind, (0, ""))
        d = report.dst_digest.get(kind, (0, ""))
        rows.append((kind, str(s[0]), str(d[0]), s[1][:16], d[1][:16],
                     "ok" if s == d else "DIFFERS"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(w) if i in (1, 2) else cell.ljust(w)
                       for i, (cell, w) in enumerate(zip(row, widths))).rstrip() for row in rows]
    o = report.outcomes
    lines += [f"rejected {rid}: {reason}" for rid, reason in report.rejected]
    lines.insert(0, f"{report.read} records read and applied in {report.copy_seconds:.1f} s "
                    f"({report.rate:,.0f}/s): {o[CREATED]} created, {o[UPDATED]} updated, "
                    f"{o[UNCHANGED]} unchanged, {o[STALE]} stale, {o[REJECTED]} rejected; "
                    f"verified in {report.verify_seconds:.1f} s")
    return "\n".join(lines)


# -- naming a store on the command line -------------------------------------------------------

def check_url(url: str) -> None:
    """``StoreArgumentError`` naming what is wrong with a store URL, before anything opens."""
    if url.startswith("sqlite:///"):
        if not url.removeprefix("sqlite:///"):
            raise StoreArgumentError("the sqlite URL names no file (sqlite:///path/node.db)")
        return
    scheme = url.split(":", 1)[0]
    if scheme not in NEO4J_SCHEMES or not url.startswith(f"{scheme}://"):
        raise StoreArgumentError(f"unsupported store URL scheme {scheme!r}: sqlite:///PATH or "
                                 + ", ".join(f"{s}://" for s in NEO4J_SCHEMES))
    from jembatan.graph.neo4j import parse_url
    try:
        parse_url(url)
    except ValueError as exc:
        raise StoreArgumentError(f"{redact(url)}: {exc}") from None


def resolve_store(arg: str) -> tuple[str, str | None]:
    """(store URL, node id or None) of a command-line argument: a store URL (anything with
    ``://``), or a node directory, which stands for its node's store (``JEMBATAN_STORE``, if
    set, overrides it as everywhere else). A directory that is no node raises ``NodeError``."""
    if "://" in arg:
        check_url(arg)
        return arg, None
    cfg = load_node(Path(arg))
    return cfg.store_url, cfg.node_id


def resolve_pair(src: str, dst: str) -> tuple[str, str]:
    """The store URLs of a copy's SRC and DST arguments; ``StoreArgumentError`` when one is
    malformed, when both name the same store, or two different nodes' directories (a store
    moves with its node)."""
    (src_url, src_node), (dst_url, dst_node) = resolve_store(src), resolve_store(dst)
    if same_store(src_url, dst_url):
        raise StoreArgumentError(f"SRC and DST are the same store ({redact(src_url)})")
    if src_node and dst_node and src_node != dst_node:
        raise StoreArgumentError(f"SRC is node {src_node} and DST is node {dst_node}: a store "
                                 "moves with its node (give DST as a store URL to copy anyway)")
    return src_url, dst_url


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{parts.username}:***@{host}").geturl()


def same_store(a: str, b: str) -> bool:
    """Whether two store URLs name the same storage (the same file, or the same database of
    the same server whatever the scheme and credentials)."""
    if a.startswith("sqlite:///") and b.startswith("sqlite:///"):
        return (Path(a.removeprefix("sqlite:///")).resolve()
                == Path(b.removeprefix("sqlite:///")).resolve())
    if a.startswith("sqlite:///") or b.startswith("sqlite:///"):
        return False
    try:
        pa, pb = urlsplit(a), urlsplit(b)
        da = dict(q.split("=", 1) for q in pa.query.split("&") if "=" in q).get("database", "neo4j")
        db = dict(q.split("=", 1) for q in pb.query.split("&") if "=" in q).get("database", "neo4j")
        return ((pa.hostname, pa.port or 7687, da) == (pb.hostname, pb.port or 7687, db))
    except ValueError:
        return a == b
