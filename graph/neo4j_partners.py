"""The partnership graph's input on the Neo4j store: institutions and agreements in bulk.

Two statements in one read transaction. A record node's ``props`` (the graph node's display
properties as JSON, written with the record) hold an institution's name, kind and country
and an agreement's kind, status and date, so no envelope is fetched; an agreement's parties
are its incoming PARTY_TO edges, read by a pattern comprehension in the same row — stubs and
institutions outside the scope among them, as on the SQLite store, which reads them from
the body the edges were projected from.

The driver decodes values in Python, one by one, so the rows come as few values as possible:
institutions as parallel lists in one record, and each agreement as one string — its rid,
its parties' rids and roles, then its props — joined by spaces (rids and roles have none,
and props start with "{"). At 10^5 agreements the agreements statement took ~2.0 s as
lists of lists, ~0.6 s as strings (the server's part: ~0.5 s).
"""
from __future__ import annotations

import json

from .sqlite_partners import year_of
from .store import PartnerAgreement, PartnerInstitution, Partnerships

_INSTITUTIONS = """
MATCH (r:Institution) WHERE r:Record AND NOT r.deleted AND r.visibility IN $scope
WITH r ORDER BY r.id
RETURN collect(r.id) AS rids, collect(r.props) AS props
"""
_AGREEMENTS = """
MATCH (a:Agreement) WHERE a:Record AND NOT a.deleted AND a.visibility IN $scope
WITH a ORDER BY a.id
RETURN collect(a.id + reduce(s = '', x IN [(i)-[p:PARTY_TO]->(a) | i.id + ' ' + p.role] | s + ' ' + x)
               + ' ' + a.props) AS rows
"""


def partnerships(tx, scope: frozenset[str]) -> Partnerships:
    """Run inside a read transaction ``tx``."""
    params = {"scope": sorted(scope)}
    loads = json.loads
    row = tx.run(_INSTITUTIONS, params).single(strict=True)
    institutions = []
    for rid, text in zip(row["rids"], row["props"]):
        props = loads(text)
        institutions.append(PartnerInstitution(rid, props["name"], props["country"],
                                               props["subkind"]))
    agreements = []
    for text in tx.run(_AGREEMENTS, params).single(strict=True)["rows"]:
        head, _, tail = text.partition(" {")
        rid, *flat = head.split(" ")
        props = loads("{" + tail)
        parties = sorted(zip(flat[::2], flat[1::2]))
        agreements.append(PartnerAgreement(rid, props["subkind"], props["status"],
                                           year_of(props.get("signed_on")), tuple(parties)))
    return Partnerships(tuple(institutions), tuple(agreements))
