"""One row of an import file, parsed and validated: the work ``jembatan import`` spreads
over one process per core.

``validate_chunk([(row, payload)])`` returns ``[(row, what, value)]`` in order, where
``what`` is ``"ready"`` (a ``graph.prepare.Prepared`` record: a full envelope of this node,
or a new record made from a draft without rid), ``"draft"`` (``(kind, rid, visibility,
version, deleted, body)`` with the body validated, for a draft naming a stored record: only
the importing process can read the store) or ``"error"`` (a list of ``{field, detail}``
naming the column or key). Signing and preparing (encoding, hashing, tokenising,
projecting) happen here too, so the store's single writer only writes. The context (format,
node id, default kind and visibility, CSV header, the import's HLC stamp, the node's keys) is
set once with ``set_context`` before the worker processes fork.

Every ready record is signed with the node's key for its HLC moment; a full envelope is
signed again, which gives back the very same signature when it already carried this node's
signature by that key (ed25519 signatures are deterministic) and costs less than checking it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from jembatan.graph.prepare import prepare
from jembatan.network import errors, tabular
from jembatan.network.envelope import load_body, load_envelope, make_envelope
from jembatan.network.ids import KINDS, new_rid, parse_rid
from jembatan.network.keys import KeyRing
from jembatan.network.signing import sign_envelope
from jembatan.network.vocab import VISIBILITIES

from .import_sources import ERRORS_KEY, IGNORED_COLUMNS, META_COLUMNS


@dataclass(frozen=True)
class _Context:
    fmt: str
    node_id: str
    kind: str | None
    header: tuple[str, ...] | None
    visibility: str
    hlc: str        # every record an import creates changed at the same moment: its commit
    ring: KeyRing   # the node's keys (inherited through fork, never pickled)


_CTX: _Context | None = None   # set before the pool forks, so workers inherit it


def set_context(fmt: str, node_id: str, kind: str | None, header: tuple[str, ...] | None,
                *, visibility: str, hlc: str, ring: KeyRing) -> None:
    global _CTX
    _CTX = _Context(fmt, node_id, kind, header, visibility, hlc, ring)


def sign(env: dict) -> dict:
    """``env`` signed by this node with its key for the record's HLC moment."""
    try:
        key = _CTX.ring.at(int(env["hlc"][:13]))
    except errors.JembatanError as exc:
        raise bad("hlc", exc.detail)
    return sign_envelope(env, key, _CTX.node_id)


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def bad(field_name: str, detail: str) -> errors.ValidationError:
    return errors.ValidationError(detail, errors=[{"field": field_name, "detail": detail}])


def _own_rid(rid: Any, column: str, node_id: str) -> str:
    try:
        parts = parse_rid(rid)
    except ValueError:
        raise bad(column, "Not a well-formed rid (urn:jembatan:<node>:<kind>:<uuid7>).")
    if parts.origin != node_id:
        raise bad(column, f"A record of node {parts.origin!r}: only this node's ({node_id}) "
                           "records can be imported; other nodes' arrive by federation.")
    return rid


def _draft(meta: dict[str, Any], read_body: Callable[[str], dict], names: dict[str, str]):
    """A validated draft ``(kind, rid, visibility, version, deleted, body)``.

    ``meta`` holds the row's own kind/rid/visibility/version/deleted (absent: None);
    ``names`` maps them to the column or key they came from, for error messages.
    """
    ctx = _CTX
    problems: list[dict[str, str]] = []
    kind = meta.get("kind") or ctx.kind
    rid = meta.get("rid")
    if kind is not None and kind not in KINDS:
        problems.append({"field": names["kind"], "detail": f"Not a record kind ({', '.join(KINDS)})."})
        kind = None
    if rid is not None:
        try:
            _own_rid(rid, names["rid"], ctx.node_id)
            rid_kind = parse_rid(rid).kind
            if kind is None:
                kind = rid_kind
            elif rid_kind != kind:
                problems.append({"field": names["rid"], "detail": f"Names a {rid_kind}, but the row is a {kind}."})
        except errors.ValidationError as exc:
            problems.extend(exc.errors)
    elif kind is None and names["kind"] not in {p["field"] for p in problems}:
        problems.append({"field": names["kind"], "detail": "No record kind: give one, pass --kind, or a rid."})
    visibility = meta.get("visibility")
    if visibility is not None and visibility not in VISIBILITIES:
        problems.append({"field": names["visibility"], "detail": f"One of {', '.join(VISIBILITIES)}."})
    version = meta.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        problems.append({"field": names["version"], "detail": "A version number (1, 2, …)."})
    deleted = meta.get("deleted") or False
    if not isinstance(deleted, bool):
        problems.append({"field": names["deleted"], "detail": "true or false."})
        deleted = False
    if deleted and rid is None:
        problems.append({"field": names["deleted"], "detail": "Deleting needs the record's rid."})
    body = None
    if kind is not None and not deleted:
        try:
            body = read_body(kind)
        except errors.ValidationError as exc:
            problems.extend(exc.errors or [])
    if problems:
        raise errors.ValidationError("The row is invalid.", errors=problems)
    return kind, rid, visibility, version, deleted, body


