"""Country flows and the alliance's statistics.

    GET /api/v1/flows            provider country → recipient country matrix, totals and the
                                 top corridors; CSV with ``format=csv`` or ``Accept: text/csv``
    GET /api/v1/flows/series     one country pair, year by year
    GET /api/v1/stats            the figures the alliance publishes, for a country and period,
                                 and the funnel of technology stages

Filters: ``from``/``to`` (years signed, inclusive), ``field``, ``kind`` (agreement kind),
``provider_kind``/``recipient_kind`` (institution kinds). Values stay per currency: no
exchange rate is applied. Anonymous callers see public records; node users everything.
"""
from __future__ import annotations

import csv
import io

import marshmallow as ma
from babel import Locale
from flask import Response, current_app, request
from flask_smorest import Blueprint
from marshmallow import fields as mf, validate

from jembatan.graph import flows
from jembatan.network import vocab
from jembatan.network.schemas import Country, FieldCode

from .auth import read_scope
from .records import ApiBlueprint, json_response, node_state

CSV = "text/csv"
MAX_TOP = 200


def country_name(code: str) -> str:
    """The English name CLDR gives a country code (ZZ: "Unknown Region")."""
    return Locale("en").territories.get(code, code)


class _Filters(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    from_ = mf.Integer(data_key="from", validate=validate.Range(flows.FIRST_YEAR, flows.LAST_YEAR),
                       metadata={"description": "First year signed (inclusive)."})
    to = mf.Integer(validate=validate.Range(flows.FIRST_YEAR, flows.LAST_YEAR),
                    metadata={"description": "Last year signed (inclusive)."})
    field = FieldCode(metadata={"description": "Agreements in this technology field."})
    kind = mf.String(validate=validate.OneOf(vocab.AGREEMENT_KINDS))
    provider_kind = mf.String(validate=validate.OneOf(vocab.INSTITUTION_KINDS),
                              metadata={"description": "The lead provider's institution kind."})
    recipient_kind = mf.String(validate=validate.OneOf(vocab.INSTITUTION_KINDS),
                               metadata={"description": "The lead recipient's institution kind."})

    @ma.validates_schema
    def _period(self, data, **kwargs):
        if "from_" in data and "to" in data and data["from_"] > data["to"]:
            raise ma.ValidationError("Must not be after to.", "from")

    @ma.post_load
    def _filter(self, data, **kwargs):
        years = None
        if "from_" in data or "to" in data:
            years = (data.pop("from_", flows.FIRST_YEAR), data.pop("to", flows.LAST_YEAR))
        rest = {k: data.pop(k) for k in ("format", "top", "provider", "recipient", "domestic")
                if k in data}
        return {"filter": flows.FlowFilter(years=years, **data), **rest}


class FlowArgs(_Filters):
    format = mf.String(validate=validate.OneOf(("json", "csv")),
                       metadata={"description": "csv: one row per country pair (also chosen "
                                 "by Accept: text/csv)."})
    top = mf.Integer(load_default=10, validate=validate.Range(0, MAX_TOP),
                     metadata={"description": "How many corridors to list."})
    domestic = mf.Boolean(load_default=True, metadata={
        "description": "Whether corridors include flows within one country."})


class SeriesArgs(_Filters):
    provider = Country(required=True)
    recipient = Country(required=True)


class StatsArgs(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    country = Country(metadata={"description": "Only this country (ISO 3166-1 alpha-2)."})
    from_ = mf.Integer(data_key="from", validate=validate.Range(flows.FIRST_YEAR, flows.LAST_YEAR))
    to = mf.Integer(validate=validate.Range(flows.FIRST_YEAR, flows.LAST_YEAR))

    @ma.validates_schema
    def _period(self, data, **kwargs):
        if "from_" in data and "to" in data and data["from_"] > data["to"]:
            raise ma.ValidationError("Must not be after to.", "from")


def _cell(cell: flows.Cell) -> dict:
    return {"agreements": cell.agreements, "values": flows.money(cell.values)}


def wants_csv(args: dict) -> bool:
    if "format" in args:
        return args["format"] == "csv"
    return request.accept_mimetypes.best_match(["application/json", CSV]) == CSV


def matrix_csv(cells: dict[tuple[str, str], flows.Cell]) -> str:
    """One row per country pair: codes, CLDR names, agreements and one column per currency."""
    currencies = sorted({c for cell in cells.values() for c in cell.values})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["provider", "provider_name", "recipient", "recipient_name", "agreements",
                     *(f"value_{c}" for c in currencies)])
    for (pc, rc), cell in sorted(cells.items()):
        values = {m["currency"]: m["amount"] for m in flows.money(cell.values)}
        writer.writerow([pc, country_name(pc), rc, country_name(rc), cell.agreements,
                         *(values.get(c, "") for c in currencies)])
    return out.getvalue()


def matrix_doc(store, scope: frozenset[str], f: flows.FlowFilter, top: int = 10,
               domestic: bool = True) -> dict:
    """The flow matrix, its totals and the top corridors (the API's and the CLI's answer)."""
    cells = flows.matrix(store, scope, f)
    countries = sorted({c for pair in cells for c in pair})
    return {
        "filters": _echo(f),
        "countries": {c: country_name(c) for c in countries},
        "matrix": [{"provider": pc, "recipient": rc, **_cell(cell)}
                   for (pc, rc), cell in sorted(cells.items())],
        "totals": _cell(flows.total(cells)),
        "corridors": [{"provider": pc, "recipient": rc, **_cell(cell)}
                      for (pc, rc), cell in flows.corridors(cells, top, domestic)],
    }


def series_doc(store, scope: frozenset[str], f: flows.FlowFilter, provider: str,
               recipient: str) -> dict:
    years = flows.series(store, scope, f, provider, recipient)
    return {"provider": provider, "recipient": recipient, "filters": _echo(f),
            "series": [{"year": year or None, **_cell(cell)} for year, cell in sorted(years.items())]}


def stats_doc(store, scope: frozenset[str], country: str | None,
              years: tuple[int, int] | None) -> dict:
    """The statistics and the technology funnel. The period applies to agreements, events
    and enterprises served; the funnel, like the other technology figures, is the
    technologies as held now (a stage has no year in the tallies)."""
    return {"country": country, "period": flows.period(years),
            **flows.stats(store, scope, country, years),
            "funnel": flows.funnel(store, scope, country)}


def flows_blueprint() -> Blueprint:
    blp = ApiBlueprint("flows", __name__, url_prefix="/api/v1",
                       description="Technology flows between countries and the alliance's statistics.")

    @blp.route("/flows", endpoint="matrix")
    @blp.arguments(FlowArgs, location="query")
    @blp.response(200, description="The flow matrix: one agreement is one flow, from its lead "
                  "provider's country to its lead recipient's (ZZ: a country this reader may "
                  "not see, or an institution not received yet).")
    @blp.alt_response(200, description="The matrix as CSV.", content_type=CSV, success=True)
    def matrix(args: dict) -> Response:
        if wants_csv(args):
            cells = flows.matrix(node_state().store, read_scope(), args["filter"])
            return current_app.response_class(matrix_csv(cells), mimetype=CSV, headers={
                "Content-Disposition": 'attachment; filename="flows.csv"', "Vary": "Accept"})
        return json_response(matrix_doc(node_state().store, read_scope(), args["filter"],
                                        args["top"], args["domestic"]), headers={"Vary": "Accept"})

    @blp.route("/flows/series", endpoint="series")
    @blp.arguments(SeriesArgs, location="query")
    @blp.response(200, description="Year by year for one country pair (year null: agreements "
                  "not signed yet).")
    def series(args: dict) -> Response:
        return json_response(series_doc(node_state().store, read_scope(), args["filter"],
                                        args["provider"], args["recipient"]))

    @blp.route("/stats", endpoint="stats")
    @blp.arguments(StatsArgs, location="query")
    @blp.response(200, description="Members by country and kind, technologies by field, TRL "
                  "and stage, demands by field (as held now); agreements by kind and status "
                  "with values per currency, events by kind with the agreements signed at "
                  "them, and enterprises served (party to an agreement or at an event) in "
                  "the period; the funnel of technology stages (how many reached each "
                  "stage, withdrawn apart) overall, by owner's country and by field, as "
                  "held now: the period does not apply to it.")
    def stats(args: dict) -> Response:
        years = None
        if "from_" in args or "to" in args:
            years = (args.get("from_", flows.FIRST_YEAR), args.get("to", flows.LAST_YEAR))
        return json_response(stats_doc(node_state().store, read_scope(), args.get("country"), years))

    return blp


def _echo(f: flows.FlowFilter) -> dict:
    return {**(flows.period(f.years) or {"from": None, "to": None}), "field": f.field, "kind": f.kind, "provider_kind": f.provider_kind,
            "recipient_kind": f.recipient_kind}
