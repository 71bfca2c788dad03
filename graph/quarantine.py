"""The quarantine's rules shared by every backend: checking what a caller hands in, turning
the REJECTED outcomes of a peer's batch into entries, checking the arguments of a listing.

A backend keeps at most ``QUARANTINE_MAX`` entries (its ``quarantine_limit``): each insert
drops the oldest beyond it, in the same transaction, so a peer that sends refused records
without end costs a bounded amount of disk.
"""
from __future__ import annotations

import json
import time
from typing import Iterable

from jembatan.network import errors

from .prepare import Prepared
from .rules import EQUIVOCATION
from .store import REJECTED, Outcome, Quarantined

MAX_LIST = 10_000   # like the changes feed's page


def _problem(field: str, detail: str) -> errors.ValidationError:
    return errors.ValidationError(f"Invalid {field}.", errors=[{"field": field, "detail": detail}])


def check_entries(items: Iterable[Quarantined]) -> list[Quarantined]:
    """The entries as a list; ``ValidationError`` naming the first bad one (nothing written)."""
    if isinstance(items, (str, bytes, dict)):
        raise _problem("quarantine", "Must be a sequence of Quarantined entries.")
    out = []
    for n, q in enumerate(items):
        where = f"quarantine[{n}]"
        if not isinstance(q, Quarantined):
            raise _problem(where, "Must be a Quarantined entry.")
        for name in ("peer", "reason"):
            value = getattr(q, name)
            if not isinstance(value, str) or not value:
                raise _problem(f"{where}.{name}", "Must be a non-empty string.")
        for name in ("detail", "text"):
            if not isinstance(getattr(q, name), str):
                raise _problem(f"{where}.{name}", "Must be a string.")
        if q.rid is not None and not isinstance(q.rid, str):
            raise _problem(f"{where}.rid", "Must be a string or None.")
        out.append(q)
    return out


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _raw_text(item: object) -> str:
    """What a peer sent, as text, for an item that never became a record."""
    try:
        return json.dumps(item, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        return repr(item)


def refused(peer: str, raw: list, outcomes: list[Outcome], valid: list[tuple[int, Prepared]]
            ) -> list[Quarantined]:
    """An entry for each REJECTED outcome of a chunk (``rules.prepare_chunk`` and ``decide``):
    the reason is the outcome's reason up to its colon ("equivocation", "invalid"), the
    detail a sentence, the text the record as received."""
    prepared = dict(valid)
    out = []
    for i, o in enumerate(outcomes):
        if o is None or o.status != REJECTED:
            continue
        p = prepared.get(i)
        text = p.text if p is not None else _raw_text(raw[i])
        why = o.reason or "rejected"
        code = why.split(":", 1)[0].strip() or "rejected"
        if why == EQUIVOCATION and p is not None:
            detail = (f"Version {p.version} arrived with other content ({p.hash}) than the "
                      "copy stored at that version; the first copy stays.")
        elif code == "invalid":
            detail = f"The record is invalid: {why.split(':', 1)[1].strip()}."
        else:
            detail = why[:1].upper() + why[1:] + ("" if why.endswith(".") else ".")
        out.append(Quarantined(peer=peer, reason=code, detail=detail, text=text,
                               rid=o.rid or None))
    return out


def check_listing(limit: object, before: object, reason: object) -> None:
    """``ValidationError`` naming the bad argument of ``Store.quarantined``."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
        raise _problem("limit", f"Must be an integer from 1 to {MAX_LIST}.")
    if before is not None and (isinstance(before, bool) or not isinstance(before, int)
                               or before < 1):
        raise _problem("before", "Must be an integer ≥ 1.")
    if reason is not None and (not isinstance(reason, str) or not reason):
        raise _problem("reason", "Must be a non-empty string.")
