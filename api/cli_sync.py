"""``jembatan peer``, ``jembatan sync`` and ``jembatan quarantine``: pulling from peers.

    peer add URL                      pull from the node at URL (its base URL)
    peer list [--json]                last sync, lag, failures and state of each peer
    peer remove URL|NODE              stop pulling from it (its records stay)
    sync --once | --forever           pull every peer, with progress and a per-peer summary
    quarantine [--reason R] [--json]  the records refused from peers, with the reason
"""
from __future__ import annotations

import functools
import json
import signal
import threading
from contextlib import closing
from pathlib import Path

import click

from jembatan.graph import open_store
from jembatan.sync.peers import PEERS_FILE, Peers
from jembatan.sync.puller import PeerResult
from jembatan.sync.runner import IDLE, Syncer
from jembatan.sync.transport import PeerClient

from .cli_keys import dir_option
from .node import load_node
from .settings import from_env

def open_peers(home: Path) -> Peers:
    return Peers(Path(home) / PEERS_FILE)


# -- peer -----------------------------------------------------------------------------------

@click.group()
def peer() -> None:
    """The nodes this node pulls records from."""


@peer.command("add")
@dir_option()
@click.argument("url")
def peer_add(home: Path, url: str) -> None:
    """Pull from the node at URL (e.g. https://node.example.org)."""
    cfg = load_node(home)
    added = open_peers(cfg.home).add(url)
    click.echo(f"Peer {added.url} added; `jembatan sync --once` pulls from it now.")


@peer.command("remove")
@dir_option()
@click.argument("peer_ref", metavar="URL|NODE")
def peer_remove(home: Path, peer_ref: str) -> None:
    """Stop pulling from a peer (the records already received stay)."""
    cfg = load_node(home)
    open_peers(cfg.home).remove(peer_ref)
    click.echo(f"Peer {peer_ref} removed.")


@peer.command("list")
@dir_option()
@click.option("--json", "as_json", is_flag=True)
def peer_list(home: Path, as_json: bool) -> None:
    """Each peer: state, last sync, lag (changes behind), failures and totals."""
    cfg = load_node(home)
    peers = open_peers(cfg.home).list()
    if as_json:
        click.echo(json.dumps([p.to_dict() for p in peers], indent=2, ensure_ascii=False))
        return
    if not peers:
        click.echo("No peers: `jembatan peer add URL` adds one.")
        return
    for p in peers:
        d = p.to_dict()
        click.echo(f"{p.url}  [{p.state}]  node {p.node_id or '?'}")
        click.echo(f"  last sync {d.get('last_success') or 'never'}, lag {_n(p.lag)}, "
                   f"failures {p.failures}"
                   + (f", next try {d['next_attempt']}" if p.failures else ""))
        click.echo(f"  received {p.received}, applied {p.applied}, unchanged {p.unchanged}, "
                   f"stale {p.stale}, quarantined {p.quarantined}")
        if p.last_error:
            click.echo(f"  last error: {p.last_error}")


def _n(value: int | None) -> str:
    return "?" if value is None else str(value)


# -- sync -----------------------------------------------------------------------------------

def _progress(result: PeerResult) -> None:
    click.echo(f"  {result.url}: page {result.pages}, received {result.received}, "
               f"applied {result.applied}, behind {_n(result.behind)}", err=True)


def _summary(results: list[PeerResult]) -> None:
    for r in results:
        state = "ok" if r.error is None else f"FAILED: {r.error}"
        click.echo(f"{r.url}: received {r.received}, applied {r.applied}, unchanged "
                   f"{r.unchanged}, stale {r.stale}, quarantined {r.quarantined} — {state}"
                   + (" (read again from the start: the peer's history changed)"
                      if r.restarted else ""))
        if r.registry:
            click.echo(f"  {r.registry}")
        if r.equivocations:
            click.echo(f"  ALERT: {r.equivocations} record(s) contradict a version already held "
                       "(equivocation by their origin): the first copy was kept; see "
                       "`jembatan quarantine --reason equivocation`", err=True)


@click.command()
@dir_option()
@click.option("--once", "mode", flag_value="once", default=True, help="One round (default).")
@click.option("--forever", "mode", flag_value="forever", help="Rounds until interrupted.")
@click.option("--peer", "only", metavar="URL|NODE", help="Only this peer.")
@click.option("--page", default=1000, show_default=True, type=click.IntRange(1, 5000),
              help="Records per request.")
@click.option("--interval", default=IDLE, show_default=True, type=click.FloatRange(0.2, 86400),
              help="--forever: seconds between rounds while all is well.")
@click.option("--quiet", is_flag=True, help="No per-page progress.")
def sync(home: Path, mode: str, only: str | None, page: int, interval: float,
         quiet: bool) -> None:
    """Pull the peers' changes: verified, applied and checkpointed page by page.

    --once tries every peer now, whatever its backoff; it exits 1 if a peer failed.
    --forever respects each peer's backoff and circuit breaker.
    """
    cfg = load_node(home)
    settings = from_env()
    client = functools.partial(PeerClient,
                               connect_timeout=settings["JEMBATAN_SYNC_CONNECT_TIMEOUT"],
                               read_timeout=settings["JEMBATAN_SYNC_READ_TIMEOUT"],
                               max_body=settings["JEMBATAN_SYNC_MAX_BODY_BYTES"])
    progress = None if quiet else _progress
    with closing(open_store(cfg.store_url)) as store:
        syncer = Syncer(cfg.home, cfg.node_id, store, open_peers(cfg.home), page=page,
                        interval=interval, client=client)
        try:
            if mode == "once":
                results = syncer.run_once(force=True, only=only, progress=progress)
                _summary(results)
                if not results:
                    click.echo("No peers: `jembatan peer add URL` adds one.")
                if any(r.error for r in results):
                    raise SystemExit(1)
                return
            stop = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
            # a round that brought nothing and failed nowhere is not worth a line
            syncer.run_forever(stop, progress=progress, report=lambda results: _summary(
                [r for r in results if r.received or r.error]))
        finally:
            syncer.close()


# -- quarantine -----------------------------------------------------------------------------

@click.command()
@dir_option()
@click.option("--reason", help="Only this reason (e.g. bad_signature, equivocation).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="JSON lines, with the refused text.")
def quarantine(home: Path, reason: str | None, limit: int, as_json: bool) -> None:
    """Records refused from peers, newest first, with the reason."""
    cfg = load_node(home)
    with closing(open_store(cfg.store_url)) as store:
        entries = store.quarantined(limit=limit, reason=reason)
        counts = store.quarantine_counts()
    if as_json:
        for e in entries:
            click.echo(json.dumps({"id": e.id, "at_ms": e.at_ms, "peer": e.peer, "rid": e.rid,
                                   "reason": e.reason, "detail": e.detail, "text": e.text},
                                  ensure_ascii=False))
        return
    if not entries:
        click.echo("Nothing in quarantine.")
        return
    click.echo("In quarantine: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for e in entries:
        click.echo(f"#{e.id} {e.reason}: {e.rid or '(no rid)'} from {e.peer}\n    {e.detail}")
