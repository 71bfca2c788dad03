"""The node's database: the Store protocol, its backends, the graph projection."""
from __future__ import annotations

from .store import Store

#: URL schemes of the Neo4j backend (the driver's own: routing ``neo4j``, direct ``bolt``,
#: ``+s`` for TLS, ``+ssc`` for TLS with a self-signed certificate)
NEO4J_SCHEMES = ("neo4j", "neo4j+s", "neo4j+ssc", "bolt", "bolt+s", "bolt+ssc")


def open_store(url: str) -> Store:
    """Open the store named by ``url``.

    * ``sqlite:///path/node.db`` — the embedded default;
    * ``neo4j://user:password@host:7687`` (or ``bolt://``, ``neo4j+s://``, ``bolt+s://``),
      optionally ``?database=NAME`` (default ``neo4j``); user and password URL-quoted.

    An unknown scheme or a malformed URL is a configuration mistake, not a client's:
    ``ValueError``.
    """
    if url.startswith("sqlite:///"):
        from .sqlite import SqliteStore
        return SqliteStore(url.removeprefix("sqlite:///"))
    scheme = url.split(":", 1)[0]
    if scheme in NEO4J_SCHEMES and url.startswith(f"{scheme}://"):
        from .neo4j import Neo4jStore
        return Neo4jStore.from_url(url)
    raise ValueError(f"unsupported store URL scheme: {scheme!r}")
