"""The localized web views: server-rendered Jinja pages under ``/<locale>/``.

    /                          → the locale negotiated from Accept-Language
    /<locale>/                 home: the alliance's statistics, with charts
    /<locale>/catalogue        search and browse records, with facets and pagination
    /<locale>/flows            technology flows between countries: a Sankey chart, corridors,
                               the matrix, CSV
    /<locale>/records/<rid>    one record (an institution's page: ``views_graph``)

and, added by their modules: the graph explorer (``views_graph``), the events calendar and
the federation's status (``views_network``), staff sign-in and forms (``views_staff``).

Pages read the store as the API does (``viewer_scope``: anonymous visitors see public
records). Every label comes from the message catalogs or CLDR (``api.i18n``); record text
falls back along DESIGN's chain and says so. Scripts are files under ``/static`` only (the
Content-Security-Policy forbids inline ones): a chart's data travels in a ``data-chart``
attribute that Jinja escapes.
"""
from __future__ import annotations

from decimal import Decimal

import marshmallow as ma
from flask import Blueprint, Flask, Response, abort, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from marshmallow import fields as mf, validate

from jembatan.graph import flows
from jembatan.graph.store import RecordQuery
from jembatan.network import errors, vocab
from jembatan.network.schemas import Country, FieldCode
from jembatan.network.text import CleanString

from .facets import facet_counts
from .flows import FlowArgs
from .i18n import LOCALES, country_name, fmt_currency, init_i18n, negotiate
from .records import RESOURCE_KINDS, Cursor, node_state
from .views_graph import add_graph_pages, institution_page
from .views_match import add_match_pages
from .views_network import add_network_pages, upcoming_events
from .views_staff import add_staff_pages, init_staff, viewer_scope

PAGE = 20
HOME_LIST = 5      # upcoming events and latest agreements on the home page
#: the Content-Security-Policy of every page: our own files only, no inline script or style
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
       " connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none';"
       " form-action 'self'")


class CatalogueArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE      # a page's links may carry more than it reads

    q = CleanString(max_length=200, load_default=None)
    kind = mf.String(validate=validate.OneOf(RESOURCE_KINDS), load_default=None)
    country = Country(load_default=None)
    field = FieldCode(load_default=None)
    trl = mf.Integer(validate=validate.Range(1, 9), load_default=None)
    stage = mf.String(validate=validate.OneOf(vocab.STAGES), load_default=None)
    cursor = Cursor(load_default=None)


