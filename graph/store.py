"""The Store protocol: one interface to the node's database, several backends.

Every backend passes the same contract suite (``tests/contract/``). Records go in through
``apply`` only; its rule is the federation's: the higher version wins, the same version with
the same content is a no-op, the same version with other content is rejected (the first copy
stays). Each write takes the next value of the node-local change sequence inside the write
transaction, so the changes feed never misses or reorders a committed write.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Iterator, Protocol, runtime_checkable

from jembatan.network.envelope import canonical_bytes

if TYPE_CHECKING:
    from .prepare import Prepared

PUBLIC = frozenset({"public"})
ALLIANCE = frozenset({"public", "alliance"})
LOCAL = frozenset({"public", "alliance", "private"})  # the node's own authenticated users

CREATED, UPDATED, UNCHANGED, STALE, REJECTED = "created", "updated", "unchanged", "stale", "rejected"


@dataclass(frozen=True)
class Outcome:
    rid: str
    status: str                 # one of CREATED … REJECTED
    version: int | None = None  # the version now stored
    seq: int | None = None      # the change sequence of this write (created/updated only)
    reason: str | None = None   # why it was rejected or stale


class StoredRecord:
    """A stored record: its envelope, change sequence and content hash.

    A backend builds it from the envelope or, cheaper, from the stored canonical JSON text
    (``text=``); the other form is derived on first use. Serving ``text`` as it is spares
    a parse and a re-encode on every read, and hands other nodes the exact stored bytes.
    """
    __slots__ = ("seq", "hash", "_envelope", "_text")

    def __init__(self, envelope: dict | None, seq: int, hash: str, *, text: str | None = None):
        if envelope is None and text is None:
            raise TypeError("StoredRecord needs the envelope or its text")
        self._envelope, self._text = envelope, text
        self.seq, self.hash = seq, hash

    @property
    def envelope(self) -> dict:
        if self._envelope is None:
            self._envelope = json.loads(self._text)
        return self._envelope

    @property
    def text(self) -> str:
        """The envelope's canonical JSON (RFC 8785)."""
        if self._text is None:
            self._text = canonical_bytes(self._envelope).decode("utf-8")
        return self._text

    @property
    def rid(self) -> str:
        return self.envelope["rid"]

    @property
    def version(self) -> int:
        return self.envelope["version"]

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, StoredRecord) and (self.seq, self.hash, self.envelope)
                == (other.seq, other.hash, other.envelope))

    def __repr__(self) -> str:
        return f"StoredRecord(seq={self.seq}, hash={self.hash!r}, text={self.text[:60]!r}…)"


@dataclass(frozen=True)
class RecordQuery:
    """Filters for ``list`` and ``search``; every filter narrows (AND)."""
    kinds: tuple[str, ...] = ()          # empty: every kind
    scope: frozenset[str] = PUBLIC       # visibilities the caller may see
    country: str | None = None           # institution/event country; owner's or requester's
                                         # country for technologies/demands; any party's for agreements
    field: str | None = None             # technology field code (technology, demand, agreement)
    trl_min: int | None = None           # technology trl ≥ / demand trl_min ≥
    trl_max: int | None = None
    party: str | None = None             # owner (technology), requester (demand), party (agreement),
                                         # organiser or participant (event)
    stage: str | None = None             # technology stage
    visibility: str | None = None        # one visibility (must be within scope)
    updated_since: str | None = None     # HLC stamp: records whose hlc ≥ this
    include_deleted: bool = False        # tombstones are hidden unless asked for
    limit: int = 50
    cursor: str | None = None            # opaque, from a previous Page


@dataclass(frozen=True)
class Page:
    items: list[StoredRecord]
    next_cursor: str | None


@dataclass(frozen=True)
class GraphNode:
    id: str                # a rid, or "country:CN", "field:ict"
    label: str             # Institution, Technology, Demand, Agreement, Endorsement, Event, Country, Field
    stub: bool = False     # referenced but not (yet) received
    props: dict = field(default_factory=dict)


@dataclass(frozen=True)
class GraphEdge:
    src: str
    type: str              # LOCATED_IN, OWNS, SEEKS, PARTY_TO, TRANSFERS, SIGNED_AT, IN_FIELD, …
    dst: str
    props: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Subgraph:
    nodes: list[GraphNode]
    edges: list[GraphEdge]


@runtime_checkable
class Store(Protocol):
    def apply(self, envelopes: Iterable[dict | Prepared], *, trusted: bool = False,
              all_or_nothing: bool = False, checkpoint: tuple[str, str] | None = None) -> list[Outcome]:
        """Apply a batch in one transaction; one Outcome per input, in order.

        ``trusted``: the envelopes were validated by the caller (``load_envelope``); otherwise
        the store validates each and rejects the invalid ones. A ``Prepared`` item
        (``graph.prepare``) was validated and prepared by the caller, possibly in another
        process; the store only writes it. ``all_or_nothing``: if any
        outcome is REJECTED, nothing is written and ``BatchRejected`` is raised carrying the
        outcomes. ``checkpoint``: (peer, cursor) saved in the same transaction.
        """

    def get(self, rid: str, scope: frozenset[str] = LOCAL) -> StoredRecord | None:
        """The stored record (tombstones included) if its visibility is within ``scope``."""

    def list(self, query: RecordQuery) -> Page:
        """Newest change first, keyset-paginated."""

    def search(self, text: str, query: RecordQuery) -> Page:
        """Full-text search over every language variant of the text fields, best match first."""

    def changes(self, since: int = 0, limit: int = 1000,
                scope: frozenset[str] = LOCAL) -> list[StoredRecord]:
        """Records whose latest change has seq > ``since``, in seq order."""

    def last_seq(self) -> int: ...

    def get_checkpoint(self, peer: str) -> str | None: ...

    def neighbours(self, rid: str, depth: int = 1, scope: frozenset[str] = PUBLIC,
                   limit: int = 500) -> Subgraph:
        """The record's graph node and everything within ``depth`` (1 or 2) hops, either direction."""

    def counts(self, scope: frozenset[str] = LOCAL) -> dict[str, int]:
        """Live (non-deleted) records per kind."""

    def iter_all(self, scope: frozenset[str] = LOCAL) -> Iterator[StoredRecord]:
        """Every record (tombstones included), in seq order, for export and copy."""

    def close(self) -> None: ...


def iter_feed(store: Store, scope: frozenset[str] = LOCAL, page: int = 1000) -> Iterator[StoredRecord]:
    """Every record in seq order, read as pages of the changes feed: nothing stays open
    between items, so the caller may write to the store while iterating (records it
    updates come again, later). Backends implement ``iter_all`` with it."""
    since = 0
    while True:
        records = store.changes(since, page, scope)
        yield from records
        if len(records) < page:
            return
        since = records[-1].seq


class BatchRejected(Exception):
    """An all-or-nothing batch had rejected records; nothing was written."""

    def __init__(self, outcomes: list[Outcome]):
        self.outcomes = outcomes
        rejected = [o for o in outcomes if o.status == REJECTED]
        super().__init__(f"{len(rejected)} of {len(outcomes)} records rejected")
