"""Projection of records into graph nodes and edges, shared by every backend.

    (Institution)-[:LOCATED_IN]->(Country)
    (Institution)-[:OWNS]->(Technology)-[:IN_FIELD]->(Field)
    (Institution)-[:SEEKS]->(Demand)-[:IN_FIELD]->(Field), (Demand)-[:INTERESTED_IN]->(Country)
    (Institution)-[:PARTY_TO {role}]->(Agreement)-[:TRANSFERS]->(Technology)
    (Agreement)-[:SIGNED_AT]->(Event), (Agreement)-[:IN_FIELD]->(Field)
    (Endorsement)-[:ENDORSES {version}]->(Agreement), (Endorsement)-[:BY]->(Institution)
    (Institution)-[:ORGANISED]->(Event), (Institution)-[:PARTICIPATED_IN]->(Event)
    (Event)-[:SHOWED]->(Technology), (Event)-[:HELD_IN]->(Country)

Every edge belongs to the record whose body names it (its ``owner`` below): applying a new
version replaces that record's edges. An edge may point at a rid not yet received; the
backend keeps a stub node for it until the record arrives.
"""
from __future__ import annotations

from jembatan.network.ids import parse_rid

from .store import GraphEdge, GraphNode

LABELS = {"institution": "Institution", "technology": "Technology", "demand": "Demand",
          "agreement": "Agreement", "endorsement": "Endorsement", "event": "Event"}


def country_node(code: str) -> str:
    return f"country:{code}"


def field_node(code: str) -> str:
    return f"field:{code}"


def label_of(node_id: str) -> str:
    """The label of a node id: a rid's kind, or Country / Field."""
    if node_id.startswith("country:"):
        return "Country"
    if node_id.startswith("field:"):
        return "Field"
    return LABELS[parse_rid(node_id).kind]


def node_props(env: dict) -> dict:
    """The few properties a graph node carries for display and filtering."""
    body, kind = env["body"] or {}, env["kind"]
    props = {"kind": kind, "visibility": env["visibility"]}
    for key in ("name", "title"):
        if key in body:
            props["name"] = body[key]
    for key in ("country", "kind", "trl", "stage", "status", "signed_on", "starts_on"):
        if key in body:
            props["subkind" if key == "kind" else key] = body[key]
    return props


def project(env: dict) -> tuple[GraphNode, list[GraphEdge]]:
    """The node and the outgoing/incoming edges a record contributes (none for a tombstone)."""
    rid, kind = env["rid"], env["kind"]
    node = GraphNode(rid, LABELS[kind], False, node_props(env))
    if env["deleted"] or env["body"] is None:
        return node, []
    b = env["body"]
    edges: list[GraphEdge] = []
    add = lambda src, typ, dst, **props: edges.append(GraphEdge(src, typ, dst, props))  # noqa: E731
    fields_ = b.get("fields", [])
    if kind == "institution":
        add(rid, "LOCATED_IN", country_node(b["country"]))
    elif kind == "technology":
        add(b["owner"], "OWNS", rid)
    elif kind == "demand":
        add(b["requester"], "SEEKS", rid)
        for cc in b.get("countries", []):
            add(rid, "INTERESTED_IN", country_node(cc))
    elif kind == "agreement":
        for party in b["parties"]:
            add(party["institution"], "PARTY_TO", rid, role=party["role"])
        if b.get("technology"):
            add(rid, "TRANSFERS", b["technology"])
        if b.get("event"):
            add(rid, "SIGNED_AT", b["event"])
    elif kind == "endorsement":
        add(rid, "ENDORSES", b["agreement"], version=b["version"])
        add(rid, "BY", b["party"])
    elif kind == "event":
        add(rid, "HELD_IN", country_node(b["country"]))
        for org in b.get("organisers", []):
            add(org, "ORGANISED", rid)
        for part in b.get("participants", []):
            add(part, "PARTICIPATED_IN", rid)
        for tech in b.get("technologies", []):
            add(rid, "SHOWED", tech)
    for code in fields_:
        add(rid, "IN_FIELD", field_node(code))
    return node, edges
