"""Bearer tokens → roles → what a caller may read and write.

    no Authorization header        anonymous: reads public records only (scope PUBLIC)
    Authorization: Bearer <token>  a node user: reads everything the node holds (scope LOCAL)
                                   writes need the role editor or admin
    malformed or unknown token     401 with WWW-Authenticate: Bearer
    viewer writing                 403

Token look-ups are cached in-process for ``ttl`` seconds (a revoked token keeps working
that long at most) so that authenticated reads do not open auth.db on every request.
"""
from __future__ import annotations

import re
import threading
import time
from pathlib import Path

from flask import current_app, request

from jembatan.graph.store import LOCAL, PUBLIC
from jembatan.network import errors

from .node import Tokens

WRITER_ROLES = frozenset({"editor", "admin"})

# RFC 6750 b64token, bounded in length so a huge header is not hashed and cached.
_TOKEN_RE = re.compile(r"^[A-Za-z0-9._~+/-]{1,256}=*$")


class TokenCache:
    """``Tokens(home).holder_of`` with a short in-process memory (unknown tokens included)."""

    def __init__(self, home: Path, ttl: float = 30.0, max_entries: int = 4096):
        self._home = Path(home)
        self._ttl = ttl
        self._max = max_entries
        self._tokens: Tokens | None = None
        self._cache: dict[str, tuple[tuple[str, str | None] | None, float]] = {}
        self._lock = threading.Lock()

    def holder_of(self, token: str) -> tuple[str, str | None] | None:
        """(role, label) of a known token; None for an unknown one."""
        now = time.monotonic()
        hit = self._cache.get(token)
        if hit is not None and hit[1] > now:
            return hit[0]
        with self._lock:
            if self._tokens is None:
                self._tokens = Tokens(self._home)
            found = self._tokens.holder_of(token)
            if len(self._cache) >= self._max:
                # Random junk tokens must not grow memory without bound.
                self._cache.clear()
            self._cache[token] = (found, now + self._ttl)
        return found

    def role_of(self, token: str) -> str | None:
        found = self.holder_of(token)
        return found[0] if found else None

    def clear(self) -> None:
        self._cache.clear()


def _unauthorized(detail: str, error: str | None = None) -> errors.Unauthorized:
    exc = errors.Unauthorized(detail, errors=[{"field": "Authorization", "detail": detail}])
    challenge = 'Bearer realm="jembatan"'
    if error:
        challenge += f', error="{error}"'
    exc.headers = {"WWW-Authenticate": challenge}  # type: ignore[attr-defined]
    return exc


def _holder() -> tuple[str, str | None] | None:
    """(role, label) of the request's bearer token; None when no credentials were sent."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not _TOKEN_RE.match(token):
        raise _unauthorized("The Authorization header must be 'Bearer <token>'.",
                            "invalid_request")
    found = current_app.extensions["jembatan"].tokens.holder_of(token)
    if found is None:
        raise _unauthorized("The bearer token is not known to this node.", "invalid_token")
    return found


def caller_role() -> str | None:
    """The role of the request's bearer token; None when no credentials were sent."""
    found = _holder()
    return None if found is None else found[0]


def caller_name() -> str | None:
    """Who the request's bearer token stands for, as a record's history names them: the
    token's label (``jembatan token create --label``), else "<role> token"; None when no
    credentials were sent."""
    found = _holder()
    if found is None:
        return None
    role, label = found
    return label if label and label.strip() else f"{role} token"


def scope_for(role: str | None) -> frozenset[str]:
    """Visibilities a caller may read: PUBLIC for anonymous callers, LOCAL for node users."""
    return PUBLIC if role is None else LOCAL


def read_scope() -> frozenset[str]:
    return scope_for(caller_role())


def require_writer() -> str:
    """The caller's role if it may write; 401/403 otherwise."""
    role = caller_role()
    if role is None:
        raise _unauthorized("Writing needs a bearer token of an editor or admin.")
    if role not in WRITER_ROLES:
        raise errors.Forbidden(f"The role {role!r} may read but not write; "
                               "writing needs an editor or admin token.")
    return role


def require_reader() -> str:
    """The caller's role (any node user); 401 for anonymous callers."""
    role = caller_role()
    if role is None:
        raise _unauthorized("This needs a bearer token of a node user.")
    return role
