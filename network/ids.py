"""Identifiers: node ids, record ids (rids) and UUIDv7.

A rid is ``urn:jembatan:<origin-node-id>:<kind>:<uuid7>``: it names the node that owns the
record, so a receiver can check that a record claiming an origin lives in that origin's
namespace.
"""
from __future__ import annotations

import os
import re
import time
import uuid
from typing import NamedTuple

KINDS = ("institution", "technology", "demand", "agreement", "endorsement", "event")

NODE_ID_PATTERN = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
NODE_ID_RE = re.compile(rf"^{NODE_ID_PATTERN}$")
_UUID7 = r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
RID_RE = re.compile(
    rf"^urn:jembatan:(?P<origin>{NODE_ID_PATTERN}):(?P<kind>{'|'.join(KINDS)}):(?P<uuid>{_UUID7})$"
)


class Rid(NamedTuple):
    origin: str
    kind: str
    uuid: str


def parse_rid(rid: object) -> Rid:
    """Split a rid into its parts; ``ValueError`` if it is not a well-formed rid."""
    m = RID_RE.match(rid) if isinstance(rid, str) else None
    if not m:
        raise ValueError(f"not a well-formed rid: {rid!r}")
    return Rid(m["origin"], m["kind"], m["uuid"])


def is_node_id(value: object) -> bool:
    return isinstance(value, str) and bool(NODE_ID_RE.match(value))


def uuid7(ms: int | None = None, rand: bytes | None = None) -> str:
    """A UUIDv7 (RFC 9562). ``ms`` and ``rand`` (10 bytes) make it deterministic for demo data."""
    if ms is None:
        ms = time.time_ns() // 1_000_000
    rand = os.urandom(10) if rand is None else rand
    value = (ms & ((1 << 48) - 1)) << 80 | int.from_bytes(rand[:10], "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def new_rid(origin: str, kind: str, *, ms: int | None = None, rand: bytes | None = None) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    if not is_node_id(origin):
        raise ValueError(f"not a valid node id: {origin!r}")
    return f"urn:jembatan:{origin}:{kind}:{uuid7(ms, rand)}"
