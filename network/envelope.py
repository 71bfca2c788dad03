"""The record envelope every record travels in, its canonical bytes and its content hash.

    rid, kind, origin, version, hlc, visibility, deleted, body, sigs

``signing_bytes`` is what a signature covers and what the content hash is taken over:
``"jembatan-record-v1\\n" + JCS(envelope − sigs)``.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from marshmallow import RAISE, Schema, ValidationError as MmError, validate, validates_schema
from marshmallow import fields as mf

from . import errors, vocab
from .hlc import HLC_RE
from .ids import KINDS, parse_rid
from .schemas import BODY_SCHEMAS

SIGNING_PREFIX = b"jembatan-record-v1\n"
ENVELOPE_KEYS = ("rid", "kind", "origin", "version", "hlc", "visibility", "deleted", "body", "sigs")
MAX_VERSION = 2**53 - 1  # stays exact in every JSON implementation


def canonical_bytes(value: Any) -> bytes:
    """RFC 8785 (JCS) serialisation of a validated record.

    For the values a validated record can hold — objects with ASCII keys, strings without
    lone surrogates, integers below 2^53, booleans, null, no floats — JCS is exactly sorted
    keys, no whitespace and no ASCII escaping; doing it with the C json encoder is ~10x
    faster than a general JCS implementation. ``tests/unit/test_envelope.py`` checks the
    equivalence against the ``rfc8785`` package.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def signing_bytes(envelope: dict) -> bytes:
    return SIGNING_PREFIX + canonical_bytes({k: v for k, v in envelope.items() if k != "sigs"})


def content_hash(envelope: dict) -> str:
    return "sha256:" + hashlib.sha256(signing_bytes(envelope)).hexdigest()


class Sig(Schema):
    class Meta:
        unknown = RAISE

    signer = mf.String(required=True, validate=validate.Length(max=63))
    kid = mf.String(required=True, validate=validate.Length(max=100))
    alg = mf.String(required=True, validate=validate.OneOf(["ed25519"]))
    sig = mf.String(required=True, validate=validate.Length(max=200))


class EnvelopeSchema(Schema):
    class Meta:
        unknown = RAISE

    rid = mf.String(required=True)
    kind = mf.String(required=True, validate=validate.OneOf(KINDS))
    origin = mf.String(required=True)
    version = mf.Integer(required=True, strict=True, validate=validate.Range(1, MAX_VERSION))
    hlc = mf.String(required=True, validate=validate.Regexp(HLC_RE))
    visibility = mf.String(required=True, validate=validate.OneOf(vocab.VISIBILITIES))
    deleted = mf.Boolean(required=True, truthy={True}, falsy={False})
    body = mf.Dict(required=True, allow_none=True)
    sigs = mf.List(mf.Nested(Sig), required=True, validate=validate.Length(max=8))

    @validates_schema
    def _consistent(self, data, **kwargs):
        try:
            rid = parse_rid(data.get("rid"))
        except ValueError as exc:
            raise MmError(str(exc), "rid")
        if data.get("kind") and rid.kind != data["kind"]:
            raise MmError("Does not match the kind in the rid.", "kind")
        if data.get("origin") != rid.origin:
            raise MmError("Does not match the node named in the rid.", "origin")
        if data.get("deleted") and data.get("body") is not None:
            raise MmError("A tombstone has a null body.", "body")
        if data.get("deleted") is False and data.get("body") is None:
            raise MmError("Only a tombstone may have a null body.", "body")


_ENVELOPE = EnvelopeSchema()
_BODIES = {kind: schema() for kind, schema in BODY_SCHEMAS.items()}


def load_body(kind: str, body: Any, *, prefix: str = "body") -> dict:
    """Validate a body of ``kind``; raise the domain ValidationError naming each bad field."""
    if not isinstance(body, dict):
        raise errors.ValidationError("The body must be an object.",
                                     errors=[{"field": prefix, "detail": "Must be an object."}])
    try:
        return _BODIES[kind].load(body)
    except MmError as exc:
        raise errors.ValidationError("The record is invalid.",
                                     errors=errors.flatten_messages(exc.messages, prefix))


def load_envelope(data: Any) -> dict:
    """Validate a whole envelope (structure, rid/origin/kind agreement and body)."""
    if not isinstance(data, dict):
        raise errors.ValidationError("A record must be an object.",
                                     errors=[{"field": "(record)", "detail": "Must be an object."}])
    try:
        env = _ENVELOPE.load(data)
    except MmError as exc:
        raise errors.ValidationError("The record envelope is invalid.",
                                     errors=errors.flatten_messages(exc.messages))
    if env["body"] is not None:
        env["body"] = load_body(env["kind"], env["body"])
    return {k: env[k] for k in ENVELOPE_KEYS}


def make_envelope(*, rid: str, body: dict | None, version: int, hlc: str,
                  visibility: str, deleted: bool = False) -> dict:
    parts = parse_rid(rid)
    return {"rid": rid, "kind": parts.kind, "origin": parts.origin, "version": version,
            "hlc": hlc, "visibility": visibility, "deleted": deleted,
            "body": None if deleted else body, "sigs": []}
