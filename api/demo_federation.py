"""The demo federation: a Nanning hub, Jakarta and Bangkok on loopback.

    DIR/alliance/         root key and registry (the alliance secretariat)
    DIR/<node>/           three member nodes, each with its own generated catalogue
    DIR/federation.json   ports, node ids, the demo's two cross-node agreements and the hub's
                          showcase records (``demo_showcase``)

Jakarta and Bangkok pull from the hub, the hub from both: Bangkok never talks to Jakarta and
still holds Jakarta's records after a sync, verified against Jakarta's key — the hub relays
them byte for byte. Only the hub starts with the registry; the others fetch it from the hub
on their first sync (they trust it because the alliance root signed it).

Two agreements cross nodes: hub–Jakarta, endorsed by both home nodes (confirmed), and
hub–Bangkok, endorsed by the hub only (not confirmed until Bangkok endorses it).
"""
from __future__ import annotations

import json
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from jembatan.graph import open_store
from jembatan.graph.store import PUBLIC, RecordQuery
from jembatan.network.demo import generate
from jembatan.network.envelope import content_hash, make_envelope
from jembatan.network.hlc import Clock
from jembatan.network.ids import new_rid
from jembatan.network.keys import generate_key, load_keyring, read_key_infos, write_private
from jembatan.network.registry import admit, install_registry, new_document, publish
from jembatan.network.signing import sign_all, sign_envelope
from jembatan.sync.peers import PEERS_FILE, Peers

from .demo_showcase import showcase
from .node import init_node, load_node

STATE_FILE = "federation.json"
@dataclass(frozen=True)
class DemoNode:
    node_id: str
    name: str
    country: str
    seed: int
    pulls_from: tuple[str, ...]


NODES = (
    DemoNode("nanning-hub", "China–ASEAN Technology Transfer Center, Nanning", "CN", 11,
             ("jakarta", "bangkok")),
    DemoNode("jakarta", "Jakarta technology transfer office", "ID", 12, ("nanning-hub",)),
    DemoNode("bangkok", "Bangkok technology transfer office", "TH", 13, ("nanning-hub",)),
)
HUB = NODES[0].node_id


def url_of(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def load_state(home: Path) -> dict | None:
    try:
        return json.loads((home / STATE_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def build(home: Path, scale: int, ports: list[int], say=print) -> dict:
    """Make the alliance, the three nodes with their catalogues, peers and agreements."""
    (home / "alliance").mkdir(parents=True, exist_ok=True)
    root = generate_key()
    write_private(home / "alliance" / "root.pem", root.to_pem())
    doc = new_document("China–ASEAN technology transfer alliance (demo)")
    urls = {n.node_id: url_of(p) for n, p in zip(NODES, ports)}
    for n in NODES:
        cfg = init_node(home / n.node_id, name=n.name, country=n.country, node_id=n.node_id,
                        url=urls[n.node_id], alliance_root=root.public)
        info = read_key_infos(cfg.home)[-1]
        doc = admit(doc, n.node_id, url=urls[n.node_id], kid=info.kid, public=info.public,
                    not_before=info.not_before)
    text = publish(doc, root, serial=1)
    (home / "alliance" / "registry.json").write_bytes(text)
    install_registry(home / HUB, text)      # the others fetch it from the hub
    for n in NODES:
        say(f"Generating {n.node_id}'s catalogue (scale {scale})…")
        _fill(home / n.node_id, n, scale)
        peers = Peers(home / n.node_id / PEERS_FILE)
        for other in n.pulls_from:
            peers.add(urls[other])
    agreements = _agreements(home)
    with closing(open_store(load_node(home / HUB).store_url)) as store:
        shown = showcase(store, load_keyring(home / HUB).current(), HUB)
    state = {"scale": scale, "ports": ports, "urls": urls, "agreements": agreements,
             "showcase": shown}
    (home / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    return state


def _fill(node_home: Path, n: DemoNode, scale: int) -> None:
    cfg = load_node(node_home)
    key = load_keyring(node_home).current()
    with closing(open_store(cfg.store_url)) as store:
        store.apply(sign_all(generate(scale, origin=n.node_id, seed=n.seed), key, n.node_id),
                    all_or_nothing=True)


def _first_institution(node_home: Path) -> str:
    with closing(open_store(load_node(node_home).store_url)) as store:
        page = store.list(RecordQuery(kinds=("institution",), scope=PUBLIC, limit=1))
    return page.items[0].rid


def _write(node_home: Path, node_id: str, env: dict) -> dict:
    signed = sign_envelope(env, load_keyring(node_home).current(), node_id)
    with closing(open_store(load_node(node_home).store_url)) as store:
        store.apply([signed], all_or_nothing=True)
    return signed


def _agreements(home: Path) -> dict:
    """Hub–Jakarta endorsed by both home nodes; hub–Bangkok by the hub only."""
    clock = Clock()
    hub_inst = _first_institution(home / HUB)
    out = {}
    for partner, both in (("jakarta", True), ("bangkok", False)):
        other = _first_institution(home / partner)
        body = {"kind": "joint_rd", "status": "active",
                "title": {"en": f"Joint laboratory: Nanning hub and {partner.capitalize()}",
                          "zh-Hans": "联合实验室合作协议"},
                "parties": [{"institution": hub_inst, "role": "partner"},
                            {"institution": other, "role": "partner"}]}
        agreement = _write(home / HUB, HUB, make_envelope(
            rid=new_rid(HUB, "agreement"), body=body, version=1, hlc=clock.tick(),
            visibility="public"))
        digest = content_hash(agreement)
        for node_id, party in ((HUB, hub_inst), (partner, other))[:2 if both else 1]:
            _write(home / node_id, node_id, make_envelope(
                rid=new_rid(node_id, "endorsement"), version=1, hlc=clock.tick(),
                visibility="public", body={"agreement": agreement["rid"], "version": 1,
                                           "content_hash": digest, "party": party}))
        out["confirmed" if both else "pending"] = agreement["rid"]
    return out
