"""The Store protocol: one interface to the node's database, several backends.

Every backend passes the same contract suite (``tests/contract/``). Records go in through
``apply`` only; its rule is the federation's: the higher version wins, the same version with
the same content is a no-op, the same version with other content is rejected (the first copy
stays). Each write takes the next value of the node-local change sequence inside the write
transaction, so the changes feed never misses or reorders a committed write.

Federation adds three things a store keeps for the sync layer:

* a record's *shadow*: when the origin narrows a record's visibility, it stores beside the
  record a signed tombstone at the same rid and version with the wider visibility peers
  knew; a reader whose scope excludes the record but includes the shadow gets the shadow
  (``get``, ``changes``), so the peers that held the wider copy learn it is gone;
* the *quarantine*: records refused from a peer, kept with the reason for an operator,
  written in the same transaction as the records and the peer's checkpoint;
* the *epoch*: a random id of this store's history; a node restored from a backup takes a
  new one, so peers holding cursors of the old history start again from 0.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Iterator, Mapping, Protocol, runtime_checkable

from jembatan.network.envelope import canonical_bytes

if TYPE_CHECKING:
    from .prepare import Prepared

PUBLIC = frozenset({"public"})
ALLIANCE = frozenset({"public", "alliance"})
LOCAL = frozenset({"public", "alliance", "private"})  # the node's own authenticated users

CREATED, UPDATED, UNCHANGED, STALE, REJECTED = "created", "updated", "unchanged", "stale", "rejected"

#: the most quarantine entries a store keeps: inserting more drops the oldest, so a hostile
#: peer sending refused records without end cannot fill the disk
QUARANTINE_MAX = 100_000


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

    ``shadow``: the canonical text of the record's shadow tombstone, if it has one and the
    read was made with the ``LOCAL`` scope (the node itself, e.g. to copy its store); None
    otherwise. A reader served the shadow *instead* of the record gets it as ``text``.
    """
    __slots__ = ("seq", "hash", "shadow", "_envelope", "_text")

    def __init__(self, envelope: dict | None, seq: int, hash: str, *, text: str | None = None,
                 shadow: str | None = None):
        if envelope is None and text is None:
            raise TypeError("StoredRecord needs the envelope or its text")
        self._envelope, self._text = envelope, text
        self.seq, self.hash, self.shadow = seq, hash, shadow

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
        return (isinstance(other, StoredRecord)
                and (self.seq, self.hash, self.shadow, self.envelope)
                == (other.seq, other.hash, other.shadow, other.envelope))

    def __repr__(self) -> str:
        return f"StoredRecord(seq={self.seq}, hash={self.hash!r}, text={self.text[:60]!r}…)"


@dataclass(frozen=True)
class Quarantined:
    """A record refused from a peer, to be kept in the quarantine (``Store.apply``)."""
    peer: str                 # the peer it came from
    reason: str               # a short code: "equivocation", "invalid", "signature", …
    detail: str               # a sentence for the operator
    text: str                 # the record as received
    rid: str | None = None    # its rid, when it had a readable one


@dataclass(frozen=True)
class QuarantineEntry:
    """A quarantined record as stored."""
    id: int                   # increasing: a newer entry has a higher id
    at_ms: int                # when it was quarantined (Unix ms)
    peer: str
    rid: str | None
    reason: str
    detail: str
    text: str


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
    event: str | None = None             # event rid: agreements signed at it (body ``event``)
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


@dataclass(frozen=True, slots=True)
class PartnerInstitution:
    """A live institution as the partnership graph needs it."""
    rid: str
    name: dict             # multilingual: BCP-47 tag → name
    country: str           # ISO 3166-1 alpha-2
    kind: str              # institution kind: university, enterprise, …


@dataclass(frozen=True, slots=True)
class PartnerAgreement:
    """A live agreement as the partnership graph needs it."""
    rid: str
    kind: str              # licence, joint_rd, …
    status: str
    year: int | None       # the year of signed_on, None when undated
    parties: tuple[tuple[str, str], ...]   # (institution rid, role), by rid; stubs and
                                           # institutions outside the scope included


@dataclass(frozen=True)
class Partnerships:
    """Who is party to what (``Store.partnerships``): everything sorted by rid."""
    institutions: tuple[PartnerInstitution, ...]
    agreements: tuple[PartnerAgreement, ...]


