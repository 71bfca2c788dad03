"""The one path by which this node writes its own records: the REST API and the staff forms
both create, change and delete through these functions.

    create(kind, body, visibility, by=None)  → StoredRecord   version 1, signed, stored
    update(kind, rid, body, visibility, version, by=None) → StoredRecord   version + 1
    set_stage(rid, stage, version=None, by=None) → StoredRecord   a technology's next stage
    delete(kind, rid, version=None)          → StoredRecord   the signed tombstone

Every record leaves signed with the node's key for its HLC moment (peers verify it against
the alliance registry). A change that narrows what peers could see before (public → private,
say) also stores a signed *shadow tombstone* at the widest visibility the record ever had, so
peers holding a copy purge it.

A technology's ``stage_history`` is kept here, never by the writer: whenever a write gives a
technology a stage other than its stored version's (or creates one), an entry
``{stage, at: now in UTC to the second, by}`` is appended to the stored history. ``by`` is
who writes: the caller's ``by`` (the staff pages pass the signed-in name, the CLI its
``--by``), else the request's bearer token (its label, else "<role> token"), else the node
id. A body that sends a ``stage_history`` other than the stored one (``[]`` for a new
technology) is refused (422 naming ``body.stage_history``): history is not rewritten by
clients, and sending back the history as read is always accepted.

Errors are the domain's (``jembatan.network.errors``):

    ValidationError 422     the body is invalid (each bad field named, ``body.<field>``)
    NotFound 404            no record of that kind with that rid on this node
    Gone 410                the record was deleted
    Conflict 409            the record belongs to another node (only its origin may change it),
                            or a new record could not be stored
    PreconditionFailed 412  ``version`` is not the stored version, or another change was
                            stored first (nothing is stored then)

The caller checks who may write; these functions run in the app's context (a request's, or
the one ``jembatan stage`` opens).
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from flask import current_app, has_request_context

from jembatan.graph.prepare import prepare
from jembatan.graph.store import CREATED, LOCAL, UNCHANGED, UPDATED, StoredRecord
from jembatan.network import errors, vocab
from jembatan.network.envelope import load_body, load_envelope, make_envelope
from jembatan.network.ids import new_rid, parse_rid
from jembatan.network.schemas import MAX_STAGE_HISTORY

from .auth import caller_name

if TYPE_CHECKING:
    from .app import NodeState



def _state() -> NodeState:
    return current_app.extensions["jembatan"]


def exposure(stored: StoredRecord | None) -> str | None:
    """The widest visibility peers may hold a copy of the record at (None: never left)."""
    if stored is None:
        return None
    seen = [stored.envelope["visibility"]]
    if stored.shadow is not None:
        seen.append(json.loads(stored.shadow)["visibility"])
    widest = max(seen, key=vocab.WIDTH.__getitem__)
    return None if widest == "private" else widest


def owned(kind: str, rid: str) -> StoredRecord:
    """The live record ``rid`` of ``kind`` as this node stores it, if this node may change it."""
    try:
        ours = parse_rid(rid).kind == kind
    except ValueError:
        ours = False
    st = _state()
    current = st.store.get(rid, LOCAL) if ours else None
    if current is None:
        raise errors.NotFound(f"No {kind} {rid}.")
    if current.envelope["deleted"]:
        raise errors.Gone(f"The {kind} {rid} was deleted.")
    if current.envelope["origin"] != st.node.node_id:
        raise errors.Conflict(
            f"{rid} is owned by node {current.envelope['origin']!r}; records are changed "
            "only by their origin node.")
    return current


def create(kind: str, body: Any, visibility: str = "public", *,
           by: str | None = None) -> StoredRecord:
    """A new record of ``kind`` owned by this node, at version 1."""
    st = _state()
    loaded = load_body(kind, _with_history(kind, body, None, by))
    _check_visibility(visibility)
    env = make_envelope(rid=new_rid(st.node.node_id, kind), body=loaded, version=1,
                        hlc=st.clock.tick(), visibility=visibility)
    return _write(env, new=True)


def update(kind: str, rid: str, body: Any, visibility: str | None, version: int, *,
           by: str | None = None) -> StoredRecord:
    """Version ``version`` + 1 of this node's record ``rid`` with ``body``; ``visibility``
    None keeps the record's (leaving it out must never publish a private record)."""
    current = owned(kind, rid)
    if current.version != version:
        raise _stale()
    loaded = load_body(kind, _with_history(kind, body, current, by))
    visibility = current.envelope["visibility"] if visibility is None else visibility
    _check_visibility(visibility)
    env = make_envelope(rid=rid, body=loaded, version=current.version + 1,
                        hlc=_state().clock.tick(current.envelope["hlc"]), visibility=visibility)
    return _write(env, new=False, previous=current)


