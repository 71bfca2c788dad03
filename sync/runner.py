"""A node's sync rounds: every peer pulled in turn, the outcome recorded in the peers table.

    Syncer(home, node_id, store, peers).run_once(force=True)   # `jembatan sync --once`
    Syncer(...).run_forever(stop)                               # `jembatan sync --forever`

A peer that fails is tried again after a full-jitter exponential backoff (at least its
Retry-After) and, after repeated failures, only when its circuit breaker lets a trial through
(``sync.peers``). A round never stops at a failing peer: the others are still pulled.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

from jembatan.graph.store import Store
from jembatan.network import errors
from jembatan.network.keys import load_keyring
from jembatan.network.registry import Registry, load_node_registry, pinned_root

from .httpsig import NodeAuth
from .peers import Peer, Peers, normalise_url
from .puller import PAGE, Checker, PeerResult, fetch_registry, pull_peer
from .transport import PeerClient

#: how long `sync --forever` waits at most between rounds when no peer is due earlier
IDLE = 30.0


class Syncer:
    def __init__(self, home: Path | str, node_id: str, store: Store, peers: Peers, *,
                 page: int = PAGE, jobs: int | None = None, interval: float = IDLE,
                 client: Callable[..., PeerClient] = PeerClient,
                 clock: Callable[[], float] = time.time):
        self.home, self.node_id = Path(home), node_id
        self.store, self.peers = store, peers
        self.page, self.jobs, self.interval = page, jobs, interval
        self._client, self._clock = client, clock
        self._checker: Checker | None = None

    def _checker_for(self, registry: Registry, root: str) -> Checker:
        if self._checker is None or self._checker.registry.serial != registry.serial:
            self.close()
            self._checker = Checker(registry, root, self.jobs)
        return self._checker

    def run_once(self, *, force: bool = False, only: str | None = None,
                 progress: Callable[[PeerResult], None] | None = None) -> list[PeerResult]:
        """Pull every due peer (``force``: every peer) once; one result per peer tried."""
        root = pinned_root(self.home)
        if root is None:
            raise errors.Conflict("This node has no pinned alliance root key, so it can verify "
                                  "nothing: `jembatan registry pin KEY` first.")
        now = self._clock()
        chosen = self.peers.list() if force or only else self.peers.due(now)
        if only is not None:
            chosen = [p for p in chosen if only in (p.url, p.node_id)]
            if not chosen:
                raise errors.NotFound(f"No peer {only!r}: `jembatan peer list` shows them.")
        registry = load_node_registry(self.home)
        auth = NodeAuth(self.node_id, load_keyring(self.home))
        results = []
        for peer in chosen:
            with self._client(peer.url, auth=auth) as client:
                registry, note = fetch_registry(client, self.home, registry)
                if registry is None:
                    result = PeerResult(peer.url, registry=note,
                                        error="no alliance registry: neither this node nor the "
                                              "peer holds one")
                else:
                    result = pull_peer(self.store, client, peer.url,
                                       self._checker_for(registry, root), page=self.page,
                                       progress=progress)
                    result.registry = note
            self._record(peer, result, registry)
            results.append(result)
        return results

    def _record(self, peer: Peer, result: PeerResult, registry: Registry | None) -> None:
        node_id = None
        if registry is not None:
            node_id = next((n.node for n in registry.nodes() if _same_url(n.url, peer.url)), None)
        self.peers.record_attempt(peer.url, ok=result.error is None, now=self._clock(),
                                  error=result.error, retry_after=result.retry_after,
                                  stats=result.stats(), lag=result.behind, node_id=node_id)

    def run_forever(self, stop: threading.Event,
                    progress: Callable[[PeerResult], None] | None = None,
                    report: Callable[[list[PeerResult]], None] | None = None) -> None:
        """Rounds until ``stop`` is set, each as soon as a peer is due (at most ``interval``
        apart when all is well)."""
        while not stop.is_set():
            results = self.run_once(progress=progress)
            if results and report is not None:
                report(results)
            # all well: the next round after ``interval``; a peer failing: when it is due
            now = self._clock()
            waits = [self.interval] + [max(0.0, p.next_attempt - now) for p in self.peers.list()
                                       if p.failures and p.next_attempt]
            stop.wait(max(0.2, min(waits)))

    def close(self) -> None:
        if self._checker is not None:
            self._checker.close()
            self._checker = None


def _same_url(a: str, b: str) -> bool:
    try:
        return normalise_url(a) == normalise_url(b)
    except errors.ValidationError:
        return False