_DRAFT_KEYS = {"kind", "rid", "visibility", "version", "deleted", "body"}
_JSON_NAMES = {k: k for k in _DRAFT_KEYS}


def _jsonl_row(line: bytes):
    try:
        obj = json.loads(line, object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError:
        raise bad("(line)", "Not UTF-8 text.")
    except _DuplicateKey as exc:
        raise bad(str(exc), "Duplicate key.")
    except ValueError as exc:
        raise bad("(line)", f"Not JSON: {getattr(exc, 'msg', exc)} (column {getattr(exc, 'colno', '?')}).")
    if not isinstance(obj, dict):
        raise bad("(line)", "Must be a JSON object.")
    obj.pop(ERRORS_KEY, None)   # the reasons a rejects file gives (fix the line, import it again)
    if "hlc" in obj:
        env = load_envelope(obj)
        if env["origin"] != _CTX.node_id:
            _own_rid(env["rid"], "origin", _CTX.node_id)
        return "env", env
    unknown = sorted(set(obj) - _DRAFT_KEYS)
    if unknown:
        raise errors.ValidationError("The row is invalid.", errors=[
            {"field": k, "detail": "Unknown key (a draft has kind, rid, visibility, version, deleted, body)."}
            for k in unknown])
    if obj.get("deleted") is not True and "body" not in obj:
        raise bad("body", "Missing: a draft needs a body (or \"deleted\": true).")
    return "draft", _draft(obj, lambda kind: load_body(kind, obj.get("body")), _JSON_NAMES)


_TRUE, _FALSE = {"true", "1", "yes", "y"}, {"false", "0", "no", "n", ""}


def _table_row(cells: list[str]):
    ctx = _CTX
    meta: dict[str, Any] = {}
    row: dict[str, str] = {}
    for name, cell in zip(ctx.header, cells):
        if name in IGNORED_COLUMNS:
            continue
        if name in META_COLUMNS:
            cell = cell.strip()
            if cell:
                meta[META_COLUMNS[name]] = cell
        else:
            row[name] = cell
    kind = meta.get("kind") or ctx.kind or _rid_kind(meta.get("rid"))
    if "version" in meta:
        if kind is not None and tabular.is_column(kind, "version"):
            row["version"] = meta.pop("version")   # the body's own field (endorsement)
        else:
            try:
                meta["version"] = tabular.parse_integer(meta["version"])
            except ValueError:
                meta["version"] = "x"             # reported by _draft, naming the column
    if "deleted" in meta:
        flag = meta["deleted"].lower()
        meta["deleted"] = True if flag in _TRUE else False if flag in _FALSE else flag
    names = {"kind": "record_kind", "rid": "rid", "visibility": "visibility",
             "version": "version", "deleted": "deleted"}
    return "draft", _draft(meta, lambda k: tabular.load_row(k, row), names)


def _rid_kind(rid: str | None) -> str | None:
    try:
        return parse_rid(rid).kind
    except ValueError:
        return None


def validate_chunk(chunk: list[tuple[int, Any]]) -> list[tuple[int, str, Any]]:
    """``[(row, payload)]`` → ``[(row, "env"|"draft"|"error", value)]``, in order."""
    read = _jsonl_row if _CTX.fmt == "jsonl" else _table_row
    out = []
    for rowno, payload in chunk:
        if isinstance(payload, dict):   # the reader already found it bad
            out.append((rowno, "error", payload["errors"]))
            continue
        try:
            what, value = read(payload)
            if what == "env":
                what, value = "ready", prepare(sign(value))
            elif value[1] is None and value[3] is None:   # a new record: no rid, no version
                kind, _, visibility, _, _, body = value
                what, value = "ready", prepare(sign(make_envelope(
                    rid=new_rid(_CTX.node_id, kind), body=body, version=1, hlc=_CTX.hlc,
                    visibility=visibility or _CTX.visibility)))
            out.append((rowno, what, value))
        except errors.ValidationError as exc:
            out.append((rowno, "error", exc.errors or [{"field": "(row)", "detail": exc.detail}]))
    return out
