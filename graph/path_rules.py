"""Partnership paths: the arguments every backend checks, and the bounds of a search.

A partnership path runs from one institution to another through the agreements they are
party to: [institution, agreement, institution, …, institution] along PARTY_TO edges, no
node twice, every node a live record the caller may see. ``Store.paths`` returns the ``k``
shortest, ordered by the number of agreements and then by the list of ids.
"""
from __future__ import annotations

from jembatan.network import errors

MAX_K = 20
MAX_HOPS = 6


def _problem(field: str, detail: str) -> errors.ValidationError:
    return errors.ValidationError(f"Invalid {field}.", errors=[{"field": field, "detail": detail}])


def _int(name: str, value, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= hi:
        raise _problem(name, f"Must be an integer from 1 to {hi}.")
    return value


def check_paths(src, dst, k, max_hops) -> None:
    """Raise ValidationError naming the first bad argument. Ends that name no visible
    institution are the backend's ``NotFound``, found while it looks them up."""
    _int("k", k, MAX_K)
    _int("max_hops", max_hops, MAX_HOPS)
    for name, value in (("src", src), ("dst", dst)):
        if not isinstance(value, str):
            raise _problem(name, "Must be the rid of an institution.")
    if src == dst:
        raise _problem("dst", "Must be another institution than src.")
