"""Full-text search across the record kinds: ``GET /api/v1/search?q=…``.

Every language variant of the text fields is searched (Chinese and Thai substrings as well as
Latin words); results come best match first in the same page shape as the lists.
"""
from __future__ import annotations

import marshmallow as ma
from flask import Response
from flask_smorest import Blueprint
from marshmallow import fields as mf, validate

from jembatan.graph.store import RecordQuery
from jembatan.network.schemas import Country, FieldCode
from jembatan.network.text import CleanString

from .auth import read_scope
from .records import (MAX_PAGE, RESOURCE_KINDS, ApiBlueprint, Cursor, fetch_page, node_state,
                      page_response, page_size)


class SearchArgs(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    q = CleanString(required=True, max_length=200,
                    metadata={"description": "Text to find, in any language."})
    kind = mf.String(validate=validate.OneOf(RESOURCE_KINDS))
    country = Country()
    field = FieldCode()
    limit = mf.Integer(validate=validate.Range(1, MAX_PAGE))
    cursor = Cursor()


class SearchPage(ma.Schema):
    items = mf.List(mf.Dict(), metadata={"description": "Record envelopes, best match first."})
    next_cursor = mf.String(allow_none=True)


def search_blueprint() -> Blueprint:
    blp = ApiBlueprint("search", __name__, url_prefix="/api/v1/search",
                       description="Full-text search over every language of the records.")

    @blp.route("", endpoint="search")
    @blp.arguments(SearchArgs, location="query")
    @blp.response(200, SearchPage)
    def search(args: dict) -> Response:
        scope = read_scope()
        query = RecordQuery(kinds=(args["kind"],) if "kind" in args else RESOURCE_KINDS,
                            scope=scope, country=args.get("country"), field=args.get("field"),
                            limit=page_size(args), cursor=args.get("cursor"))
        store = node_state().store
        return page_response(fetch_page(lambda q: store.search(args["q"], q), query))

    return blp
