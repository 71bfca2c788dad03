"""The node's database: the Store protocol, its backends, the graph projection."""
from __future__ import annotations

from .store import Store


def open_store(url: str) -> Store:
    """Open the store named by ``url``: ``sqlite:///path/node.db`` (the default backend)."""
    if url.startswith("sqlite:///"):
        from .sqlite import SqliteStore
        return SqliteStore(url.removeprefix("sqlite:///"))
    from jembatan.network.errors import BadRequest
    raise BadRequest(f"unsupported store URL scheme: {url.split(':', 1)[0]!r}")
