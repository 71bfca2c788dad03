"""The puller: fetch each peer's changes feed, verify every record, apply page by page.

For one peer, one run:

1. ``GET /sync/v1/registry``: a registry with a higher serial and a valid root signature
   replaces ours; anything else is ignored (the last good copy stays).
2. ``GET /sync/v1/changes?since=<checkpoint>`` page after page. Each line is checked before
   it is parsed (``verify_text``: signed by the node whose namespace holds the rid, with the
   registry key valid at the record's HLC), then validated and prepared — on both cores for
   large pages. A record that fails is quarantined with its reason; a private record (which
   a peer must never send) too.
3. The page's records, the quarantined ones and the peer's next cursor commit in ONE store
   transaction: a crash anywhere re-fetches at most one page, and applying a page twice
   changes nothing (higher version wins; the same version is a no-op).

A peer's answer that is not a feed page at all (wrong type, no cursor, a 5xx, a timeout) is a
failure of the peer: nothing is applied, the checkpoint stays, and the run for that peer ends
with the error (the caller backs off). A 410 means the peer's history changed (restored from
a backup): the feed is read again from the beginning, once per run.
"""
from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from jembatan.graph.prepare import Prepared, prepare
from jembatan.graph.store import CREATED, REJECTED, STALE, UNCHANGED, UPDATED, Quarantined, Store
from jembatan.network import errors
from jembatan.network.envelope import load_envelope
from jembatan.network.registry import Registry, install_registry, load_registry
from jembatan.network.signing import verify_text
from jembatan.network.workers import worker_pool

from .transport import PeerClient, TransportError

log = logging.getLogger("jembatan.sync")

NDJSON = "application/x-ndjson"
PAGE = 1000
MAX_RECORD = 1 << 20          # bytes per line; a record larger than this is refused
POOL_MIN = 256                # pages smaller than this are checked in-process

#: an unescaped "visibility": "private" member anywhere in the line (inside a JSON string
#: the quotes would be escaped, so text fields cannot trigger it)
_PRIVATE = re.compile(r'"visibility"\s*:\s*"private"')

Checked = tuple  # ("ok", Prepared) | ("q", reason, detail, text, rid)


class PeerProtocolError(TransportError):
    """The peer answered, but not with what the protocol says (garbage, missing headers)."""


@dataclass
class PeerResult:
    url: str
    received: int = 0
    applied: int = 0
    unchanged: int = 0
    stale: int = 0
    quarantined: int = 0
    equivocations: int = 0             # of those, records contradicting a stored version
    pages: int = 0
    behind: int | None = None
    restarted: bool = False
    registry: str | None = None        # what happened to the peer's registry, if anything
    error: str | None = None
    retry_after: float | None = None

    def stats(self) -> dict[str, int]:
        return {"received": self.received, "applied": self.applied,
                "unchanged": self.unchanged, "stale": self.stale,
                "quarantined": self.quarantined}


def checkpoint_name(url: str) -> str:
    """The store's checkpoint of a peer, and the peer named in quarantine entries: its URL."""
    return url


# ---------------------------------------------------------------- checking one line

def _rid_of(text: str) -> str | None:
    try:
        rid = json.loads(text).get("rid")
    except (ValueError, AttributeError):
        return None
    return rid if isinstance(rid, str) and len(rid) < 200 else None


def check_line(text: str, registry: Registry) -> Checked:
    """One received line → ("ok", Prepared) or ("q", reason, detail, text, rid)."""
    if _PRIVATE.search(text):
        # only the origin holds private records; a peer sending one is broken or hostile.
        # Checked first, so no copy is kept whatever else is wrong with it.
        return ("q", "private", "A private record was offered by a peer; it was not kept.",
                "", _rid_of(text))
    if len(text) > MAX_RECORD:
        return ("q", "too_large", f"The record is over {MAX_RECORD} bytes.", text[:4096],
                None)
    try:
        env = verify_text(text, registry)
    except errors.SignatureError as exc:
        return ("q", exc.reason, exc.detail, text, _rid_of(text))
    except (ValueError, errors.JembatanError) as exc:
        return ("q", "malformed", str(exc)[:500], text, _rid_of(text))
    rid = env.get("rid") if isinstance(env.get("rid"), str) else None
    try:
        prepared = prepare(load_envelope(env))
    except errors.ValidationError as exc:
        detail = "; ".join(f"{e['field']}: {e['detail']}" for e in exc.errors[:5]) or exc.detail
        return ("q", "invalid", detail[:1000], text, rid)
    if prepared.text != text:
        return ("q", "not_canonical", "The record's text is not its canonical form.", text,
                rid)
    return ("ok", prepared)


# ---------------------------------------------------------------- both cores

_worker_registry: Registry | None = None


def _init_worker(registry_text: bytes, root: str) -> None:
    global _worker_registry
    _worker_registry = load_registry(registry_text, root)


def _check_chunk(lines: list[str]) -> list[Checked]:
    assert _worker_registry is not None
    return [check_line(line, _worker_registry) for line in lines]


