"""Is a cross-node agreement confirmed?

An agreement names its parties (institutions); each institution's home node is the node whose
namespace holds its rid. The agreement is *confirmed* only when every party's home node has
endorsed this very version: an endorsement record signed by that node, naming the party, the
agreement, its version and its content hash. An endorsement of another version, or of the
same version with other content, does not count.
"""
from __future__ import annotations

from jembatan.graph.store import Store
from jembatan.network.ids import parse_rid

ENDORSED, MISSING, OTHER_VERSION, OTHER_CONTENT = ("endorsed", "missing", "other_version",
                                                   "other_content")


def confirmation(store: Store, rid: str, scope: frozenset[str]) -> dict | None:
    """The agreement's confirmation state, party by party; None if it is not visible."""
    agreement = store.get(rid, scope)
    if agreement is None or agreement.envelope["kind"] != "agreement":
        return None
    env = agreement.envelope
    doc = {"agreement": rid, "version": env["version"], "content_hash": agreement.hash,
           "deleted": env["deleted"], "confirmed": False, "parties": []}
    if env["deleted"]:
        return doc
    around = store.neighbours(rid, depth=1, scope=scope, limit=500)
    endorsements = []
    for node in around.nodes:
        if node.label == "Endorsement" and not node.stub:
            stored = store.get(node.id, scope)
            if stored is not None and not stored.envelope["deleted"]:
                endorsements.append(stored.envelope)
    for party in env["body"]["parties"]:
        institution = party["institution"]
        home = parse_rid(institution).origin
        mine = [e for e in endorsements if e["origin"] == home
                and e["body"]["party"] == institution and e["body"]["agreement"] == rid]
        state, found = MISSING, None
        for e in sorted(mine, key=lambda e: e["body"]["version"], reverse=True):
            b = e["body"]
            here = (ENDORSED if b["version"] == env["version"] and b["content_hash"] == agreement.hash
                    else OTHER_CONTENT if b["version"] == env["version"] else OTHER_VERSION)
            if found is None or here == ENDORSED:
                state, found = here, e
            if here == ENDORSED:
                break
        doc["parties"].append({"institution": institution, "home_node": home, "state": state,
                               "endorsement": found["rid"] if found else None,
                               "endorsed_version": found["body"]["version"] if found else None})
    doc["confirmed"] = all(p["state"] == ENDORSED for p in doc["parties"])
    return doc
