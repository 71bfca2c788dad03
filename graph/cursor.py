"""Opaque, tamper-evident keyset cursors.

A cursor is ``<payload>.<mac>``, both unpadded URL-safe base64:

* payload: the JSON array of the keyset position (e.g. ``[seq]`` for a list, ``[score, seq]``
  for a search);
* mac: HMAC-SHA256 (truncated to 128 bits) under the store's secret key over the query's
  fingerprint and the payload.

The fingerprint (filters, scope, search text) is not carried in the cursor, only bound by the
MAC: a cursor presented with other filters or another scope fails verification exactly like a
forged or damaged one, and every failure is the same ``BadRequest("invalid cursor")`` so the
caller learns nothing about why.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from typing import Any, Sequence

from jembatan.network.errors import BadRequest

MAX_LENGTH = 512
_MAC_BYTES = 16
_B64_RE = re.compile(r"^[A-Za-z0-9_-]+$")


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not _B64_RE.match(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64encode(raw) != text:  # unused trailing bits set: not the form we issue
        raise ValueError("not canonical base64url")
    return raw


def fingerprint(operation: str, **parts: Any) -> bytes:
    """A digest of everything that defines a result sequence (not the page size).

    Sets (kinds, scope) are sorted so equal queries give equal fingerprints.
    """
    norm = {k: sorted(v) if isinstance(v, (set, frozenset, tuple, list)) else v
            for k, v in parts.items()}
    doc = json.dumps([operation, norm], sort_keys=True, separators=(",", ":"),
                     ensure_ascii=False, default=str)
    return hashlib.sha256(doc.encode("utf-8")).digest()


class CursorCodec:
    """Encodes and verifies cursors under one secret key."""

    def __init__(self, key: bytes):
        if len(key) < 16:
            raise ValueError("cursor key too short")
        self._key = key

    def _mac(self, fp: bytes, payload: bytes) -> bytes:
        return hmac.new(self._key, fp + b"\x00" + payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, position: Sequence[int | float | str], fp: bytes) -> str:
        payload = json.dumps(list(position), separators=(",", ":")).encode("utf-8")
        return f"{_b64encode(payload)}.{_b64encode(self._mac(fp, payload))}"

    def decode(self, token: object, fp: bytes, shape: Sequence[type]) -> tuple:
        """The position of a cursor issued for the query ``fp``; ``shape`` gives its types.

        Raises ``BadRequest("invalid cursor")`` for anything else: wrong type or length,
        bad encoding, a MAC that does not verify (forged, damaged, other filters or scope),
        a position of the wrong shape.
        """
        try:
            if not isinstance(token, str) or len(token) > MAX_LENGTH or token.count(".") != 1:
                raise ValueError
            payload_text, mac_text = token.split(".")
            payload, mac = _b64decode(payload_text), _b64decode(mac_text)
            if not hmac.compare_digest(mac, self._mac(fp, payload)):
                raise ValueError
            position = json.loads(payload)
            if not isinstance(position, list) or len(position) != len(shape):
                raise ValueError
            out = []
            for value, typ in zip(position, shape):
                if typ is float and isinstance(value, int) and not isinstance(value, bool):
                    value = float(value)
                if type(value) is not typ:
                    raise ValueError
                out.append(value)
            return tuple(out)
        except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
            raise BadRequest("invalid cursor") from None
