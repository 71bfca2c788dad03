"""The match page: the technologies that answer a demand, the demands a technology answers.

    /<locale>/match?demand=<rid>        technologies ranked for the demand
    /<locale>/match?technology=<rid>    demands ranked for the technology
                    &limit=<1..50>      how many (10 by default)

The ranking is ``jembatan.graph.match`` (the same as ``/api/v1/match``), read in the
reader's scope (``viewer_scope``): a record the reader may not see does not exist for them
(404), and nothing they may not see is ranked. Each result is told in the reader's language:
its title and party with the "shown in …" note, the party's country from CLDR, the score and
each signal as a bar (a ``<meter>``: no inline style under the Content-Security-Policy), and
the reasons in words, including the partnership path as links to its records.
"""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Blueprint, g, render_template, request, url_for
from flask_babel import gettext as _
from marshmallow import fields as mf, validate

from jembatan.graph.match.features import OTHER
from jembatan.network import errors
from jembatan.network.ids import parse_rid
from jembatan.network.schemas import RidRef

from .i18n import enum_label
from .records import node_state
from .staff_forms import message
from .views_staff import viewer_scope

LIMIT = 10
MAX_LIMIT = 50
SIDES = ("demand", "technology")
#: what each kind's record is called by (its multilingual name)
_NAMED = {"institution": "name", "event": "name", "technology": "title", "demand": "title",
          "agreement": "title"}


class MatchPageArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE      # a page's links may carry more than it reads

    demand = RidRef("demand", load_default=None)
    technology = RidRef("technology", load_default=None)
    limit = mf.Integer(load_default=LIMIT, validate=validate.Range(1, MAX_LIMIT))


def signal_labels() -> dict[str, str]:
    """The name of each of the score's signals, in the reader's language."""
    return {"text": _("Text similarity"), "concepts": _("Shared concepts"),
            "fields": _("Fields"), "trl": _("Readiness level (TRL)"),
            "modes": _("Transfer modes"), "geography": _("Countries of interest"),
            "graph": _("Partnerships")}


def _invalid(problems: list[dict[str, str]]) -> tuple[str, int]:
    return render_template("error.html", status=400, problems=problems), 400


def _not_found() -> tuple[str, int]:
    return render_template("error.html", status=404, problems=[]), 404


def _matcher_problem(side: str, problem: dict[str, str]) -> dict[str, str]:
    """The matcher's complaint about the record (field ``rid``) names the page's parameter,
    in the reader's language."""
    field, detail = problem.get("field") or side, problem.get("detail") or ""
    if field == "rid":
        field = side
        if "withdrawn" in detail:
            return {"field": field, "detail": _("A withdrawn technology is not matched.")}
    return {"field": field, "detail": message(detail)}


class _Records:
    """The records a page names (parties, path steps), each read once in the reader's scope."""

    def __init__(self, store, scope: frozenset[str]):
        self.store, self.scope = store, scope
        self._seen: dict[str, dict | None] = {}

    def body(self, rid: str) -> dict | None:
        if rid not in self._seen:
            stored = self.store.get(rid, self.scope) if rid else None
            env = stored.envelope if stored else None
            self._seen[rid] = env["body"] if env and not env.get("deleted") else None
        return self._seen[rid]

    def link(self, rid: str) -> dict[str, Any]:
        """A record to link to: its kind's label, its name (a multilingual map, or None when
        the reader does not have it) and a label for a record without a name."""
        try:
            kind = parse_rid(rid).kind
        except (ValueError, TypeError):
            kind = ""
        body = self.body(rid)
        name = (body or {}).get(_NAMED.get(kind, "name")) or None
        if body is None:
            label = _("%(kind)s not received yet", kind=enum_label("record_kind", kind))
        elif kind == "agreement" and body.get("kind"):
            label = enum_label("agreement_kind", body["kind"])
        else:
            label = enum_label("record_kind", kind)
        return {"rid": rid, "kind": kind, "kind_label": enum_label("record_kind", kind),
                "name": name, "label": label, "url": url_for("views.record", rid=rid),
                "country": (body or {}).get("country") if kind == "institution" else None}


def result_view(result: dict, rank: int, records: _Records, labels: dict[str, str]) -> dict:
    """One ranked result as the template draws it."""
    reasons = result.get("reasons") or {}
    return {
        "rank": rank, "rid": result["rid"], "title": result.get("title") or {},
        "url": url_for("views.record", rid=result["rid"]), "score": result["score"],
        "party": records.link(result["party"]) if result.get("party") else None,
        "signals": [{"name": name, "label": label, "value": result["signals"].get(name, 0.0)}
                    for name, label in labels.items()],
        "concepts": reasons.get("concepts") or [], "terms": reasons.get("terms") or [],
        "fields": reasons.get("fields") or [], "trl": reasons.get("trl"),
        "modes": reasons.get("modes") or [], "countries": reasons.get("countries") or [],
        "path": [records.link(rid) for rid in reasons.get("path") or []],
    }


def add_match_pages(bp: Blueprint) -> None:
    """The match page, on the localized views' blueprint."""

    @bp.route("/match")
    def match() -> tuple[str, int] | str:
        given = {k: v for k, v in request.args.items() if v.strip()}  # forms send empty fields
        try:
            args = MatchPageArgs().load(given)
        except ma.ValidationError as exc:
            return _invalid([{"field": p["field"], "detail": message(p["detail"])}
                             for p in errors.flatten_messages(exc.messages)])
        named = [side for side in SIDES if args[side]]
        if not named:
            return _invalid([{"field": "demand", "detail": _(
                "Name the demand or the technology to find matches for.")}])
        if len(named) > 1:
            return _invalid([{"field": "technology", "detail": _(
                "Name either a demand or a technology, not both.")}])
        side = named[0]
        rid, store, scope = args[side], node_state().store, viewer_scope()
        try:
            doc = node_state().matcher.match(store, rid, scope, limit=args["limit"],
                                             lang=g.locale)
        except errors.NotFound:
            return _not_found()
        except errors.ValidationError as exc:
            return _invalid([_matcher_problem(side, p) for p in exc.errors or [
                {"field": side, "detail": exc.detail}]])
        records = _Records(store, scope)
        body = records.body(rid) or {}
        labels = signal_labels()
        results = [result_view(r, n, records, labels) for n, r in enumerate(doc["results"], 1)]
        more = None
        if len(results) == args["limit"] < MAX_LIMIT:
            more = url_for("views.match", **{side: rid, "limit": MAX_LIMIT})
        return render_template(
            "match.html", side=side, other=OTHER[side], rid=rid, title=body.get("title") or {},
            record_url=url_for("views.record", rid=rid), results=results, more=more,
            limit=args["limit"])
