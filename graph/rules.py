"""The write rule every backend applies, in one place.

    higher version → created / updated; same version, same hash → unchanged;
    same version, other hash → rejected (equivocation: the first copy stays);
    lower version → stale

A backend prepares a chunk (``prepare_chunk``), looks up what it stores for the chunk's
rids, lets ``decide`` judge each record against that state, then writes the accepted ones.
"""
from __future__ import annotations

from typing import Protocol

from jembatan.network import errors
from jembatan.network.envelope import load_envelope

from .prepare import Prepared, prepare
from .store import CREATED, REJECTED, STALE, UNCHANGED, UPDATED, Outcome

EQUIVOCATION = "equivocation: same version, different content"


class State(Protocol):
    """What a backend stores for one rid; ``write`` is set to (record, seq) when accepted."""
    version: int | None
    hash: str | None
    write: tuple[Prepared, int] | None


def _reason(exc: errors.ValidationError) -> str:
    details = "; ".join(f"{e['field']}: {e['detail']}" for e in exc.errors or ())
    return f"invalid: {details}" if details else f"invalid: {exc.detail}"


def prepare_chunk(raw: list, trusted: bool) -> tuple[list[Outcome | None], list[tuple[int, Prepared]]]:
    """Validate (unless trusted) and prepare each item; invalid ones get their outcome now."""
    outcomes: list[Outcome | None] = [None] * len(raw)
    valid: list[tuple[int, Prepared]] = []
    for i, item in enumerate(raw):
        if isinstance(item, Prepared):   # validated and prepared by the caller
            valid.append((i, item))
            continue
        if trusted:
            env = item
        else:
            try:
                env = load_envelope(item)
            except errors.ValidationError as exc:
                rid = item.get("rid") if isinstance(item, dict) else None
                outcomes[i] = Outcome(rid if isinstance(rid, str) else "", REJECTED,
                                      reason=_reason(exc))
                continue
        valid.append((i, prepare(env)))
    return outcomes, valid


def decide(valid: list[tuple[int, Prepared]], states: dict[str, State],
           outcomes: list[Outcome | None], seq: int) -> int:
    """Judge each record against its rid's state (updated as records are accepted, so a
    batch may carry several versions of one rid); fill ``outcomes``; return the last seq."""
    for i, p in valid:
        st = states[p.rid]
        if st.version is None or p.version > st.version:
            status = CREATED if st.version is None else UPDATED
            seq += 1
            st.version, st.hash, st.write = p.version, p.hash, (p, seq)
            outcomes[i] = Outcome(p.rid, status, p.version, seq)
        elif p.version == st.version:
            outcomes[i] = (Outcome(p.rid, UNCHANGED, p.version) if p.hash == st.hash
                           else Outcome(p.rid, REJECTED, st.version, reason=EQUIVOCATION))
        else:
            outcomes[i] = Outcome(p.rid, STALE, st.version,
                                  reason=f"stale: version {st.version} is stored")
    return seq
