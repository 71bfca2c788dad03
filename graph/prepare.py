"""A record made ready for writing: everything a store derives from an envelope, computed
once and anywhere.

Encoding, hashing, search tokenisation and the graph projection are pure CPU work and cost
more than the write itself; ``prepare`` does them in whatever process calls it (an import
runs it on every core), and a backend's single writer only stores the result. A Prepared
record is a plain tuple, cheap to send between processes.
"""
from __future__ import annotations

import hashlib
import json
from typing import NamedTuple

from jembatan.network.envelope import ENVELOPE_KEYS, SIGNING_PREFIX, canonical_bytes
from jembatan.network.vocab import WIDTH

from . import tallies, textindex
from .projection import project


class Prepared(NamedTuple):
    rid: str
    kind: str
    version: int
    hlc: str
    visibility: str
    deleted: bool
    text: str                                  # canonical JSON of the whole envelope
    hash: str                                  # content hash (``envelope.content_hash``)
    search: tuple[str, str] | None             # (title tokens, other tokens); None: tombstone
    edges: tuple[tuple[str, str, str, str | None], ...]   # (src, type, dst, props JSON)
    country: str | None                        # filter columns: own country (institution, event)
    trl: int | None                            # technology trl / demand trl_min
    stage: str | None                          # technology stage
    props: str                                 # the graph node's display properties, JSON
    shadow: tuple[str, str, str] | None = None  # (visibility, content hash, canonical text) of
                                               # the record's shadow tombstone (``prepare``)
    facts: tuple | None = None                 # what it adds to the tallies (``tallies.facts``)
    starts_on: str | None = None               # an event's first day (the calendar's column)


def encode(env: dict) -> tuple[str, str]:
    """(canonical JSON text of the whole envelope, content hash) with one serialisation.

    The canonical form sorts keys, and ``sigs`` sorts just before the last two top-level
    keys ``version`` (an integer) and ``visibility`` (an enum word); so the full text is the
    signing text with ``"sigs":[…]`` spliced in before the last ``,"version":``.
    """
    signing = canonical_bytes({k: v for k, v in env.items() if k != "sigs"})
    digest = "sha256:" + hashlib.sha256(SIGNING_PREFIX + signing).hexdigest()
    cut = signing.rfind(b',"version":')
    full = signing[:cut] + b',"sigs":' + canonical_bytes(env["sigs"]) + signing[cut:]
    return full.decode("utf-8"), digest


def _shadow(env: dict, shadow: dict) -> tuple[str, str, str]:
    """(visibility, hash, text) of a shadow tombstone; ValueError naming what does not fit."""
    if not isinstance(shadow, dict):
        raise ValueError("shadow: must be an envelope (a dict)")
    if (shadow.get("rid") != env["rid"] or shadow.get("kind") != env["kind"]
            or shadow.get("origin") != env["origin"]):
        raise ValueError("shadow: must have the record's rid")
    if shadow.get("version") != env["version"] or isinstance(shadow.get("version"), bool):
        raise ValueError("shadow: must have the record's version")
    if shadow.get("deleted") is not True or shadow.get("body") is not None:
        raise ValueError("shadow: must be a tombstone (deleted, null body)")
    if set(shadow) != set(ENVELOPE_KEYS) or not isinstance(shadow["sigs"], list):
        raise ValueError(f"shadow: must be a whole envelope ({', '.join(ENVELOPE_KEYS)})")
    vis = shadow.get("visibility")
    # the shadow is what readers of the wider scope knew
    if vis not in WIDTH or WIDTH[vis] <= WIDTH[env["visibility"]]:
        raise ValueError(f"shadow: its visibility must be wider than {env['visibility']!r}")
    text, digest = encode(shadow)
    return vis, digest, text


def prepare(env: dict, shadow: dict | None = None) -> Prepared:
    """Everything a store writes for a validated envelope.

    ``shadow``: a validated tombstone envelope at the same rid and version with a wider
    visibility than ``env`` (see ``graph.store``), stored beside the record and served
    instead of it to readers of the wider scope; ``ValueError`` if it does not fit.
    """
    shadowed = None if shadow is None else _shadow(env, shadow)
    text, digest = encode(env)
    body, kind = env["body"], env["kind"]
    node, edges = project(env)
    country = trl = stage = starts_on = None
    if body is not None:
        if kind in ("institution", "event"):
            country = body.get("country")
            starts_on = body.get("starts_on")
        elif kind == "technology":
            trl, stage = body.get("trl"), body.get("stage")
        elif kind == "demand":
            trl = body.get("trl_min")
    return Prepared(
        env["rid"], kind, env["version"], env["hlc"], env["visibility"], env["deleted"],
        text, digest, textindex.record_texts(env),
        tuple((e.src, e.type, e.dst, json.dumps(e.props, sort_keys=True) if e.props else None)
              for e in edges),
        country, trl, stage, json.dumps(node.props, ensure_ascii=False, sort_keys=True),
        shadowed, tallies.facts(env), starts_on)
