"""Every ``JEMBATAN_*`` setting the node reads, with its default and meaning.

README.md's settings table is checked against this dict by the tests.
"""
from __future__ import annotations

import os
from typing import Any

SETTINGS: dict[str, tuple[Any, str]] = {
    "JEMBATAN_HOME": (None, "The node directory (made by `jembatan init`); replaces `--dir`."),
    "JEMBATAN_STORE": (None, "Store URL overriding the node's own: `sqlite:///srv/node.db`, or "
                       "`neo4j://USER:PASSWORD@HOST:7687` / `bolt://…` (`?database=NAME`)."),
    "JEMBATAN_MAX_BODY_BYTES": (1_048_576, "Largest request body accepted (bytes); larger gets 413."),
    "JEMBATAN_PAGE_SIZE": (50, "Default page size of list and search endpoints (max 500)."),
    "JEMBATAN_WORKERS": (None, "gunicorn worker processes for `jembatan serve` (default: 2 × cores + 1)."),
    "JEMBATAN_LOG_LEVEL": ("info", "Log level: debug, info, warning, error."),
    "JEMBATAN_SYNC_CONNECT_TIMEOUT": (5, "Seconds `jembatan sync` waits to connect to a peer."),
    "JEMBATAN_SYNC_READ_TIMEOUT": (30, "Seconds `jembatan sync` waits for a peer's next bytes "
                                   "(a stalled peer fails after this)."),
    "JEMBATAN_SYNC_MAX_BODY_BYTES": (67_108_864, "Largest feed page `jembatan sync` reads from "
                                     "a peer (bytes)."),
    "JEMBATAN_CYPHER_TIMEOUT": (10, "Seconds an analyst's Cypher query (`POST /api/v1/cypher`) "
                                "may run before the database stops it."),
    "JEMBATAN_CYPHER_MAX_ROWS": (10_000, "Most rows a Cypher query returns (more: `truncated`)."),
    "JEMBATAN_SECRET_KEY": (None, "Key signing the staff pages' session cookies and CSRF tokens "
                            "(default: a random key kept in DIR/secret_key, made 0600 on first "
                            "use; give every server of one node the same key)."),
    "JEMBATAN_MATCH_ENCODER": ("tfidf", "Text encoder of matchmaking: `tfidf` (offline, the "
                               "default) or `sentence-transformers:<model path or id>` (needs "
                               "`pip install 'jembatan[embeddings]'`; a model id must already "
                               "be in the local cache unless JEMBATAN_MATCH_DOWNLOAD=1)."),
    "JEMBATAN_MATCH_DOWNLOAD": (False, "`1` lets a sentence-transformers model id be downloaded "
                                "from the Hugging Face hub when it is not in the local cache."),
    "JEMBATAN_SECURE_COOKIES": (False, "`1` when the node is served over HTTPS: the staff "
                                "session cookie is then sent with `Secure`."),
}

_INTS = {"JEMBATAN_MAX_BODY_BYTES", "JEMBATAN_PAGE_SIZE", "JEMBATAN_WORKERS",
         "JEMBATAN_SYNC_CONNECT_TIMEOUT", "JEMBATAN_SYNC_READ_TIMEOUT",
         "JEMBATAN_SYNC_MAX_BODY_BYTES", "JEMBATAN_CYPHER_TIMEOUT", "JEMBATAN_CYPHER_MAX_ROWS"}
_BOOLS = {"JEMBATAN_SECURE_COOKIES", "JEMBATAN_MATCH_DOWNLOAD"}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def from_env(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The settings, from the environment where set, else their defaults."""
    environ = os.environ if environ is None else environ
    out: dict[str, Any] = {}
    for name, (default, _) in SETTINGS.items():
        raw = environ.get(name)
        if raw in (None, ""):
            out[name] = default
        elif name in _BOOLS:
            if raw.strip().lower() not in _TRUE | _FALSE:
                raise SystemExit(f"{name} must be 1 or 0 (true/false), got {raw!r}")
            out[name] = raw.strip().lower() in _TRUE
        elif name in _INTS:
            try:
                out[name] = int(raw)
            except ValueError:
                raise SystemExit(f"{name} must be an integer, got {raw!r}")
            if out[name] < 1:   # a limit of 0 would refuse every request
                raise SystemExit(f"{name} must be at least 1, got {raw!r}")
        else:
            out[name] = raw
    return out
