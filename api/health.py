"""``GET /healthz``: is the node up and can it read its store?"""
from __future__ import annotations

import logging

from flask import Response
from flask_smorest import Blueprint
from marshmallow import Schema, fields as mf

from jembatan.network import errors

from .auth import read_scope
from .records import json_response, node_state

log = logging.getLogger("jembatan.api")


class Health(Schema):
    status = mf.String(metadata={"example": "ok"})
    node = mf.String(metadata={"description": "This node's id."})
    store = mf.String(metadata={"description": "Store backend, e.g. sqlite."})
    records = mf.Dict(keys=mf.String(), values=mf.Integer(),
                      metadata={"description": "Live records per kind visible to the caller."})


def health_blueprint() -> Blueprint:
    blp = Blueprint("health", __name__, description="Liveness and store health.")

    @blp.route("/healthz", endpoint="healthz")
    @blp.response(200, Health)
    @blp.alt_response(503, "SERVICE_UNAVAILABLE")
    def healthz() -> Response:
        st = node_state()
        scope = read_scope()
        try:
            counts = st.store.counts(scope)
        except errors.StoreError:
            raise
        except Exception as exc:
            # The driver's message stays in the log; the client learns only that the store failed.
            raise errors.StoreError("The store did not answer.") from exc
        return json_response({"status": "ok", "node": st.node.node_id,
                              "store": st.store_kind, "records": counts})

    return blp