def views_blueprint() -> Blueprint:
    bp = Blueprint("views", __name__, url_prefix="/<locale>", template_folder="templates",
                   static_folder=None)

    @bp.url_value_preprocessor
    def take_locale(endpoint, values) -> None:
        locale = (values or {}).pop("locale", None)
        if locale not in LOCALES:
            abort(404)
        g.locale = locale

    @bp.url_defaults
    def add_locale(endpoint, values) -> None:
        if "locale" not in values and "locale" in g:
            values["locale"] = g.locale

    @bp.after_request
    def secure(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Content-Language"] = g.get("locale", "en")
        return response

    @bp.route("/")
    def home() -> str:
        store, scope = node_state().store, viewer_scope()
        stats = flows.stats(store, scope)
        members = stats["members"]["by_country"]
        trl = stats["technologies"]["by_trl"]
        return render_template(
            "home.html", stats=stats, upcoming=upcoming_events(store, scope, HOME_LIST),
            latest=[r.envelope for r in store.list(RecordQuery(
                kinds=("agreement",), scope=scope, limit=HOME_LIST)).items],
            values=_money(stats["agreements"]["values"]),
            members_chart={"labels": [country_name(c) for c in members],
                           "values": list(members.values()), "name": _("Members")},
            trl_chart={"labels": [f"TRL {level}" for level in trl], "values": list(trl.values()),
                       "name": _("Technologies")})

    @bp.route("/catalogue")
    def catalogue() -> str:
        try:
            # a form sends its empty fields
            args = CatalogueArgs().load({k: v for k, v in request.args.items() if v})
        except ma.ValidationError as exc:
            return render_template("error.html", status=400, problems=errors.flatten_messages(
                exc.messages)), 400
        query = RecordQuery(kinds=(args["kind"],) if args["kind"] else RESOURCE_KINDS,
                            scope=viewer_scope(), country=args["country"], field=args["field"],
                            trl_min=args["trl"], trl_max=args["trl"], stage=args["stage"],
                            limit=PAGE, cursor=args["cursor"])
        store = node_state().store
        page = store.search(args["q"], query) if args["q"] else store.list(query)
        facets = facet_counts(store, viewer_scope(), RESOURCE_KINDS, args)
        return render_template("catalogue.html", args=args, page=page, facets=facets,
                               records=[r.envelope for r in page.items], kinds=RESOURCE_KINDS,
                               countries=vocab.ALLIANCE_COUNTRIES, fields=vocab.fields(),
                               stages=vocab.STAGES)

    @bp.route("/flows")
    def country_flows() -> tuple[str, int] | str:
        given = {k: v for k, v in request.args.items() if v}    # a form sends its empty fields
        try:
            args = FlowArgs().load(given)
        except ma.ValidationError as exc:
            return render_template("error.html", status=400, problems=errors.flatten_messages(
                exc.messages)), 400
        cells = flows.matrix(node_state().store, viewer_scope(), args["filter"])
        top = flows.corridors(cells, args["top"])
        nodes = sorted({f"p:{p}" for p, _ in cells} | {f"r:{r}" for _, r in cells})
        sankey = {"nodes": nodes, "names": {n: country_name(n[2:]) for n in nodes},
                  "links": [{"source": f"p:{p}", "target": f"r:{r}", "value": c.agreements}
                            for (p, r), c in sorted(cells.items()) if c.agreements],
                  "name": _("Agreements")}
        total = flows.total(cells)
        providers = sorted({p for p, _ in cells}, key=country_name)
        recipients = sorted({r for _, r in cells}, key=country_name)
        return render_template(
            "flows.html", given=given, corridors=top, sankey=sankey, total=total.agreements,
            providers=providers, recipients=recipients, cells=cells,
            values=_money(flows.money(total.values)),
            money=lambda cell: _money(flows.money(cell.values)),
            csv_url=url_for("flows.matrix", **dict(given, format="csv")),
            kinds=vocab.AGREEMENT_KINDS, fields=vocab.fields())

    @bp.route("/records/<path:rid>")
    def record(rid: str) -> str:
        stored = node_state().store.get(rid, viewer_scope())
        if stored is None or stored.envelope.get("deleted"):
            return render_template("error.html", status=404, problems=[]), 404
        if stored.envelope["kind"] == "institution":
            return institution_page(stored)
        return render_template("record.html", env=stored.envelope, body=stored.envelope["body"])

    add_graph_pages(bp)
    add_match_pages(bp)
    add_network_pages(bp)
    add_staff_pages(bp)
    return bp


def _money(values: list[dict]) -> list[str]:
    """Amounts per currency ({currency, amount}), formatted for the reader; never converted."""
    return [fmt_currency(Decimal(m["amount"]), m["currency"]) for m in values]


def root_blueprint() -> Blueprint:
    bp = Blueprint("root", __name__)

    @bp.route("/")
    def index() -> Response:
        response = redirect(url_for("views.home", locale=negotiate(
            request.headers.get("Accept-Language"))))
        response.headers["Vary"] = "Accept-Language"
        return response

    return bp


def init_views(app: Flask) -> None:
    """The pages, their locale handling (``api.i18n``) and the vocabulary labels as Jinja
    helpers (the labels are kept in network/data in every locale)."""
    init_i18n(app)
    init_staff(app)
    app.register_blueprint(root_blueprint())
    app.register_blueprint(views_blueprint())
    app.jinja_env.globals.update(locales=LOCALES)

    @app.after_request
    def nosniff(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response
