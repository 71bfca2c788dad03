"""``jembatan demo``: a node — or, with ``--federation``, three — filled with a generated
alliance and served on 127.0.0.1.

The federation (``api.demo_federation``) runs each node as two processes, ``jembatan serve``
and ``jembatan sync --forever``, their output in ``DIR/<node>/logs/``; the command waits until
every node has pulled its peers to the end, prints what converged, and keeps the nodes
running until it is interrupted.
"""
from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import click

from jembatan.graph import open_store
from jembatan.network.keys import load_keyring, read_key_infos

from .cli_keys import dir_option
from .demo_showcase import showcase
from .node import NodeConfig, Tokens, init_node, load_node
from .store_copy import redact

DEMO_MARKER = "demo.json"


def _build_demo(home: Path, scale: int, store_url: str | None) -> NodeConfig:
    from jembatan.network.demo import generate
    from jembatan.network.signing import sign_all

    cfg = init_node(home, name="Jembatan demo node", country="ID", node_id=None,
                    store=store_url or "sqlite:///node.db")
    store = open_store(cfg.store_url)
    try:
        if store.last_seq():
            raise click.ClickException(f"the store {redact(cfg.store_url)} already holds records; "
                                       "the demo needs an empty one")
        click.echo(f"Generating and importing the demo records (scale {scale})…", err=True)
        # the first key's window starts at the epoch, so it covers the generated history
        key = load_keyring(cfg.home).current()
        outcomes = store.apply(sign_all(generate(scale, origin=cfg.node_id), key, cfg.node_id),
                               all_or_nothing=True)
        shown = showcase(store, key, cfg.node_id)
    finally:
        store.close()
    (cfg.home / DEMO_MARKER).write_text(json.dumps(
        {"scale": scale, "records": len(outcomes) + len(shown), "showcase": shown}) + "\n")
    click.echo(f"Imported {len(outcomes)} demo records", err=True)
    return cfg


@click.command()
@dir_option(required=False)
@click.option("--scale", default=1, show_default=True, type=click.IntRange(1, 10_000),
              help="Size of each catalogue: 500 records per unit (2000 = 10^6 records).")
@click.option("--store", "store_url", metavar="URL",
              help="Store of a new single demo node, e.g. neo4j://neo4j:PASSWORD@127.0.0.1:7687 "
                   "(it must be empty) [a SQLite file in DIR].")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535),
              help="Port (with --federation: of the hub; the others take the next two; 0 "
                   "picks free ports).")
@click.option("--federation", is_flag=True,
              help="Three nodes on loopback — a Nanning hub, Jakarta and Bangkok — syncing.")
@click.option("--no-serve", is_flag=True, help="Build the demo, do not serve it.")
def demo(home: Path | None, scale: int, store_url: str | None, host: str, port: int,
         federation: bool, no_serve: bool) -> None:
    """A node filled with a generated alliance, served on HOST:PORT; or, with --federation,
    a three-node federation.

    DIR defaults to ./var/demo/scale-N (./var/demo/scale-N-neo4j with a Neo4j --store,
    ./var/demo/federation-N with --federation); a DIR that already holds the demo is reused.
    """
    if federation:
        if store_url:
            raise click.UsageError("--store is for a single demo node")
        _federation(home or Path("var") / "demo" / f"federation-{scale}", scale, port, no_serve)
        return
    backend = "" if not store_url or store_url.startswith("sqlite:") else "-" + store_url.split(":")[0]
    home = home or Path("var") / "demo" / f"scale-{scale}{backend}"
    if (home / "node.json").exists():
        if not (home / DEMO_MARKER).exists():
            raise click.UsageError(f"{home} holds a node that is not a finished demo; "
                                   "pass another --dir")
        cfg = load_node(home)
        if not read_key_infos(cfg.home):
            raise click.UsageError(f"{home} holds a demo built before records were signed; "
                                   "remove it or pass another --dir")
        if store_url and store_url != cfg.store:
            raise click.UsageError(f"{home} holds a demo on {redact(cfg.store)}, not on "
                                   f"{redact(store_url)}; pass another --dir")
        click.echo(f"Reusing the demo node {cfg.node_id} in {cfg.home}", err=True)
    else:
        created = not home.exists()
        try:
            cfg = _build_demo(home, scale, store_url)
        except BaseException:
            if created:
                shutil.rmtree(home, ignore_errors=True)
            else:
                for name in (DEMO_MARKER, "node.json"):
                    (home / name).unlink(missing_ok=True)
            raise
    click.echo(f"Editor token: {Tokens(cfg.home).create('editor', 'demo')}")
    sys.stdout.flush()
    if not no_serve:
        from .cli import _serve
        _serve(cfg, host, port, dev=False)




