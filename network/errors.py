"""The domain error tree. Every error a client can see is one of these.

    JembatanError                 500  internal (never shows its message to clients)
    ├── BadRequest                400  malformed syntax: bad JSON, non-UTF-8, duplicate keys, bad cursor
    ├── Unauthorized              401  missing or unknown credentials
    ├── Forbidden                 403  authenticated, but the role does not allow it
    ├── NotFound                  404  no such record (or not visible to the caller)
    ├── MethodNotAllowed          405
    ├── Conflict                  409  the write contradicts the stored state
    ├── Gone                      410  the record was deleted (a tombstone is stored)
    ├── PreconditionFailed        412  If-Match does not name the current version
    ├── PreconditionRequired      428  a conditional request was required
    ├── PayloadTooLarge           413  body over the node's limit
    ├── UnsupportedMediaType      415  body is not application/json
    ├── ValidationError           422  well-formed but invalid: carries errors[{field, detail}]
    ├── SignatureError            422  a signature or registry not accepted: carries ``reason``
    ├── QueryLimit                422  a valid query stopped by the node's time or memory limit
    └── StoreError                503  the database failed or is unreachable

Each class carries its HTTP status, a stable problem type and a title, so one handler
turns any of them into an RFC 9457 problem document.
"""
from __future__ import annotations

from typing import Any


class JembatanError(Exception):
    status = 500
    slug = "internal"
    title = "Internal error"
    #: whether ``detail`` may be shown to clients (driver messages and the like never are)
    public = False

    def __init__(self, detail: str | None = None, *, errors: list[dict[str, str]] | None = None):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors

    @property
    def type(self) -> str:
        return f"urn:jembatan:problem:{self.slug}"

    def to_problem(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail if self.public else self.title,
        }
        if self.errors:
            doc["errors"] = self.errors
        return doc


class _ClientError(JembatanError):
    public = True


class BadRequest(_ClientError):
    status, slug, title = 400, "bad-request", "Bad request"


class Unauthorized(_ClientError):
    status, slug, title = 401, "unauthorized", "Authentication required"


class Forbidden(_ClientError):
    status, slug, title = 403, "forbidden", "Forbidden"


class NotFound(_ClientError):
    status, slug, title = 404, "not-found", "Not found"


class MethodNotAllowed(_ClientError):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"


class Conflict(_ClientError):
    status, slug, title = 409, "conflict", "Conflict"


class Gone(_ClientError):
    status, slug, title = 410, "gone", "Gone"


class PreconditionFailed(_ClientError):
    status, slug, title = 412, "precondition-failed", "Precondition failed"


class PayloadTooLarge(_ClientError):
    status, slug, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(_ClientError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class ValidationError(_ClientError):
    status, slug, title = 422, "validation", "Invalid record"


class SignatureError(_ClientError):
    """A signed record or registry that is not accepted, with a stable ``reason`` code.

    The reason travels as the problem document's extension member ``reason`` so a peer can
    tell a tampered record (``bad_signature``) from one signed by a key it does not know yet
    (``unknown_key``) without parsing prose.
    """
    status, slug, title = 422, "signature", "Signature not accepted"

    #: every reason a record or registry may be refused for
    REASONS = ("unsigned", "not_canonical", "bad_signature", "unknown_node", "unknown_key",
               "revoked_key", "key_not_valid", "origin_mismatch", "namespace_mismatch",
               "stale_serial", "alliance_mismatch", "no_root")

    def __init__(self, reason: str, detail: str | None = None, *,
                 errors: list[dict[str, str]] | None = None):
        super().__init__(detail or reason.replace("_", " ").capitalize() + ".", errors=errors)
        self.reason = reason

    def to_problem(self) -> dict[str, Any]:
        doc = super().to_problem()
        doc["reason"] = self.reason
        return doc


class QueryLimit(_ClientError):
    """An analyst's query that is valid but was stopped by the node's time or memory limit.

    422 rather than 408: the request arrived whole and in time (408 tells HTTP clients to
    send it again, and some do so on their own), but this node will not finish the work it
    asks for; a narrower query or a higher limit will.
    """
    status, slug, title = 422, "query-limit", "Query limit exceeded"


class PreconditionRequired(_ClientError):
    status, slug, title = 428, "precondition-required", "Precondition required"


class StoreError(JembatanError):
    status, slug, title = 503, "store-unavailable", "The node's database is unavailable"


def flatten_messages(messages: Any, prefix: str = "") -> list[dict[str, str]]:
    """Turn marshmallow's nested ``messages`` into ``[{field, detail}]`` with dotted paths."""
    out: list[dict[str, str]] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = str(key) if key != "_schema" else ""
            path = f"{prefix}.{name}" if prefix and name else (prefix or name)
            out.extend(flatten_messages(value, path))
    elif isinstance(messages, (list, tuple)):
        for item in messages:
            if isinstance(item, (dict, list, tuple)):
                out.extend(flatten_messages(item, prefix))
            else:
                out.append({"field": prefix or "(body)", "detail": str(item)})
    else:
        out.append({"field": prefix or "(body)", "detail": str(messages)})
    return out
