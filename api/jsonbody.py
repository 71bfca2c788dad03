"""Strict JSON request bodies.

A write must be ``Content-Type: application/json`` (``charset=utf-8`` allowed), valid UTF-8,
valid JSON without duplicate object keys at any depth and without NaN/Infinity, a JSON
object at the top level, and no larger than ``MAX_CONTENT_LENGTH`` (413: werkzeug refuses a
declared ``Content-Length`` over it; a chunked body is read up to it and checked here).

``StrictParser`` is the webargs parser of the REST blueprints: ``@blp.arguments`` reads JSON
through ``strict_json`` and turns schema errors into the domain ``ValidationError`` with
field names free of webargs' location prefix; unknown query parameters are rejected.
"""
from __future__ import annotations

import json
from typing import Any, NoReturn

import marshmallow as ma
from flask import Request
from webargs.flaskparser import FlaskParser

from jembatan.network import errors

from .problems import field_errors

_BODY = "(body)"


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _no_constants(name: str) -> NoReturn:
    raise errors.BadRequest(f"{name} is not valid JSON.", errors=[{"field": _BODY,
                            "detail": f"{name} is not a JSON number."}])


def _bad(detail: str, field: str = _BODY) -> errors.BadRequest:
    return errors.BadRequest(detail, errors=[{"field": field, "detail": detail}])


def check_content_type(request: Request) -> None:
    """415 unless the body is declared as JSON in UTF-8."""
    if request.mimetype != "application/json":
        got = request.mimetype or "none"
        raise errors.UnsupportedMediaType(
            f"The body must be sent as application/json, not {got}.",
            errors=[{"field": "Content-Type", "detail": "Must be application/json."}])
    charset = request.mimetype_params.get("charset")
    if charset is not None and charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise errors.UnsupportedMediaType(
            f"The body must be UTF-8, not {charset}.",
            errors=[{"field": "Content-Type", "detail": "Only charset=utf-8 is accepted."}])


def loads_strict(raw: bytes) -> Any:
    """Parse ``raw`` as strict JSON; ``BadRequest`` naming the offending byte, position or key."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad(f"The body is not valid UTF-8 (byte offset {exc.start}).")
    if not text.strip():
        raise _bad("The body is empty; a JSON object is expected.")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except _DuplicateKey as exc:
        raise errors.BadRequest(f"Duplicate key {exc.key!r} in a JSON object.",
                                errors=[{"field": exc.key, "detail": "Duplicate key."}])
    except json.JSONDecodeError as exc:
        raise _bad(f"The body is not valid JSON: {exc.msg} (line {exc.lineno}, "
                   f"column {exc.colno}).")
    except RecursionError:
        raise _bad("The body is nested too deeply.")
    except ValueError:  # an integer longer than the interpreter converts
        raise _bad("The body holds a number with too many digits.")


def strict_json(request: Request) -> dict[str, Any]:
    """The request's body as a JSON object, every rule of this module applied."""
    check_content_type(request)
    raw = request.get_data(cache=True)  # 413 raised here when Content-Length is too large
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(raw) >= limit:
        # A chunked body is cut at the limit without complaint; one more byte means it
        # was larger.
        if request.environ["wsgi.input"].read(1):
            raise errors.PayloadTooLarge(f"The request body is larger than {limit} bytes.")
    data = loads_strict(raw)
    if not isinstance(data, dict):
        raise errors.ValidationError("The body must be a JSON object.",
                                     errors=[{"field": _BODY, "detail": "Must be a JSON object."}])
    return data


class StrictParser(FlaskParser):
    """webargs parser: strict JSON bodies, unknown query parameters rejected, domain errors."""

    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
                                   "query": ma.RAISE, "querystring": ma.RAISE}

    def load_json(self, req: Request, schema: ma.Schema) -> Any:
        return strict_json(req)

    def handle_error(self, error: ma.ValidationError, req: Request, schema: ma.Schema, *,
                     error_status_code: int | None, error_headers: dict | None) -> NoReturn:
        raise errors.ValidationError("The request is invalid.",
                                     errors=field_errors(error.messages))
