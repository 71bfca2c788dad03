"""The partnership graph's pages: an institution with its neighbourhood, and the explorer.

    /<locale>/records/<rid>            an institution (``views.record`` calls
                                       ``institution_page``): its partners drawn and tabled,
                                       partners by country, agreements by year, suggestions
    /<locale>/explorer                 the graph explorer; ``?focus=<node id>`` starts there
                                       (else at the best-connected institution), ``?q=``
                                       finds institutions by name, ``?from=&to=`` lists the
                                       paths between two institutions (the same without script)
    /<locale>/explorer/neighbours      JSON: ``?rid=&kind=&country=&limit=`` a node's neighbours
    /<locale>/explorer/paths           JSON: ``?from=&to=&k=&max_hops=`` the k shortest paths
    /<locale>/explorer/institutions    JSON: ``?q=&limit=`` institutions by name (without q,
                                       the best-connected)

The JSON answers feed ``static/js/graph.js``: every label is already in the reader's
language (record text through ``pick_text`` with the "shown in …" note, countries from
CLDR, vocabulary labels), so the script formats nothing. Bad input is a 400 problem
document naming the field; what the reader may not see (``viewer_scope``) does not exist
for them (404, or simply absent).

Partnerships come from ``analytics.GraphCache``, the partnership graph built once per store
state and reader scope: the same graph and computations as ``/api/v1/graph``.
"""
from __future__ import annotations

import heapq
from bisect import bisect_left
from operator import attrgetter
from typing import Any

import marshmallow as ma
from flask import Blueprint, Response, current_app, g, render_template, request, url_for
from flask_babel import gettext as _, ngettext
from marshmallow import fields as mf, validate
from webargs.multidictproxy import MultiDictProxy

from jembatan.graph import analytics
from jembatan.graph.projection import node_props
from jembatan.graph.store import Partnerships, RecordQuery, StoredRecord, Subgraph
from jembatan.network import errors, vocab
from jembatan.network.ids import parse_rid
from jembatan.network.schemas import Country, RidRef
from jembatan.network.text import CleanString

from .graph import NODE_KINDS, PathArgs, paths_doc
from .i18n import (country_name, enum_label, field_label, fmt_date, fmt_number, language_name,
                   pick_text)
from .records import json_response, node_state
from .views_staff import viewer_scope

DRAWN = 100          # partners drawn around an institution (its table lists every partner)
SUGGESTED = 5        # partners of partners suggested on an institution's page
NEIGHBOURS = 100     # nodes one expansion brings at most, by default
MAX_NEIGHBOURS = 500
FOUND = 20           # institutions the explorer's search lists
#: the vocabulary of each record kind's own "kind" field
SUBKINDS = {"institution": "institution_kind", "agreement": "agreement_kind",
            "event": "event_kind"}
_RID = attrgetter("rid")


# --- labels in the reader's language ---------------------------------------------------------

def kind_label(kind: str) -> str:
    """The name of a node kind: a record kind, a country or a technology field."""
    if kind == "country":
        return _("Country")
    if kind == "field":
        return _("Technology field")
    return enum_label("record_kind", kind)


def node_doc(node_id: str, kind: str, props: dict, stub: bool = False) -> dict[str, Any]:
    """A graph node as the pages' script draws it, every label localized:
    ``{id, kind, kind_label, label, lang, shown_in, stub, country, country_name, subkind,
    subkind_label, url}``; ``shown_in`` says which language a fallback label is in."""
    doc: dict[str, Any] = {
        "id": node_id, "kind": kind, "kind_label": kind_label(kind), "label": "", "lang": None,
        "shown_in": None, "stub": stub, "country": None, "country_name": None,
        "subkind": None, "subkind_label": None, "url": None}
    code = node_id.partition(":")[2]
    if kind == "country":
        return {**doc, "label": country_name(code), "country": code,
                "country_name": country_name(code)}
    if kind == "field":
        return {**doc, "label": field_label(code)}
    if stub:    # referenced, never received (or deleted): nothing to show but its kind
        return {**doc, "label": _("%(kind)s not received yet", kind=doc["kind_label"])}
    subkind = props.get("subkind")
    if isinstance(subkind, str) and kind in SUBKINDS:
        doc.update(subkind=subkind, subkind_label=enum_label(SUBKINDS[kind], subkind))
    if props.get("country"):
        doc.update(country=props["country"], country_name=country_name(props["country"]))
    picked = pick_text(props.get("name"), g.locale)
    doc.update(label=picked.text or doc["subkind_label"] or doc["kind_label"], lang=picked.lang,
               url=url_for("views.record", rid=node_id))
    if picked.fallback:
        doc["shown_in"] = _("shown in %(language)s", language=language_name(picked.lang, g.locale))
    return doc