class Checker:
    """Checks lines in-process or, for large pages, in a pool of worker processes."""

    def __init__(self, registry: Registry, root: str, jobs: int | None = None):
        self.registry, self.root = registry, root
        self.jobs = jobs if jobs is not None else (os.cpu_count() or 1)
        self._pool = None

    def __call__(self, lines: list[str]) -> list[Checked]:
        if self.jobs < 2 or len(lines) < POOL_MIN:
            return [check_line(line, self.registry) for line in lines]
        if self._pool is None:
            self._pool = worker_pool(self.jobs, _init_worker, (self.registry.text, self.root))
        size = -(-len(lines) // (self.jobs * 4))
        chunks = [lines[i:i + size] for i in range(0, len(lines), size)]
        return [c for part in self._pool.map(_check_chunk, chunks) for c in part]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None


# ---------------------------------------------------------------- one peer

def _split_page(body: bytes) -> list[str]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PeerProtocolError("the feed page is not UTF-8") from None
    if text and not text.endswith("\n"):
        raise PeerProtocolError("the feed page ends in the middle of a line")
    return text.splitlines()


def fetch_registry(client: PeerClient, home: Path, current: Registry | None) -> tuple[
        Registry | None, str | None]:
    """Install the peer's registry if it is newer and valid; (registry now held, note)."""
    try:
        reply = client.get("/sync/v1/registry", ok=(200, 404))
    except TransportError as exc:
        return current, f"registry not fetched: {exc}"
    if reply.status != 200 or (current is not None and reply.body == current.text):
        return current, None
    try:
        installed = install_registry(home, reply.body)
    except errors.JembatanError as exc:
        return current, f"registry refused: {exc.detail}"
    return installed, f"registry serial {installed.serial} installed"


def pull_peer(store: Store, client: PeerClient, url: str, checker: Checker, *,
              page: int = PAGE, progress: Callable[[PeerResult], None] | None = None,
              max_pages: int | None = None) -> PeerResult:
    """Pull ``url``'s feed up to its end (or ``max_pages``); see the module docstring."""
    result = PeerResult(url)
    name = checkpoint_name(url)
    cursor = store.get_checkpoint(name)
    restarted = False
    while max_pages is None or result.pages < max_pages:
        params = {"limit": page} if cursor is None else {"since": cursor, "limit": page}
        try:
            reply = client.get("/sync/v1/changes", params=params, accept=NDJSON,
                               ok=(200, 400, 410))
        except TransportError as exc:
            result.error, result.retry_after = str(exc), getattr(exc, "retry_after", None)
            return result
        if reply.status in (400, 410):
            if restarted or cursor is None:
                result.error = f"the peer refused the feed from the beginning ({reply.status})"
                return result
            # 410: the peer was restored from a backup; 400: the peer no longer knows our
            # cursor (its key changed). Either way the feed is read again from the start:
            # applying records twice changes nothing.
            cursor, restarted, result.restarted = None, True, True
            continue
        try:
            lines, next_cursor, more, behind = _read_page(reply)
        except PeerProtocolError as exc:
            result.error = str(exc)
            return result
        checked = checker(lines)
        batch: list[Prepared] = []
        held: list[Quarantined] = []
        for item in checked:
            if item[0] == "ok":
                batch.append(item[1])
            else:
                _, reason, detail, text, rid = item
                held.append(Quarantined(peer=url, reason=reason, detail=detail, text=text,
                                        rid=rid))
        outcomes = store.apply(batch, trusted=True, checkpoint=(name, next_cursor),
                               quarantine=held)
        result.pages += 1
        result.received += len(lines)
        result.quarantined += len(held)
        for o in outcomes:
            if o.status in (CREATED, UPDATED):
                result.applied += 1
            elif o.status == UNCHANGED:
                result.unchanged += 1
            elif o.status == STALE:
                result.stale += 1
            elif o.status == REJECTED:
                result.quarantined += 1
                if (o.reason or "").startswith("equivocation"):
                    result.equivocations += 1
                    log.warning("equivocation: %s from %s has version %s with other content "
                                "than the copy kept", o.rid, url, o.version)
        cursor, result.behind = next_cursor, behind
        if progress is not None:
            progress(result)
        if not more:
            break
    return result


def _read_page(reply) -> tuple[list[str], str, bool, int | None]:
    ctype = reply.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if ctype != NDJSON:
        raise PeerProtocolError(f"the peer answered {ctype or 'no content type'}, not a feed "
                                "page")
    next_cursor = reply.headers.get("Sync-Next", "")
    more = reply.headers.get("Sync-More")
    if not next_cursor or len(next_cursor) > 512 or more not in ("?1", "?0"):
        raise PeerProtocolError("the feed page lacks a valid Sync-Next or Sync-More header")
    behind = reply.headers.get("Sync-Behind")
    return (_split_page(reply.body), next_cursor, more == "?1",
            int(behind) if behind and behind.isdigit() else None)
