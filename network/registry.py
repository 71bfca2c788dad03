"""The alliance registry: which nodes are members, where they live, and their keys.

    {"alliance": str, "serial": int, "issued_at": RFC 3339 UTC,
     "nodes": [{"node", "url", "status": active|suspended|revoked,
                "keys": [{"kid", "public", "not_before", "not_after": str|null,
                          "status": active|revoked}]}],
     "sig": {"kid", "alg": "ed25519", "sig"}}

The root key signs ``b"jembatan-registry-v1\\n" + JCS(document − sig)`` (RFC 8785 through the
``rfc8785`` package: registries are small and rare). Every node pins the root's public key;
a registry is accepted only with a valid root signature and a serial higher than the copy it
replaces, and the last good copy is kept.

Membership and keys:

- ``active`` node: a member; its keys verify its records; it may sync alliance records.
- ``suspended`` node: not a member for sync (``is_member`` is false), but its keys still
  verify its records, so the copies already relayed through the alliance stay valid.
- ``revoked`` node: every key of it is dead; none of its records verifies any more.
- a key verifies a record only when the record's HLC moment lies in the key's window
  ``[not_before, not_after)`` and the key is not revoked.

Administration is done with pure functions on documents (``new_document``, ``admit``,
``set_node_status``, ``revoke_key``, ``publish``); ``api/cli_alliance.py`` only does the I/O.
Node side: ``load_node_registry(home)`` and ``install_registry(home, text)`` keep
``DIR/registry.json``, checked against ``alliance_root`` in ``DIR/node.json``.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import rfc8785
from marshmallow import RAISE, Schema, ValidationError as MmError, validate, validates_schema
from marshmallow import fields as mf

from . import errors
from .ids import NODE_ID_PATTERN
from .keys import (ACTIVE, KID_CHARS_RE, REVOKED, TIME_RE, NodeKey, check_public, dir_lock,
                   format_time, now_ms, parse_time, verify_signature, write_atomic)

REGISTRY_PREFIX = b"jembatan-registry-v1\n"
NODE_STATUSES = ("active", "suspended", "revoked")
KEY_STATUSES = (ACTIVE, REVOKED)
MAX_REGISTRY_BYTES = 16 * 1024 * 1024
REGISTRY_FILE = "registry.json"
MAX_SERIAL = 2**53 - 1


# -- schema ---------------------------------------------------------------------------------

class _Time(mf.String):
    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if not TIME_RE.match(value):
            raise MmError("Not an RFC 3339 UTC time like 2025-01-31T08:00:00Z.")
        try:
            parse_time(value)
        except (ValueError, OverflowError):
            raise MmError("Not a valid date and time.")
        return value


class _PublicKey(mf.String):
    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        try:
            return check_public(value)
        except ValueError:
            raise MmError("Not an ed25519 public key (43 characters of base64url).")


def _base_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query \
            or parts.fragment or parts.username or parts.password:
        raise MmError("An http(s) base URL without query, fragment or credentials.")


class _KeySchema(Schema):
    class Meta:
        unknown = RAISE

    kid = mf.String(required=True, validate=validate.Regexp(
        KID_CHARS_RE, error="1–100 of A–Z a–z 0–9 . _ : -"))
    public = _PublicKey(required=True)
    not_before = _Time(required=True)
    not_after = _Time(required=True, allow_none=True)
    status = mf.String(required=True, validate=validate.OneOf(KEY_STATUSES))

    @validates_schema
    def _window(self, data, **kwargs):
        if data.get("not_after") and data.get("not_before") and \
                parse_time(data["not_after"]) <= parse_time(data["not_before"]):
            raise MmError("Must be after not_before.", "not_after")


class _NodeSchema(Schema):
    class Meta:
        unknown = RAISE

    node = mf.String(required=True, validate=validate.Regexp(
        f"^{NODE_ID_PATTERN}$", error="A node id: lowercase letters, digits and '-'."))
    url = mf.String(required=True, validate=[validate.Length(max=2000), _base_url])
    status = mf.String(required=True, validate=validate.OneOf(NODE_STATUSES))
    keys = mf.List(mf.Nested(_KeySchema), required=True, validate=validate.Length(max=100))

    @validates_schema
    def _unique_kids(self, data, **kwargs):
        kids = [k["kid"] for k in data.get("keys") or ()]
        if len(kids) != len(set(kids)):
            raise MmError("Each kid appears once per node.", "keys")


class _SigSchema(Schema):
    class Meta:
        unknown = RAISE

    kid = mf.String(required=True, validate=validate.Length(1, 100))
    alg = mf.String(required=True, validate=validate.OneOf(["ed25519"]))
    sig = mf.String(required=True, validate=validate.Length(max=200))


class _DocumentSchema(Schema):
    class Meta:
        unknown = RAISE

    alliance = mf.String(required=True, validate=validate.Length(1, 200))
    serial = mf.Integer(required=True, strict=True, validate=validate.Range(0, MAX_SERIAL))
    issued_at = _Time(required=True)
    nodes = mf.List(mf.Nested(_NodeSchema), required=True, validate=validate.Length(max=100_000))
    sig = mf.Nested(_SigSchema, required=True)

    @validates_schema
    def _unique_nodes(self, data, **kwargs):
        ids = [n["node"] for n in data.get("nodes") or ()]
        if len(ids) != len(set(ids)):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise MmError(f"Node {dup!r} appears twice.", "nodes")


_DOCUMENT = _DocumentSchema()


# -- the registry ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RegistryKey:
    kid: str
    public: str
    not_before: str
    not_after: str | None
    status: str


@dataclass(frozen=True)
class RegistryNode:
    node: str
    url: str
    status: str
    keys: tuple[RegistryKey, ...]


class Registry:
    """A verified registry document (immutable). ``text`` is the exact bytes received."""

    __slots__ = ("_text", "_doc", "_nodes", "_windows")

    def __init__(self, text: bytes, doc: dict):
        self._text = text
        self._doc = doc
        self._nodes = {n["node"]: RegistryNode(n["node"], n["url"], n["status"], tuple(
            RegistryKey(k["kid"], k["public"], k["not_before"], k["not_after"], k["status"])
            for k in n["keys"])) for n in doc["nodes"]}
        # kid → (public, from ms, until ms or None, status), per node: one dict lookup per record
        self._windows = {n.node: {k.kid: (k.public, parse_time(k.not_before),
                                          None if k.not_after is None else parse_time(k.not_after),
                                          k.status) for k in n.keys}
                         for n in self._nodes.values()}

    def __setattr__(self, name, value):
        if hasattr(self, "_windows"):
            raise AttributeError("a Registry is immutable")
        object.__setattr__(self, name, value)

    @property
    def text(self) -> bytes:
        return self._text

    @property
    def serial(self) -> int:
        return self._doc["serial"]

    @property
    def alliance(self) -> str:
        return self._doc["alliance"]

    @property
    def issued_at(self) -> str:
        return self._doc["issued_at"]

    def document(self) -> dict:
        """A deep copy of the document (to derive the next one from)."""
        return copy.deepcopy(self._doc)

    def nodes(self) -> tuple[RegistryNode, ...]:
        return tuple(self._nodes.values())

    def node(self, node_id: str) -> RegistryNode | None:
        return self._nodes.get(node_id)

    def is_member(self, node_id: str) -> bool:
        """An active node: may sync alliance records (suspended and revoked ones may not)."""
        entry = self._nodes.get(node_id)
        return entry is not None and entry.status == "active"

    def key_for(self, node_id: str, kid: str, at_ms: int) -> str:
        """The public key ``node_id`` signs with as ``kid`` at ``at_ms``, or SignatureError."""
        entry = self._nodes.get(node_id)
        if entry is None:
            raise errors.SignatureError("unknown_node", f"Node {node_id!r} is not in the "
                                        f"alliance registry (serial {self.serial}).")
        if entry.status == "revoked":
            raise errors.SignatureError("revoked_key", f"Node {node_id!r} is revoked: none "
                                        "of its keys verifies any record.")
        window = self._windows[node_id].get(kid)
        if window is None:
            raise errors.SignatureError("unknown_key", f"Node {node_id!r} has no key {kid!r} "
                                        f"in the alliance registry (serial {self.serial}).")
        public, start, until, status = window
        if status != ACTIVE:
            raise errors.SignatureError("revoked_key", f"Key {kid!r} of node {node_id!r} "
                                        "is revoked.")
        if at_ms < start or (until is not None and at_ms >= until):
            raise errors.SignatureError(
                "key_not_valid", f"Key {kid!r} of node {node_id!r} is valid from "
                f"{format_time(start)} to {format_time(until) if until is not None else 'now'}, "
                f"not at {format_time(at_ms)}.")
        return public


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        keys = [k for k, _ in pairs]
        dup = next(k for k in keys if keys.count(k) > 1)
        raise errors.ValidationError("The registry is invalid.", errors=[
            {"field": dup, "detail": "Duplicate key."}])
    return obj


def _signed_bytes(doc: dict) -> bytes:
    return REGISTRY_PREFIX + rfc8785.dumps({k: v for k, v in doc.items() if k != "sig"})


def load_registry(text: bytes | str, root_public: str) -> Registry:
    """Parse, check and verify a registry document against the pinned root key.

    Structure errors raise ``ValidationError`` naming each field; a signature that is not the
    root's raises ``SignatureError("bad_signature")``.
    """
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    if len(data) > MAX_REGISTRY_BYTES:
        raise errors.ValidationError("The registry is too large.", errors=[
            {"field": "(document)", "detail": f"Over {MAX_REGISTRY_BYTES} bytes."}])
    try:
        raw = json.loads(data, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as exc:
        raise errors.ValidationError("The registry is not JSON.", errors=[
            {"field": "(document)", "detail": f"Not JSON: {getattr(exc, 'msg', exc)}."}])
    if not isinstance(raw, dict):
        raise errors.ValidationError("The registry is invalid.", errors=[
            {"field": "(document)", "detail": "Must be an object."}])
    try:
        doc = _DOCUMENT.load(raw)
    except MmError as exc:
        raise errors.ValidationError("The registry is invalid.",
                                     errors=errors.flatten_messages(exc.messages))
    if not verify_signature(root_public, doc["sig"]["sig"], _signed_bytes(raw)):
        raise errors.SignatureError("bad_signature", "The registry is not signed by the "
                                    "pinned alliance root key.")
    return Registry(data, doc)


def newer(current: Registry | None, candidate: Registry) -> Registry:
    """``candidate`` if it may replace ``current`` (same alliance, higher serial)."""
    if current is not None:
        if candidate.alliance != current.alliance:
            raise errors.SignatureError("alliance_mismatch", f"The registry is of alliance "
                                        f"{candidate.alliance!r}, not {current.alliance!r}.")
        if candidate.serial <= current.serial:
            raise errors.SignatureError("stale_serial", f"The registry's serial "
                                        f"{candidate.serial} is not higher than the serial "
                                        f"{current.serial} already installed.")
    return candidate


# -- administration (pure functions on documents) -------------------------------------------

def new_document(alliance: str) -> dict:
    """An empty registry document (serial 0, unsigned until ``publish``)."""
    return {"alliance": alliance, "serial": 0, "issued_at": format_time(now_ms() // 1000 * 1000),
            "nodes": []}


def _find(doc: dict, node_id: str) -> dict:
    for entry in doc["nodes"]:
        if entry["node"] == node_id:
            return entry
    raise errors.NotFound(f"Node {node_id!r} is not in the registry.")


def admit(doc: dict, node_id: str, *, url: str | None, kid: str, public: str,
          not_before: str) -> dict:
    """A copy of ``doc`` with a new node, or a new key of a known node.

    For a known node the key whose window is open closes at the new key's ``not_before``
    (a rotation), and ``url``, when given, replaces the node's. A revoked node stays revoked.
    """
    doc = copy.deepcopy(doc)
    if url:
        try:
            _base_url(url)
        except MmError as exc:
            raise errors.ValidationError(f"url {url!r}: {exc.messages[0]}", errors=[
                {"field": "url", "detail": exc.messages[0]}])
    key = {"kid": kid, "public": public, "not_before": not_before, "not_after": None,
           "status": ACTIVE}
    start = parse_time(not_before)
    existing = next((n for n in doc["nodes"] if n["node"] == node_id), None)
    if existing is None:
        if not url:
            raise errors.ValidationError("A new node needs its base URL.", errors=[
                {"field": "url", "detail": "Required for a node not yet admitted."}])
        doc["nodes"].append({"node": node_id, "url": url, "status": "active", "keys": [key]})
        return doc
    if existing["status"] == "revoked":
        raise errors.Conflict(f"Node {node_id!r} is revoked; revocation is final.")
    if any(k["kid"] == kid for k in existing["keys"]):
        raise errors.Conflict(f"Node {node_id!r} already has a key {kid!r}.")
    latest = max((parse_time(k["not_before"]) for k in existing["keys"]), default=None)
    if latest is not None and start <= latest:
        raise errors.ValidationError(f"The new key must start after {format_time(latest)}, "
                                     "where the node's newest key starts.", errors=[
            {"field": "not_before", "detail": f"Must be after {format_time(latest)}."}])
    for k in existing["keys"]:
        if k["not_after"] is None or parse_time(k["not_after"]) > start:
            k["not_after"] = not_before
    existing["keys"].append(key)
    if url:
        existing["url"] = url
    return doc


def set_node_status(doc: dict, node_id: str, status: str) -> dict:
    """A copy of ``doc`` with the node suspended, reinstated (active) or revoked."""
    if status not in NODE_STATUSES:
        raise ValueError(f"unknown node status {status!r}")
    doc = copy.deepcopy(doc)
    entry = _find(doc, node_id)
    if entry["status"] == "revoked" and status != "revoked":
        raise errors.Conflict(f"Node {node_id!r} is revoked; revocation is final.")
    if entry["status"] == status:
        raise errors.Conflict(f"Node {node_id!r} is already {status}.")
    entry["status"] = status
    return doc


def revoke_key(doc: dict, node_id: str, kid: str) -> dict:
    doc = copy.deepcopy(doc)
    entry = _find(doc, node_id)
    for k in entry["keys"]:
        if k["kid"] == kid:
            if k["status"] == REVOKED:
                raise errors.Conflict(f"Key {kid!r} of node {node_id!r} is already revoked.")
            k["status"] = REVOKED
            return doc
    raise errors.NotFound(f"Node {node_id!r} has no key {kid!r}.")


def publish(doc: dict, root: NodeKey, *, serial: int, issued_at_ms: int | None = None) -> bytes:
    """The signed text of ``doc`` at ``serial``: the bytes to store and serve."""
    out = {k: v for k, v in doc.items() if k != "sig"}
    out["serial"] = serial
    out["issued_at"] = format_time((now_ms() if issued_at_ms is None else issued_at_ms)
                                   // 1000 * 1000)
    out["sig"] = {"kid": root.kid, "alg": "ed25519", "sig": root.sign(_signed_bytes(out))}
    text = (json.dumps(out, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    load_registry(text, root.public)   # never write what a node would refuse
    return text


# -- node side ------------------------------------------------------------------------------

def pinned_root(home: Path | str) -> str | None:
    """The alliance root key pinned in ``DIR/node.json`` (``alliance_root``), if any."""
    try:
        cfg = json.loads((Path(home) / "node.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    root = cfg.get("alliance_root") if isinstance(cfg, dict) else None
    return root if isinstance(root, str) and root else None


def _require_root(home: Path) -> str:
    root = pinned_root(home)
    if root is None:
        raise errors.SignatureError("no_root", "This node has no pinned alliance root key: "
                                    "`jembatan registry pin KEY` first.")
    return root


def load_node_registry(home: Path | str) -> Registry | None:
    """The node's last good registry, verified again against the pinned root; None if none."""
    home = Path(home)
    try:
        text = (home / REGISTRY_FILE).read_bytes()
    except FileNotFoundError:
        return None
    return load_registry(text, _require_root(home))


def install_registry(home: Path | str, text: bytes | str) -> Registry:
    """Verify ``text`` and make it the node's registry if its serial is higher (atomic).

    Anything refused leaves the installed copy as it was.
    """
    home = Path(home)
    candidate = load_registry(text, _require_root(home))
    with dir_lock(home):
        newer(load_node_registry(home), candidate)
        write_atomic(home / REGISTRY_FILE, candidate.text)
    return candidate
