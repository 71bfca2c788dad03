"""What the search behind ``Store.paths`` (``paths_search``) reads of a store's
partnership graph: the ``PathGraph`` interface each store implements
(``sqlite_paths_graph``, ``neo4j_paths_graph``), and the id order of candidate nodes.
"""
from __future__ import annotations

from typing import Hashable, Protocol


#: a node of the graph as a store keys it (the SQLite store's node number, Neo4j's rid)
Key = Hashable


class IdOrder(Protocol):
    """Nodes in the order of their ids, read as far as they are taken."""

    def take(self, n: int) -> list:
        """The next ``n`` nodes (fewer at the end, none past it)."""


class Sorted:
    """An IdOrder of nodes already in id order."""

    def __init__(self, nodes: list):
        self._nodes, self._pos = nodes, 0

    def take(self, n: int) -> list:
        batch = self._nodes[self._pos:self._pos + n]
        self._pos += len(batch)
        return batch


class PathGraph(Protocol):
    """What the search reads of a store's PARTY_TO graph, each thing once per search.

    ``adj`` holds the neighbours read so far (an institution's agreements, an agreement's
    parties), ``visible`` whether a node is a live record within the scope, as far as known.
    """

    adj: dict[Key, list[Key]]
    visible: dict[Key, bool]

    def load(self, nodes: list[Key], institutions: bool) -> None:
        """Read the neighbours of the nodes not read yet: agreements of institutions, or
        parties of agreements."""

    def neighbours(self, node: Key, institution: bool) -> list[Key]:
        """The neighbours of one node, read now unless known."""

    def degree_sum(self, institutions: list[Key], cap: int) -> int:
        """The number of agreements of the institutions, or ``cap`` if it is more."""

    def check_visible(self, nodes: list[Key]) -> None:
        """Learn (into ``visible``) whether each node is a live record within the scope."""

    def in_id_order(self, nodes: list[Key]) -> IdOrder:
        """The nodes in id order."""

    def agreements_in_id_order(self, institution: Key) -> IdOrder:
        """Every agreement of an institution in id order (a hub's ideally without reading
        its whole list first)."""

    def close(self) -> None:
        """Release what the search held open."""
