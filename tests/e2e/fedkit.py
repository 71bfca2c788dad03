"""A small federation of real node processes for the end-to-end tests.

    A ← B ← C        B pulls from A, C pulls from B (never from A): C verifies A's records
                     itself, relayed byte for byte by B.

Every node is admitted to one alliance whose registry every node holds; the tests drive the
nodes through their REST API, their /sync/v1 endpoints and the `jembatan` CLI.
"""
from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from jembatan.network.keys import load_keyring
from jembatan.sync.httpsig import NodeAuth

from nodes import Alliance, Node

_names = itertools.count(1)


def institution(name: str = "Institut Teknologi", country: str = "ID") -> dict:
    return {"name": {"id": f"{name} {next(_names)}", "en": f"{name} (en)"},
            "kind": "university", "country": country}


@dataclass
class Federation:
    alliance: Alliance
    a: Node
    b: Node
    c: Node

    def auth(self, node: Node) -> NodeAuth:
        """Request signatures made with ``node``'s own current key (as its puller makes them)."""
        return NodeAuth(node.node_id, load_keyring(node.home))

    def publish_registry(self, *nodes: Node) -> None:
        self.alliance.install(*(nodes or (self.a, self.b, self.c)))


def make_federation(tmp: Path) -> Federation:
    alliance = Alliance(tmp / "alliance")
    root = alliance.init()
    nodes = []
    for node_id, country in (("node-a", "ID"), ("node-b", "CN"), ("node-c", "TH")):
        node = Node(node_id, tmp / node_id)
        node.init(country, root=root)
        node.start()
        alliance.admit(node)
        nodes.append(node)
    fed = Federation(alliance, *nodes)
    fed.publish_registry()
    fed.b.peer(fed.a)
    fed.c.peer(fed.b)
    return fed


def stop_federation(fed: Federation) -> None:
    for node in (fed.a, fed.b, fed.c):
        node.stop()


# -- a node's outcome as its operator reads it ----------------------------------------------

def raw_text(node: Node, rid: str) -> str:
    """A record's canonical text exactly as ``node`` serves it to its peers (anonymously)."""
    reply = node.http.get(f"{node.url}/sync/v1/records/{rid}", timeout=60)
    assert reply.status_code == 200, reply.text
    return reply.text


_SUMMARY = re.compile(r"^(?P<url>\S+): received (?P<received>\d+), applied (?P<applied>\d+), "
                      r"unchanged (?P<unchanged>\d+), stale (?P<stale>\d+), quarantined "
                      r"(?P<quarantined>\d+) — (?P<state>.*)$", re.M)


def sync_summary(stdout: str, url: str) -> dict:
    """Peer ``url``'s line of a `jembatan sync` summary: its counts and its state ("ok" or
    "FAILED: …")."""
    for m in _SUMMARY.finditer(stdout):
        if m["url"] == url:
            return {**{k: int(m[k]) for k in ("received", "applied", "unchanged", "stale",
                                               "quarantined")}, "state": m["state"]}
    raise AssertionError(f"no summary line for {url} in {stdout!r}")


def quarantine_of(node: Node, via: str = "api") -> dict[str, list[dict]]:
    """rid → ``node``'s quarantine entries for it, newest first: through
    GET /api/v1/federation/quarantine (a viewer token) or `jembatan quarantine --json`."""
    if via == "api":
        reply = node.request("GET", "/api/v1/federation/quarantine?limit=500", "viewer")
        assert reply.status_code == 200, reply.text
        items = reply.json()["items"]
    else:
        out = node.cli("quarantine", "--json", "--limit", "1000").stdout
        items = [json.loads(line) for line in out.splitlines()]
    entries: dict[str, list[dict]] = {}
    for item in items:
        entries.setdefault(item["rid"], []).append(item)
    return entries


def peer_list(node: Node) -> dict[str, dict]:
    """`jembatan peer list --json`, by URL."""
    return {p["url"]: p for p in json.loads(node.cli("peer", "list", "--json").stdout)}