def set_stage(rid: str, stage: str, version: int | None = None, *,
              by: str | None = None) -> StoredRecord:
    """The next version of this node's technology ``rid`` at ``stage``, everything else as
    stored; ``version`` (if given) must be the stored one. 422 naming ``stage`` for a stage
    not in the vocabulary or the one the technology is at already."""
    current = owned("technology", rid)
    if version is not None and current.version != version:
        raise _stale()
    body = dict(current.envelope["body"])
    if stage not in vocab.STAGES:
        raise errors.ValidationError("The stage is invalid.", errors=[
            {"field": "stage", "detail": f"Must be one of: {', '.join(vocab.STAGES)}."}])
    if stage == body["stage"]:
        raise errors.ValidationError("The technology is at that stage already.", errors=[
            {"field": "stage", "detail": f"Already {stage!r}; give another stage."}])
    body["stage"] = stage
    return update("technology", rid, body, None, current.version, by=by)


def writer(by: str | None = None) -> str:
    """Who a write is by, as a stage history names them (1–100 characters, one line)."""
    if by is None and has_request_context():
        by = caller_name()
    name = re.sub(r"\s+", " ", "".join(c for c in str(by or "") if c.isprintable() or c.isspace()))
    return name.strip()[:100].strip() or _state().node.node_id


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _with_history(kind: str, body: Any, previous: StoredRecord | None, by: str | None) -> Any:
    """``body`` with the node's ``stage_history``: the stored one, plus an entry when the
    stage changes. Bodies that are not objects, and other kinds, pass unchanged (the schema
    names what is wrong with them)."""
    if kind != "technology" or not isinstance(body, dict):
        return body
    before = previous.envelope["body"] if previous is not None else None
    kept = list((before or {}).get("stage_history") or [])
    sent = body.get("stage_history")
    if sent is not None and sent != kept:
        raise errors.ValidationError("The stage history is kept by the node.", errors=[{
            "field": "body.stage_history",
            "detail": "Is recorded by the node as the stage changes; leave it out, or send "
                      "it as stored."}])
    body = {k: v for k, v in body.items() if k != "stage_history"}
    stage = body.get("stage")
    if stage in vocab.STAGES and stage != (before or {}).get("stage"):
        # a clock set back must not make the history go backwards
        at = max([_now(), *(e["at"] for e in kept[-1:])])
        kept.append({"stage": stage, "at": at, "by": writer(by)})
        # the oldest steps give way: a record must stay writable
        kept = kept[-MAX_STAGE_HISTORY:]
    if kept:
        body["stage_history"] = kept
    return body


def delete(kind: str, rid: str, version: int | None = None) -> StoredRecord:
    """A tombstone for this node's record ``rid``; ``version`` (if given) must be the stored one.

    The tombstone goes as far as the record ever went: peers holding a copy purge it.
    """
    current = owned(kind, rid)
    if version is not None and current.version != version:
        raise _stale()
    env = make_envelope(rid=rid, body=None, version=current.version + 1,
                        hlc=_state().clock.tick(current.envelope["hlc"]),
                        visibility=exposure(current) or current.envelope["visibility"],
                        deleted=True)
    return _write(env, new=False)


def _stale() -> errors.PreconditionFailed:
    # one answer whether the stale version was seen before the write or by the store itself
    return errors.PreconditionFailed(
        "Another change to this record was saved first; fetch it and retry with its ETag.",
        errors=[{"field": "If-Match", "detail": "Stale ETag."}])


def _check_visibility(visibility: str) -> None:
    if visibility not in vocab.VISIBILITIES:
        raise errors.ValidationError("The visibility is invalid.", errors=[
            {"field": "visibility", "detail": f"Must be one of: {', '.join(vocab.VISIBILITIES)}."}])


def _write(env: dict, *, new: bool, previous: StoredRecord | None = None) -> StoredRecord:
    st = _state()
    item = prepare(load_envelope(st.sign(env)), shadow=_shadow_of(env, previous))
    outcome = st.store.apply([item], trusted=True)[0]
    if outcome.status not in (CREATED, UPDATED, UNCHANGED):
        if new:
            raise errors.Conflict(outcome.reason or "The record was not stored.")
        # the store keeps the higher version: someone else's change landed between our read
        # and our apply, and ours is not stored
        raise _stale()
    stored = st.store.get(env["rid"], LOCAL)
    assert stored is not None
    return stored


def _shadow_of(env: dict, previous: StoredRecord | None) -> dict | None:
    """The signed tombstone peers get when ``env`` narrows what they could see before."""
    exposed = exposure(previous)
    if exposed is None or vocab.WIDTH[env["visibility"]] >= vocab.WIDTH[exposed]:
        return None
    tomb = make_envelope(rid=env["rid"], body=None, version=env["version"],
                         hlc=env["hlc"], visibility=exposed, deleted=True)
    return load_envelope(_state().sign(tomb))
