"""One error handler: every error a client sees is an RFC 9457 problem document.

    {"type": "urn:jembatan:problem:<slug>", "title": …, "status": <HTTP status>,
     "detail": …, "errors": [{"field": …, "detail": …}]?}

Sources it understands, in order:

- the domain error tree (``jembatan.network.errors``): each class carries its status;
- werkzeug ``HTTPException`` (unknown URL, wrong method, 413 from ``MAX_CONTENT_LENGTH``, …),
  including webargs/flask-smorest aborts whose ``data["messages"]`` holds marshmallow
  messages keyed by request location (``{"json": {"body": {"trl": […]}}}`` → ``body.trl``);
- anything else: a 500 whose body says nothing about the cause (the cause goes to the log).
"""
from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response, current_app, has_app_context
from marshmallow import Schema, fields as mf
from werkzeug.exceptions import HTTPException

from jembatan.network import errors

log = logging.getLogger("jembatan.api")

PROBLEM_JSON = "application/problem+json"

# webargs keys its messages by the request location the schema was loaded from; clients
# know fields, not locations, so the location level is dropped.
_LOCATIONS = frozenset({"json", "query", "querystring", "form", "headers", "cookies",
                        "files", "view_args", "path", "json_or_form"})

# werkzeug's HTTP errors mapped onto the domain tree so both render alike.
_BY_STATUS: dict[int, type[errors.JembatanError]] = {
    cls.status: cls for cls in (
        errors.BadRequest, errors.Unauthorized, errors.Forbidden, errors.NotFound,
        errors.MethodNotAllowed, errors.Conflict, errors.PreconditionFailed,
        errors.PayloadTooLarge, errors.UnsupportedMediaType, errors.ValidationError,
        errors.PreconditionRequired, errors.Gone, errors.JembatanError, errors.StoreError,
    )
}

_HTTP_DETAILS = {
    404: "No such resource at this URL.",
    405: "This method is not allowed on this URL.",
}


class FieldError(Schema):
    field = mf.String(metadata={"description": "The offending field, e.g. body.trl, limit, "
                                "If-Match, (body) for the body as a whole."})
    detail = mf.String()


class ProblemSchema(Schema):
    """RFC 9457 problem document (documents the API; responses are built directly)."""
    type = mf.String(metadata={"example": "urn:jembatan:problem:validation"})
    title = mf.String()
    status = mf.Integer()
    detail = mf.String()
    errors = mf.List(mf.Nested(FieldError))


def field_errors(messages: Any) -> list[dict[str, str]]:
    """marshmallow/webargs messages → ``[{field, detail}]`` without the location prefix."""
    if isinstance(messages, dict):
        out: list[dict[str, str]] = []
        for key, value in messages.items():
            if key in _LOCATIONS:
                out.extend(errors.flatten_messages(value))
            else:
                out.extend(errors.flatten_messages({key: value}))
        return out
    return errors.flatten_messages(messages)


def problem_response(doc: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    resp = Response(json.dumps(doc, ensure_ascii=False), status=doc["status"],
                    mimetype=PROBLEM_JSON)
    if headers:
        resp.headers.update(headers)
    return resp


def _from_http(exc: HTTPException) -> tuple[dict[str, Any], dict[str, str]]:
    status = exc.code or 500
    headers: dict[str, str] = {}
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages") or data.get("errors")
    if messages is not None and status in (400, 422):
        cls = errors.ValidationError if status == 422 else errors.BadRequest
        err = cls("The request is invalid." if status == 422 else "The request is malformed.",
                  errors=field_errors(messages))
        return err.to_problem(), dict(data.get("headers") or {})
    cls = _BY_STATUS.get(status)
    if status == 405 and getattr(exc, "valid_methods", None):
        headers["Allow"] = ", ".join(exc.valid_methods)
    if cls is not None:
        detail = _HTTP_DETAILS.get(status) or exc.description or cls.title
        limit = current_app.config.get("MAX_CONTENT_LENGTH") if has_app_context() else None
        if status == 413 and limit:
            detail = f"The request body is larger than {limit} bytes."
        return cls(detail).to_problem(), headers
    public = status < 500
    return {"type": "about:blank", "title": exc.name, "status": status,
            "detail": (exc.description or exc.name) if public else exc.name}, headers


def handle_error(exc: Exception) -> Response:
    """The app's only error handler (registered for ``Exception``)."""
    headers: dict[str, str] = {}
    if isinstance(exc, errors.JembatanError):
        doc = exc.to_problem()
        if exc.status >= 500:
            log.error("%s: %s", type(exc).__name__, exc, exc_info=exc.__cause__ or exc)
        headers.update(getattr(exc, "headers", None) or {})
    elif isinstance(exc, HTTPException):
        doc, headers = _from_http(exc)
        if doc["status"] >= 500:
            log.error("HTTP %s", doc["status"], exc_info=exc)
    else:
        log.exception("unhandled error", exc_info=exc)
        doc = errors.JembatanError().to_problem()
    if doc["status"] == 401 and "WWW-Authenticate" not in headers:
        headers["WWW-Authenticate"] = 'Bearer realm="jembatan"'
    return problem_response(doc, headers)


def init_app(app: Flask) -> None:
    # Registering for Exception catches HTTPException too (Flask walks the MRO), so
    # every error takes this one path.
    app.register_error_handler(Exception, handle_error)
