"""The agenda of a matchmaking event: one-to-one meetings laid out on tables and time slots.

    day_slots(starts_on, ends_on, ...)          → [Slot]     the event's meeting slots
    schedule(candidates, slots, tables, ...)    → Agenda     meetings placed, the rest listed

Pure: no store, no Flask. The candidates come from the matches (a technology's owner and a
demand's requester, with the match's score); the caller decides who may meet.

Guarantees of ``schedule``:

* nobody is in two meetings in one slot, and at most ``tables`` meetings share a slot;
* a pair of institutions meets at most once: of the candidates naming the same pair (in
  either order) the best-scoring one stands for it (ties: the smaller ``topic``); the
  others are dropped, as are candidates with ``a == b`` (nobody meets themself);
* nobody has more than ``per_party_max`` meetings;
* the same input gives the same agenda: every tie is broken by the ids.

Strategy: greedy, best score first; each candidate takes the earliest slot where both sides
are free and a table is, and the lowest free table there. What it does not optimise:

* the number of meetings or their total score: one early meeting of a high-scoring pair
  may block a slot two lower-scoring meetings needed (an exact answer is a matching
  problem per slot; events with a few hundred participants do not need it);
* fairness: a party with many good matches fills its day before others get a second one
  (``per_party_max`` is the lever);
* the shape of anyone's day: no gaps are kept for travel between tables, meetings crowd the
  first slots, and nobody's preferred hours are known;
* table assignment beyond "lowest free": a party may change tables between meetings.

Slots are naive datetimes in the event's local time (records carry no time zone). Bad
arguments raise ``ValidationError`` naming the parameter.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from numbers import Real
from typing import Iterable, Sequence

from jembatan.network.errors import ValidationError

#: the most slots an agenda has (e.g. ten days of 200 five-minute slots)
MAX_SLOTS = 2000
#: the most tables a room holds
MAX_TABLES = 10_000
MIN_MINUTES, MAX_MINUTES = 5, 240


@dataclass(frozen=True)
class Candidate:
    """A meeting worth having."""
    a: str                  # institution rid (e.g. the technology owner)
    b: str                  # institution rid (e.g. the demand's requester)
    score: float
    topic: tuple = ()       # e.g. (technology rid, demand rid)


@dataclass(frozen=True, order=True)
class Slot:
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Meeting:
    slot: Slot
    table: int              # 1 … tables
    a: str
    b: str
    score: float
    topic: tuple = ()


@dataclass(frozen=True)
class Agenda:
    meetings: list[Meeting]          # by slot, then table
    unscheduled: list[Candidate]     # best first: no free slot and table, or a side was full


def _bad(name: str, detail: str) -> ValidationError:
    return ValidationError(f"Invalid agenda argument: {name}.",
                           errors=[{"field": name, "detail": detail}])


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_date(name: str, value: object) -> date:
    # a datetime is a date too, but a day's slots start at day_start, not at its time
    if not isinstance(value, date) or isinstance(value, datetime):
        raise _bad(name, "Must be a date.")
    return value


def _check_time(name: str, value: object) -> time:
    if not isinstance(value, time) or value.tzinfo is not None:
        raise _bad(name, "Must be a time of day without a time zone.")
    return value


def _day(day_start: time, day_end: time, minutes: int,
         breaks: Sequence[tuple[time, time]]) -> list[tuple[time, time]]:
    """One day's slots as (start, end) times."""
    step = timedelta(minutes=minutes)
    base = datetime(2000, 1, 1)
    t, end = datetime.combine(base, day_start), datetime.combine(base, day_end)
    pauses = [(datetime.combine(base, bs), datetime.combine(base, be)) for bs, be in breaks]
    out: list[tuple[time, time]] = []
    while t + step <= end:
        clash = next((be for bs, be in pauses if t < be and bs < t + step), None)
        if clash is not None:
            # the next slot starts when the break ends, so slots stay aligned after it
            t = clash
            continue
        out.append((t.time(), (t + step).time()))
        t += step
    return out


def day_slots(starts_on: date, ends_on: date, *, day_start: time = time(9),
              day_end: time = time(17), minutes: int = 30,
              breaks: Iterable[tuple[time, time]] = ((time(12), time(13)),)) -> list[Slot]:
    """The meeting slots of every day from ``starts_on`` to ``ends_on`` (both included):
    ``minutes`` long, back to back from ``day_start``, none running past ``day_end`` or into
    a break; after a break the next slot starts at its end."""
    first, last = _check_date("starts_on", starts_on), _check_date("ends_on", ends_on)
    if last < first:
        raise _bad("ends_on", "Must not be before starts_on.")
    start, end = _check_time("day_start", day_start), _check_time("day_end", day_end)
    if end <= start:
        raise _bad("day_end", "Must be after day_start.")
    if not _is_int(minutes) or not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise _bad("minutes", f"Must be an integer from {MIN_MINUTES} to {MAX_MINUTES}.")
    try:
        pauses = sorted((_check_time("breaks", bs), _check_time("breaks", be))
                        for bs, be in breaks)
    except (TypeError, ValueError):
        raise _bad("breaks", "Must be pairs (start, end) of times of day.") from None
    for bs, be in pauses:
        if be <= bs:
            raise _bad("breaks", f"The break {bs:%H:%M}–{be:%H:%M} must end after it starts.")
        if bs < start or be > end:
            raise _bad("breaks", f"The break {bs:%H:%M}–{be:%H:%M} is outside the day "
                       f"{start:%H:%M}–{end:%H:%M}.")
    one_day = _day(start, end, minutes, pauses)
    days = (last - first).days + 1
    if days * len(one_day) > MAX_SLOTS:
        raise _bad("ends_on", f"{days} days of {len(one_day)} slots are "
                   f"{days * len(one_day)} slots; at most {MAX_SLOTS}.")
    return [Slot(datetime.combine(day, s), datetime.combine(day, e))
            for day in (first + timedelta(days=d) for d in range(days)) for s, e in one_day]


