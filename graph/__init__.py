"""The node's database: the Store protocol, its backends, the graph projection."""
from __future__ import annotations

from .store import Store


def open_store(url: str) -> Store:
    """Open the store named by ``url``: ``sqlite:///path/node.db`` (the default backend).

    An unknown scheme is a configuration mistake, not a client's: ``ValueError``.
    """
    if url.startswith("sqlite:///"):
        from .sqlite import SqliteStore
        return SqliteStore(url.removeprefix("sqlite:///"))
    raise ValueError(f"unsupported store URL scheme: {url.split(':', 1)[0]!r}")
