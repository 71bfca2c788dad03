"""Matchmaking: the technologies that answer a demand, the demands a technology answers.

    GET /api/v1/match?demand=<rid>        technologies ranked for the demand
    GET /api/v1/match?technology=<rid>    demands ranked for the technology

Each result carries its score, the seven signals it is made of and the reasons: the terms
and concepts both texts share, the shared fields and transfer modes, the TRL fit and the
path that links the two parties (``jembatan.graph.match``). Readers see matches among the
records their scope shows.
"""
from __future__ import annotations

import marshmallow as ma
from flask import Response
from flask_smorest import Blueprint
from marshmallow import fields as mf, validate

from jembatan.graph.match import MAX_LIMIT
from jembatan.network import vocab
from jembatan.network.schemas import RidRef

from .auth import read_scope
from .records import ApiBlueprint, json_response, node_state


class MatchArgs(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    demand = RidRef("demand", metadata={"description": "Rank technologies for this demand."})
    technology = RidRef("technology", metadata={"description": "Rank demands for this technology."})
    limit = mf.Integer(load_default=10, validate=validate.Range(1, MAX_LIMIT))
    lang = mf.String(validate=validate.OneOf(vocab.UI_LOCALES), metadata={
        "description": "Language of the concept labels in the reasons (default en)."})

    @ma.validates_schema
    def _one(self, data, **kwargs):
        if ("demand" in data) == ("technology" in data):
            raise ma.ValidationError("Give either demand or technology.", "demand")


def match_blueprint() -> Blueprint:
    blp = ApiBlueprint("match", __name__, url_prefix="/api/v1/match",
                       description="Matchmaking: technologies for a demand, demands for a technology.")

    @blp.route("", endpoint="match")
    @blp.arguments(MatchArgs, location="query")
    @blp.response(200, description="The best records of the other side, best first, each "
                  "with its score, signals and reasons.")
    def match(args: dict) -> Response:
        state = node_state()
        rid = args.get("demand") or args.get("technology")
        return json_response(state.matcher.match(state.store, rid, read_scope(),
                                                 limit=args["limit"], lang=args.get("lang")))

    return blp