def _check_slots(slots: object) -> list[Slot]:
    if isinstance(slots, (str, bytes)) or not isinstance(slots, Iterable):
        raise _bad("slots", "Must be a list of slots.")
    out = list(slots)
    if len(out) > MAX_SLOTS:
        raise _bad("slots", f"At most {MAX_SLOTS} slots.")
    for slot in out:
        if (not isinstance(slot, Slot) or not isinstance(slot.start, datetime)
                or not isinstance(slot.end, datetime) or not slot.start < slot.end):
            raise _bad("slots", "Each slot must be a Slot whose start is before its end.")
    try:
        out.sort()
    except TypeError:       # naive and aware datetimes mixed
        raise _bad("slots", "Slots must all be naive or all carry a time zone.") from None
    for before, after in zip(out, out[1:]):
        # someone free "in a slot" must really be free then: slots may not overlap
        if after.start < before.end:
            raise _bad("slots", f"The slots starting {before.start:%Y-%m-%d %H:%M} and "
                       f"{after.start:%Y-%m-%d %H:%M} overlap.")
    return out


def _check_candidate(c: object) -> Candidate:
    if not isinstance(c, Candidate):
        raise _bad("candidates", "Each candidate must be a Candidate.")
    if not isinstance(c.a, str) or not c.a or not isinstance(c.b, str) or not c.b:
        raise _bad("candidates", "Each candidate's a and b must be non-empty ids.")
    if isinstance(c.score, bool) or not isinstance(c.score, Real) or not math.isfinite(c.score):
        raise _bad("candidates", f"The score of {c.a} – {c.b} must be a finite number.")
    if not isinstance(c.topic, tuple):
        raise _bad("candidates", f"The topic of {c.a} – {c.b} must be a tuple.")
    return c


def _order(c: Candidate) -> tuple:
    """Best first; ties by the pair's ids, then the topic (as text: topics mix types)."""
    return (-c.score, min(c.a, c.b), max(c.a, c.b), tuple(map(str, c.topic)), c.a)


class _NextOpen:
    """The first slot index ≥ i that still has a free table (union-find over full slots),
    so a candidate's search skips full slots in near-constant time."""

    def __init__(self, n: int):
        self.parent = list(range(n + 1))       # n: past the last slot

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def close(self, i: int) -> None:
        self.parent[i] = i + 1


def schedule(candidates: Iterable[Candidate], slots: Iterable[Slot], tables: int, *,
             per_party_max: int | None = None) -> Agenda:
    """Meetings for the best candidates: see the module for the guarantees and the strategy."""
    if not _is_int(tables) or not 1 <= tables <= MAX_TABLES:
        raise _bad("tables", f"Must be an integer from 1 to {MAX_TABLES}.")
    if per_party_max is not None and (not _is_int(per_party_max) or per_party_max < 1):
        raise _bad("per_party_max", "Must be a positive integer or None.")
    ordered_slots = _check_slots(slots)
    if isinstance(candidates, (str, bytes)) or not isinstance(candidates, Iterable):
        raise _bad("candidates", "Must be a list of candidates.")
    best: dict[tuple[str, str], Candidate] = {}
    for c in map(_check_candidate, candidates):
        if c.a == c.b:
            continue
        pair = (min(c.a, c.b), max(c.a, c.b))
        if pair not in best or _order(c) < _order(best[pair]):
            best[pair] = c

    busy: dict[str, set[int]] = {}         # party → slot indexes it meets in
    used = [0] * len(ordered_slots)        # meetings per slot (= tables taken, lowest first)
    open_ = _NextOpen(len(ordered_slots))
    placed: list[tuple[int, int, Candidate]] = []
    unscheduled: list[Candidate] = []
    for c in sorted(best.values(), key=_order):
        a_busy, b_busy = busy.setdefault(c.a, set()), busy.setdefault(c.b, set())
        if per_party_max is not None and (len(a_busy) >= per_party_max
                                          or len(b_busy) >= per_party_max):
            unscheduled.append(c)
            continue
        # each step skips a full slot for free, or a slot one side meets in: a candidate
        # costs the two sides' meetings so far at most
        i = open_.find(0)
        while i < len(ordered_slots) and (i in a_busy or i in b_busy):
            i = open_.find(i + 1)
        if i >= len(ordered_slots):
            unscheduled.append(c)
            continue
        used[i] += 1
        a_busy.add(i)
        b_busy.add(i)
        placed.append((i, used[i], c))
        if used[i] == tables:
            open_.close(i)
    placed.sort(key=lambda p: (p[0], p[1]))
    return Agenda([Meeting(ordered_slots[i], table, c.a, c.b, c.score, c.topic)
                   for i, table, c in placed], unscheduled)
