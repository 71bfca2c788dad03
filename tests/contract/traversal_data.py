"""Generated federations and networkx reference answers for the traversal tests.

The references are computed from the envelopes alone (the projection and the visibility
rules as ``graph/store.py`` states them), never from a store.
"""
from __future__ import annotations

import random
from collections import deque

import networkx as nx

from jembatan.graph.projection import label_of, project
from jembatan.network.vocab import AGREEMENT_KINDS

COUNTRIES = ("CN", "TH", "VN", "ID", "MY", "LA")
FIELDS = ("new_energy", "ict", "marine", "modern_agriculture")
VISIBILITY = ["public"] * 7 + ["alliance", "private"]


def generated(rec, seed: int = 11, institutions: int = 60, agreements: int = 120
              ) -> tuple[list[dict], list[list[dict]], list[str]]:
    """(final envelope of each rid, batches to apply in order, stub rids): a random
    partnership graph with technologies, events and demands around it; every visibility,
    parties never received, updates that move parties, tombstones."""
    r = random.Random(seed)
    insts = [rec.institution(f"Institute {i}", country=r.choice(COUNTRIES),
                             visibility=r.choice(VISIBILITY)) for i in range(institutions)]
    stubs = [rec.rid("institution") for _ in range(5)]
    pool = [e["rid"] for e in insts] + stubs
    techs = [rec.technology(f"Technology {i}", owner=r.choice(pool),
                            fields=r.sample(FIELDS, r.randint(1, 2)), visibility=r.choice(VISIBILITY))
             for i in range(25)]
    events = [rec.event(f"Forum {i}", country=r.choice(COUNTRIES), organisers=r.sample(pool, 1),
                        participants=r.sample(pool, 3), technologies=[r.choice(techs)["rid"]],
                        visibility=r.choice(VISIBILITY)) for i in range(5)]
    demands = [rec.demand(f"Need {i}", requester=r.choice(pool), fields=r.sample(FIELDS, 1),
                          countries=r.sample(COUNTRIES, 2), visibility=r.choice(VISIBILITY))
               for i in range(8)]
    deals = []
    for _ in range(agreements):
        parties = r.sample(pool, 3 if r.random() < 0.2 else 2)
        roles = ["provider", "recipient", "partner"]
        body = {"kind": r.choice(AGREEMENT_KINDS), "status": "active",
                "parties": [{"institution": p, "role": role} for p, role in zip(parties, roles)]}
        if r.random() < 0.3:
            body["technology"] = r.choice(techs)["rid"]
        if r.random() < 0.1:
            body["event"] = r.choice(events)["rid"]
        deals.append(rec.envelope("agreement", body, visibility=r.choice(VISIBILITY)))
    endorsements = [rec.endorsement(agreement=d, party=d["body"]["parties"][1]["institution"])
                    for d in r.sample(deals, 6)]
    first = insts + techs + events + demands + deals + endorsements
    # applied out of id order, so a store's insertion order is not the order of the ids
    r.shuffle(first)
    later = []
    for env in r.sample(deals, 10):           # new parties: the old PARTY_TO edges must go
        later.append(rec.update(env, parties=[{"institution": p, "role": "partner"}
                                              for p in r.sample(pool, 2)]))
    moved = {e["rid"] for e in later}
    for env in r.sample([e for e in deals if e["rid"] not in moved], 6):
        later.append(rec.tombstone(env))
    for env in r.sample(insts, 3):            # a deleted institution is a stub
        later.append(rec.tombstone(env))
    final = {e["rid"]: e for e in first}
    final.update({e["rid"]: e for e in later})
    return list(final.values()), [first, later], stubs


# -- neighbourhoods ---------------------------------------------------------------------


def projected(envelopes: list[dict]) -> tuple[dict[str, dict], set[tuple[str, str, str]]]:
    """(rid → envelope, every edge of every live record) of the final envelopes."""
    records = {e["rid"]: e for e in envelopes}
    edges = set()
    for env in envelopes:
        _, out = project(env)
        edges.update((e.src, e.type, e.dst) for e in out)
    return records, edges


def kind_of(node_id: str) -> str:
    return label_of(node_id).lower()


def own_country(node_id: str, records: dict[str, dict]) -> str | None:
    if node_id.startswith("country:"):
        return node_id[8:]
    env = records.get(node_id)
    if env is None or env["deleted"]:
        return None
    return env["body"].get("country") if env["kind"] in ("institution", "event") else None


def reference_neighbourhood(records: dict[str, dict], edges: set, start: str, depth: int,
                            scope: frozenset[str], kinds=(), countries=()):
    """(node set, edge set) a breadth-first walk sees: live records within the scope,
    stubs (tombstones, never received) and places; the filters as the store states them."""
    def enters(node: str) -> bool:
        env = records.get(node)
        if env is not None and not env["deleted"] and env["visibility"] not in scope:
            return False
        if kinds and kind_of(node) not in kinds:
            return False
        country = own_country(node, records)
        return not (countries and country is not None and country not in countries)

    graph = nx.Graph()
    graph.add_edges_from((s, d) for s, _, d in edges)
    graph.add_node(start)
    seen, frontier = {start}, deque([(start, 0)])
    while frontier:
        node, dist = frontier.popleft()
        if dist == depth:
            continue
        for other in graph.neighbors(node):
            if other not in seen and enters(other):
                seen.add(other)
                frontier.append((other, dist + 1))
    return seen, {e for e in edges if e[0] in seen and e[2] in seen}


# -- partnership paths ------------------------------------------------------------------


def partnership_graph(envelopes: list[dict], scope: frozenset[str]) -> nx.Graph:
    """Live institutions and agreements within the scope, joined party to agreement."""
    live = {e["rid"]: e for e in envelopes if not e["deleted"] and e["visibility"] in scope}
    graph = nx.Graph()
    graph.add_nodes_from(rid for rid, e in live.items() if e["kind"] in ("institution", "agreement"))
    for rid, env in live.items():
        if env["kind"] == "agreement":
            graph.add_edges_from((p["institution"], rid) for p in env["body"]["parties"]
                                 if p["institution"] in live)
    return graph


def reference_paths(graph: nx.Graph, src: str, dst: str, k: int, max_hops: int) -> list[list[str]]:
    """The first k simple paths of at most max_hops agreements, by (length, ids)."""
    found = nx.all_simple_paths(graph, src, dst, cutoff=2 * max_hops)
    return sorted(found, key=lambda p: (len(p), p))[:k]