@runtime_checkable
class Store(Protocol):
    def apply(self, envelopes: Iterable[dict | Prepared], *, trusted: bool = False,
              all_or_nothing: bool = False, checkpoint: tuple[str, str] | None = None,
              quarantine: Iterable[Quarantined] = ()) -> list[Outcome]:
        """Apply a batch in one transaction; one Outcome per input, in order.

        ``trusted``: the envelopes were validated by the caller (``load_envelope``); otherwise
        the store validates each and rejects the invalid ones. A ``Prepared`` item
        (``graph.prepare``) was validated and prepared by the caller, possibly in another
        process; the store only writes it, with its shadow (a record written without one
        loses the shadow it had). ``all_or_nothing``: if any
        outcome is REJECTED, nothing is written and ``BatchRejected`` is raised carrying the
        outcomes. ``checkpoint``: (peer, cursor) saved in the same transaction; with it,
        every REJECTED record of the batch is also quarantined (peer = the checkpoint's).
        ``quarantine``: more refused records to keep, in the same transaction.
        """

    def get(self, rid: str, scope: frozenset[str] = LOCAL) -> StoredRecord | None:
        """The stored record (tombstones included) if its visibility is within ``scope``;
        else its shadow tombstone if the shadow's visibility is."""

    def list(self, query: RecordQuery) -> Page:
        """Newest change first, keyset-paginated."""

    def search(self, text: str, query: RecordQuery) -> Page:
        """Full-text search over every language variant of the text fields, best match first."""

    def changes(self, since: int = 0, limit: int = 1000,
                scope: frozenset[str] = LOCAL) -> list[StoredRecord]:
        """Records whose latest change has seq > ``since``, in seq order; a record outside
        ``scope`` whose shadow is within it comes as its shadow (at the record's seq)."""

    def last_seq(self) -> int: ...

    def get_checkpoint(self, peer: str) -> str | None: ...

    def neighbours(self, rid: str, depth: int = 1, scope: frozenset[str] = PUBLIC,
                   limit: int = 500, kinds: tuple[str, ...] = (),
                   countries: tuple[str, ...] = ()) -> Subgraph:
        """The record's graph node and everything within ``depth`` (1 to 3) hops, either
        direction, breadth first: at most ``limit`` nodes, the start first, then hop by hop,
        and the edges among them.

        ``kinds``: the node kinds to keep (record kinds, "country", "field"; empty: all);
        ``countries``: ISO alpha-2 codes a node with a country of its own (an institution,
        an event, a Country node) must have; nodes without one pass. A node filtered out,
        like one outside ``scope``, is neither returned nor traversed; the start always is.
        """

    def paths(self, src: str, dst: str, k: int = 3, scope: frozenset[str] = PUBLIC,
              max_hops: int = 4) -> list[list[str]]:
        """The ``k`` shortest partnership paths between two institutions: node ids
        [src, agreement, institution, …, dst] along PARTY_TO edges, no node twice, at most
        ``max_hops`` agreements, every node a live record within ``scope``. Ordered by the
        number of agreements, then by the ids (lexicographically). ``NotFound`` if either
        end is not a live institution within ``scope``."""

    def events(self, start: str, end: str, scope: frozenset[str] = PUBLIC, *,
               country: str | None = None, limit: int = 500) -> list[StoredRecord]:
        """Live events within ``scope`` whose first day (``starts_on``) is from ``start`` to
        ``end`` (ISO dates, both included), optionally held in ``country``: by first day, then
        seq; at most ``limit`` (1 to 1000)."""

    def counts(self, scope: frozenset[str] = LOCAL) -> dict[str, int]:
        """Live (non-deleted) records per kind."""

    def iter_all(self, scope: frozenset[str] = LOCAL) -> Iterator[StoredRecord]:
        """Every record (tombstones included), in seq order, for export and copy."""

    def tally(self, measure: str, scope: frozenset[str] = PUBLIC, *, group: tuple[str, ...] = (),
              where: Mapping[str, object] | None = None, years: tuple[int, int] | None = None,
              distinct: str | None = None) -> list[tuple]:
        """Sums over the tallies' cells (``graph.tallies``) of one measure, as a reader of
        ``scope`` (PUBLIC, ALLIANCE or LOCAL) sees them: (*group values, n, amount) per
        group in group order, or one row when ``group`` is empty. ``where``: dimension →
        value or collection of values; ``years``: (first, last) inclusive; ``distinct``: n
        counts the distinct values of that dimension (amount 0)."""

    def quarantined(self, limit: int = 50, before: int | None = None,
                    reason: str | None = None) -> list[QuarantineEntry]:
        """Quarantined records newest first (id descending), ids < ``before``, of one
        ``reason`` if given. At most ``QUARANTINE_MAX`` entries are kept."""

    def quarantine_counts(self) -> dict[str, int]:
        """How many quarantined records are kept, per reason."""

    def epoch(self) -> str:
        """The store's epoch: 32 hex digits made when the store was created."""

    def new_epoch(self) -> str:
        """Replace the epoch with a new random one (a node restored from a backup) and return it."""

    def close(self) -> None: ...

    def partnerships(self, scope: frozenset[str] = PUBLIC) -> Partnerships:
        """Every live institution and live agreement visible in ``scope``, with each
        agreement's parties (stubs and institutions outside the scope among them), read in
        bulk from one snapshot, for the partnership graph (``graph.analytics``)."""


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