def edge_id(src: str, type_: str, dst: str) -> str:
    return f"{src} {type_} {dst}"


def edge_doc(src: str, type_: str, dst: str, props: dict) -> dict[str, Any]:
    role = props.get("role")
    return {"id": edge_id(src, type_, dst), "source": src, "target": dst, "type": type_,
            "label": enum_label("party_role", role) if role else ""}


def subgraph_doc(sub: Subgraph) -> dict[str, list]:
    return {"nodes": [node_doc(n.id, n.label.lower(), n.props, n.stub) for n in sub.nodes],
            "edges": [edge_doc(e.src, e.type, e.dst, e.props) for e in sub.edges]}


def _institution_doc(G, rid: str) -> dict[str, Any]:
    attrs = G.nodes[rid]
    return node_doc(rid, "institution", {"name": attrs["name"], "country": attrs["country"],
                                         "subkind": attrs["kind"]})


# --- arguments -------------------------------------------------------------------------------

class NodeRef(mf.String):
    """A graph node: a record's rid, or a place node (``country:TH``, ``field:ict``)."""

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        value = super()._deserialize(value, attr, data, **kwargs)
        kind, _sep, code = value.partition(":")
        if (kind == "country" and code in vocab.countries()) or (
                kind == "field" and code in vocab.field_codes()):
            return value
        try:
            parse_rid(value)
        except ValueError:
            raise ma.ValidationError("Not a well-formed rid (urn:jembatan:<node>:<kind>:<uuid7>)"
                                     ", country:<code> or field:<code>.") from None
        return value


