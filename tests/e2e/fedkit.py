"""A small federation of real node processes for the end-to-end tests.

    A ← B ← C        B pulls from A, C pulls from B (never from A): C verifies A's records
                     itself, relayed byte for byte by B.

Every node is admitted to one alliance whose registry every node holds; the tests drive the
nodes through their REST API, their /sync/v1 endpoints and the `jembatan` CLI.
"""
from __future__ import annotations

import itertools
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