# -- the federation -------------------------------------------------------------------------

def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _federation(home: Path, scale: int, port: int, no_serve: bool) -> None:
    from . import demo_federation as fed   # here, not at the top: every `jembatan` starts faster
    state = fed.load_state(home)
    if state is None:
        if home.exists() and any(home.iterdir()):
            raise click.UsageError(f"{home} is not empty and holds no demo federation; "
                                   "pass another --dir")
        ports = _free_ports(3) if port == 0 else [port, port + 1, port + 2]
        created = not home.exists()
        try:
            state = fed.build(home, scale, ports, say=lambda m: click.echo(m, err=True))
        except BaseException:
            if created:
                shutil.rmtree(home, ignore_errors=True)
            raise
    elif port not in (0, state["ports"][0]):
        raise click.UsageError(f"{home} holds a federation on ports {state['ports']}; pass "
                               f"--port {state['ports'][0]} or another --dir")
    tokens = {n.node_id: Tokens(home / n.node_id).create("viewer", "demo") for n in fed.NODES}
    for n in fed.NODES:
        click.echo(f"{n.node_id}: {state['urls'][n.node_id]}  (viewer token {tokens[n.node_id]})")
    sys.stdout.flush()
    if no_serve:
        return
    procs = _start(home, state)
    try:
        _await_convergence(state, procs)
        click.echo("Serving until interrupted (Ctrl-C).")
        sys.stdout.flush()
        _supervise(procs)
    finally:
        _stop(procs)


def _start(home: Path, state: dict) -> list[subprocess.Popen]:
    from . import demo_federation as fed
    procs = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    for n, port in zip(fed.NODES, state["ports"]):
        logs = home / n.node_id / "logs"
        logs.mkdir(exist_ok=True)
        base = [sys.executable, "-m", "jembatan.api.cli"]
        for name, args in (("serve", ["serve", "--port", str(port), "--host", "127.0.0.1"]),
                           ("sync", ["sync", "--forever", "--interval", "2", "--quiet"])):
            with open(logs / f"{name}.log", "ab") as log:
                procs.append(subprocess.Popen(base + args + ["--dir", str(home / n.node_id)],
                                              stdout=log, stderr=subprocess.STDOUT))
    return procs


def _status(url: str) -> dict | None:
    import requests
    try:
        reply = requests.get(url + "/api/v1/federation", timeout=5)
    except requests.RequestException:
        return None
    return reply.json() if reply.status_code == 200 else None


def _await_convergence(state: dict, procs: list[subprocess.Popen], limit: float = 300) -> None:
    import requests
    click.echo("Waiting for the three nodes to converge…", err=True)
    deadline = time.monotonic() + limit
    while True:
        if any(p.poll() is not None for p in procs):
            raise click.ClickException("a node process ended; see DIR/<node>/logs/")
        statuses = {n: _status(u) for n, u in state["urls"].items()}
        # every node pulled its peers to the end, and all hold the same public records
        if all(s and s["converged"] and s["peers"] for s in statuses.values()) and len(
                {json.dumps(s["records"], sort_keys=True) for s in statuses.values()}) == 1:
            break
        if time.monotonic() > deadline:
            raise click.ClickException("the nodes did not converge; see DIR/<node>/logs/")
        time.sleep(1.0)
    for node, s in statuses.items():
        peers = ", ".join(f"{p['url']} lag {p['lag']}" for p in s["peers"])
        click.echo(f"{node}: {sum(s['records'].values())} records, last_seq {s['last_seq']}; "
                   f"pulls from {peers}; quarantine {sum(s['quarantine'].values())}")
    bangkok = state["urls"]["bangkok"]
    conf = requests.get(f"{bangkok}/api/v1/agreements/{state['agreements']['confirmed']}"
                        "/confirmation", timeout=5).json()
    pending = requests.get(f"{bangkok}/api/v1/agreements/{state['agreements']['pending']}"
                           "/confirmation", timeout=5).json()
    click.echo(f"Converged. Bangkok pulls only from the hub and holds Jakarta's records; the "
               f"hub–Jakarta agreement is {'confirmed' if conf['confirmed'] else 'NOT confirmed'}"
               f" there, the hub–Bangkok one {'confirmed' if pending['confirmed'] else 'awaits Bangkok'}"
               "'s endorsement.")
    sys.stdout.flush()


def _supervise(procs: list[subprocess.Popen]) -> None:
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(1.0)
    except KeyboardInterrupt:
        return
    raise click.ClickException("a node process ended; see DIR/<node>/logs/")


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
