"""The meetings an event's agenda is made of: for every demand of a participant, the best
technologies of the other participants (``Matcher.match`` restricted to them), as
``agenda.Candidate``s between the technology's owner and the demand's requester.

A technology shown at the event whose owner is not a participant brings no meeting (there
is nobody to sit at the table); an organiser counts as a participant.
"""
from __future__ import annotations

from ..store import RecordQuery
from .agenda import Candidate

#: technologies kept per demand (a requester's best few, not its whole list)
PER_DEMAND = 5
#: demands read per participant
DEMANDS_PER_PARTY = 50


def candidates(matcher, store, event: dict, scope: frozenset[str], *,
               per_demand: int = PER_DEMAND) -> list[Candidate]:
    body = event.get("body") or {}
    present = set(body.get("participants") or ()) | set(body.get("organisers") or ())
    out: list[Candidate] = []
    for party in sorted(present):
        page = store.list(RecordQuery(kinds=("demand",), party=party, scope=scope,
                                      limit=DEMANDS_PER_PARTY))
        for demand in page.items:
            if demand.envelope.get("deleted"):
                continue
            doc = matcher.match(store, demand.rid, scope, limit=per_demand,
                                parties=present - {party})
            for r in doc["results"]:
                out.append(Candidate(r["party"], party, r["score"], (r["rid"], demand.rid)))
    return out