class NeighbourQuery(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    rid = NodeRef(required=True)
    kind = mf.List(mf.String(validate=validate.OneOf(NODE_KINDS)), load_default=list)
    country = mf.List(Country(), load_default=list)
    limit = mf.Integer(load_default=NEIGHBOURS, validate=validate.Range(1, MAX_NEIGHBOURS))


class InstitutionQuery(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    q = CleanString(max_length=200, load_default=None)
    limit = mf.Integer(load_default=10, validate=validate.Range(1, 50))


class ExplorerArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE     # a page's links may carry more than it reads

    focus = NodeRef(load_default=None)
    q = CleanString(max_length=200, load_default=None)
    from_ = RidRef("institution", data_key="from", load_default=None)
    to = RidRef("institution", load_default=None)

    @ma.validates_schema
    def _both_ends(self, data, **kwargs):
        if (data.get("from_") is None) != (data.get("to") is None):
            missing = "to" if data.get("to") is None else "from"
            raise ma.ValidationError("A path needs both institutions.", missing)
        if data.get("from_") is not None and data["from_"] == data["to"]:
            raise ma.ValidationError("Must be another institution than from.", "to")


def load_query(schema: ma.Schema) -> dict:
    """The query string loaded by ``schema`` (repeated parameters for its lists); a 400
    problem document naming each bad field otherwise."""
    try:
        return schema.load(MultiDictProxy(request.args, schema))
    except ma.ValidationError as exc:
        raise errors.BadRequest("The request is malformed.",
                                errors=errors.flatten_messages(exc.messages)) from None


# --- reading the graph -----------------------------------------------------------------------

def _cache() -> analytics.GraphCache:
    # one per app, made on first use: the partnership graph is built once per store state
    return current_app.extensions.setdefault("jembatan.graph_views", analytics.GraphCache())


def best_connected(G, top: int = 1) -> list[str]:
    """The institutions with the most partners, ties by rid."""
    return [rid for _deg, rid in heapq.nsmallest(top, ((-d, rid) for rid, d in G.degree))]


def partner_rows(p: Partnerships, G, rid: str) -> list[dict[str, Any]]:
    """An institution's visible partners, most agreements first: rid, name, country, kind,
    the agreements shared and their kinds (labels, in the vocabulary's order)."""
    rows = []
    for partner, edge in G[rid].items():
        kinds = set()
        for agreement in edge["agreements"]:     # p.agreements is sorted by rid
            at = bisect_left(p.agreements, agreement, key=_RID)
            if at < len(p.agreements) and p.agreements[at].rid == agreement:
                kinds.add(p.agreements[at].kind)
        attrs = G.nodes[partner]
        rows.append({"rid": partner, "name": attrs["name"], "country": attrs["country"],
                     "kind": attrs["kind"], "agreements": edge["weight"],
                     "kind_labels": [enum_label("agreement_kind", k)
                                     for k in vocab.AGREEMENT_KINDS if k in kinds]})
    rows.sort(key=lambda row: (-row["agreements"], row["rid"]))
    return rows


def neighbourhood_doc(G, rid: str, drawn: list[dict]) -> dict[str, list]:
    """The institution, the partners ``drawn`` and the partnerships among them: one edge per
    pair, weighted by the agreements they share."""
    members = [rid, *(row["rid"] for row in drawn)]
    inside = set(members)
    nodes = [{**_institution_doc(G, m), "centre": m == rid} for m in members]
    edges = [{"id": edge_id(u, "PARTNERS", v), "source": u, "target": v, "type": "PARTNERS",
              "weight": e["weight"], "label": fmt_number(e["weight"])}
             for u in members for v, e in G[u].items() if v in inside and u < v]
    return {"nodes": nodes, "edges": edges}


def _chart(counts: dict, label, name: str) -> dict:
    return {"labels": [label(k) for k in counts], "values": list(counts.values()), "name": name}


def institution_page(stored: StoredRecord) -> str:
    """An institution's record page with its partnership neighbourhood."""
    rid, store, scope = stored.rid, node_state().store, viewer_scope()
    cache = _cache()
    p, G = cache.get(store, scope)
    partners, summary, suggestions = [], None, []
    if rid in G:        # a live institution the reader sees is always there
        partners = partner_rows(p, G, rid)
        summary = cache.compute(store, scope, analytics.summary, rid=rid)
        suggestions = cache.compute(store, scope, analytics.suggestions, rid=rid, top=SUGGESTED)
    graph = neighbourhood_doc(G, rid, partners[:DRAWN]) if rid in G else None
    charts = {}
    if summary:
        charts = {"countries": _chart(summary["partners_by_country"], country_name, _("Partners")),
                  "years": _chart(summary["agreements_by_year"], lambda y: fmt_date(str(y)),
                                  _("Agreements"))}
    return render_template("institution.html", env=stored.envelope, body=stored.envelope["body"],
                           partners=partners, drawn=min(len(partners), DRAWN), summary=summary,
                           suggestions=suggestions, graph=graph, charts=charts,
                           messages=script_messages())


# --- the explorer ----------------------------------------------------------------------------

def script_messages() -> dict[str, str]:
    """The words graph.js shows, in the reader's language."""
    return {"expand": _("Expand"), "loading": _("Loading…"), "failed": _("The request failed."),
            "noPath": _("No path between these institutions."),
            "choose": _("Choose two institutions."), "empty": _("Nothing to draw yet.")}


def neighbours_doc(rid: str, limit: int = NEIGHBOURS, kinds: tuple[str, ...] = (),
                   countries: tuple[str, ...] = ()) -> dict[str, Any]:
    sub = node_state().store.neighbours(rid, 1, viewer_scope(), limit, kinds, countries)
    return {"focus": rid, **subgraph_doc(sub), "truncated": len(sub.nodes) >= limit}


def path_view(src: str, dst: str, k: int = 3, max_hops: int = 4) -> dict[str, Any]:
    """The k shortest partnership paths (``api.graph.paths_doc``), localized: each path with
    a caption and its steps (an institution, and the agreement that leads to it); the nodes
    and edges to draw."""
    doc = paths_doc(node_state().store, viewer_scope(), src, dst, k, max_hops)
    nodes = {rid: node_doc(rid, props.get("kind") or parse_rid(rid).kind, props)
             for rid, props in doc["nodes"].items()}
    edges: dict[str, dict] = {}
    paths = []
    for path in doc["paths"]:
        ids = path["nodes"]
        steps = [{"id": ids[0], "label": nodes[ids[0]]["label"], "url": nodes[ids[0]]["url"],
                  "via": None, "via_label": None}]
        for at in range(1, len(ids) - 1, 2):
            before, agreement, after = ids[at - 1], ids[at], ids[at + 1]
            for inst in (before, after):     # PARTY_TO runs institution → agreement
                edges.setdefault(edge_id(inst, "PARTY_TO", agreement),
                                 edge_doc(inst, "PARTY_TO", agreement, {}))
            steps.append({"id": after, "label": nodes[after]["label"], "url": nodes[after]["url"],
                          "via": agreement, "via_label": _("via %(agreement)s",
                                                           agreement=nodes[agreement]["label"])})
        n = path["agreements"]
        paths.append({"agreements": n, "nodes": ids, "institutions": ids[0::2], "steps": steps,
                      "caption": ngettext("%(num)d agreement", "%(num)d agreements", n)})
    return {"from": src, "to": dst, "k": k, "max_hops": max_hops, "paths": paths,
            "nodes": list(nodes.values()), "edges": list(edges.values())}


def institution_docs(q: str | None, limit: int) -> list[dict[str, Any]]:
    """Institutions whose text matches ``q`` (best match first), or the best-connected."""
    store, scope = node_state().store, viewer_scope()
    if q:
        page = store.search(q, RecordQuery(kinds=("institution",), scope=scope, limit=limit))
        return [node_doc(r.rid, "institution", node_props(r.envelope)) for r in page.items]
    cache = _cache()
    _p, G = cache.get(store, scope)
    return [_institution_doc(G, rid) for rid in cache.compute(store, scope, best_connected,
                                                             top=limit)]


def add_graph_pages(bp: Blueprint) -> None:
    """The explorer's page and its JSON endpoints, on the localized views' blueprint."""

    @bp.route("/explorer")
    def explorer() -> tuple[str, int] | str:
        given = {k: v for k, v in request.args.items() if v.strip()}  # forms send empty fields
        try:
            args = ExplorerArgs().load(given)
        except ma.ValidationError as exc:
            return render_template("error.html", status=400, problems=errors.flatten_messages(
                exc.messages)), 400
        store, scope = node_state().store, viewer_scope()
        focus = args["focus"]
        if focus is None:
            cache = _cache()
            start = cache.compute(store, scope, best_connected, top=1)
            focus = start[0] if start else None
        try:
            graph = neighbours_doc(focus) if focus else {"focus": None, "nodes": [], "edges": []}
        except errors.NotFound:
            return render_template("error.html", status=404, problems=[]), 404
        paths, path_missing = None, False
        if args["from_"]:
            try:
                paths = path_view(args["from_"], args["to"])
            except errors.NotFound:
                path_missing = True
        countries = sorted(vocab.ALLIANCE_COUNTRIES, key=country_name)
        return render_template(
            "explorer.html", args=args, graph=graph, paths=paths, path_missing=path_missing,
            found=institution_docs(args["q"], FOUND) if args["q"] else None,
            kinds=[(k, kind_label(k)) for k in NODE_KINDS], countries=countries,
            messages=script_messages())

    @bp.route("/explorer/neighbours")
    def explorer_neighbours() -> Response:
        args = load_query(NeighbourQuery())
        return json_response(neighbours_doc(args["rid"], args["limit"],
                                            tuple(dict.fromkeys(args["kind"])),
                                            tuple(dict.fromkeys(args["country"]))))

    @bp.route("/explorer/paths")
    def explorer_paths() -> Response:
        args = load_query(PathArgs())
        return json_response(path_view(args["from_"], args["to"], args["k"], args["max_hops"]))

    @bp.route("/explorer/institutions")
    def explorer_institutions() -> Response:
        args = load_query(InstitutionQuery())
        return json_response({"q": args["q"], "items": institution_docs(args["q"], args["limit"])})
