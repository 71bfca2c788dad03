"""graph.match.agenda: slots of an event's days and greedy one-to-one meeting schedules."""
from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import date, datetime, time

import pytest

from jembatan.graph.match.agenda import (MAX_SLOTS, Agenda, Candidate, Meeting, Slot, day_slots,
                                         schedule)
from jembatan.network.errors import ValidationError

D1 = date(2025, 9, 17)


def at(hour: int, minute: int = 0, day: int = 17) -> datetime:
    return datetime(2025, 9, day, hour, minute)


# -- day_slots --------------------------------------------------------------------------------

def test_a_default_day_has_fourteen_half_hours_around_lunch():
    slots = day_slots(D1, D1)
    assert len(slots) == 14
    assert slots[0] == Slot(at(9), at(9, 30))
    assert slots[5] == Slot(at(11, 30), at(12))
    assert slots[6] == Slot(at(13), at(13, 30))
    assert slots[-1] == Slot(at(16, 30), at(17))


def test_slots_resume_at_the_end_of_a_break_and_never_run_past_the_day():
    slots = day_slots(D1, D1, day_start=time(9), day_end=time(11), minutes=40,
                      breaks=[(time(9, 50), time(10, 5))])
    # 9:00–9:40 fits; 9:40–10:20 would cross the break, so the next starts at 10:05;
    # 10:45–11:25 would pass the day's end
    assert slots == [Slot(at(9), at(9, 40)), Slot(at(10, 5), at(10, 45))]


def test_every_day_of_the_event_gets_its_slots():
    slots = day_slots(D1, date(2025, 9, 19), minutes=60, breaks=())
    assert len(slots) == 3 * 8
    assert {s.start.date() for s in slots} == {date(2025, 9, d) for d in (17, 18, 19)}
    assert slots == sorted(slots)


@pytest.mark.parametrize("kwargs, field", [
    ({"minutes": 4}, "minutes"), ({"minutes": 241}, "minutes"), ({"minutes": 30.0}, "minutes"),
    ({"minutes": True}, "minutes"),
    ({"day_start": time(17), "day_end": time(9)}, "day_end"),
    ({"day_start": time(9), "day_end": time(9)}, "day_end"),
    ({"breaks": [(time(8), time(9, 30))]}, "breaks"),
    ({"breaks": [(time(16, 30), time(17, 30))]}, "breaks"),
    ({"breaks": [(time(13), time(12))]}, "breaks"),
    ({"breaks": [("12:00", "13:00")]}, "breaks"),
    ({"breaks": [(time(12),)]}, "breaks"),
    ({"day_start": "09:00"}, "day_start"),
])
def test_bad_day_arguments_are_named(kwargs, field):
    with pytest.raises(ValidationError) as exc:
        day_slots(D1, D1, **kwargs)
    assert exc.value.errors[0]["field"] == field


def test_bad_dates_and_too_many_slots_are_named():
    with pytest.raises(ValidationError) as exc:
        day_slots(D1, date(2025, 9, 16))
    assert exc.value.errors[0]["field"] == "ends_on"
    with pytest.raises(ValidationError) as exc:
        day_slots(datetime(2025, 9, 17, 9), D1)
    assert exc.value.errors[0]["field"] == "starts_on"
    # 5-minute slots, 8 hours: 96 a day; 20 days are 1920 slots, 21 days 2016
    assert len(day_slots(D1, date(2025, 10, 6), minutes=5, breaks=())) == 1920
    with pytest.raises(ValidationError) as exc:
        day_slots(D1, date(2025, 10, 7), minutes=5, breaks=())
    assert exc.value.errors[0]["field"] == "ends_on"
    assert "2000" in exc.value.errors[0]["detail"]


# -- schedule: small exact cases -------------------------------------------------------------

SLOTS = [Slot(at(9), at(9, 30)), Slot(at(9, 30), at(10)), Slot(at(10), at(10, 30))]


def test_best_first_earliest_slot_lowest_table():
    agenda = schedule([Candidate("A", "B", 0.9, ("t1", "d1")), Candidate("C", "D", 0.8),
                       Candidate("A", "C", 0.7), Candidate("B", "D", 0.6)], SLOTS, tables=2)
    assert agenda == Agenda(meetings=[
        Meeting(SLOTS[0], 1, "A", "B", 0.9, ("t1", "d1")),
        Meeting(SLOTS[0], 2, "C", "D", 0.8, ()),
        Meeting(SLOTS[1], 1, "A", "C", 0.7, ()),
        Meeting(SLOTS[1], 2, "B", "D", 0.6, ()),
    ], unscheduled=[])


def test_one_table_pushes_meetings_later_and_the_rest_waits():
    agenda = schedule([Candidate("A", "B", 3), Candidate("C", "D", 2), Candidate("E", "F", 1),
                       Candidate("G", "H", 0.5)], SLOTS, tables=1)
    assert [(m.slot, m.table, m.a) for m in agenda.meetings] == [
        (SLOTS[0], 1, "A"), (SLOTS[1], 1, "C"), (SLOTS[2], 1, "E")]
    assert agenda.unscheduled == [Candidate("G", "H", 0.5)]


def test_a_pair_meets_once_its_best_candidate_standing_for_it():
    agenda = schedule([Candidate("B", "A", 0.4, ("t2",)), Candidate("A", "B", 0.9, ("t1",)),
                       Candidate("A", "B", 0.9, ("t0",))], SLOTS, tables=3)
    assert [(m.a, m.b, m.score, m.topic) for m in agenda.meetings] == [("A", "B", 0.9, ("t0",))]
    assert agenda.unscheduled == []


def test_nobody_meets_themself():
    agenda = schedule([Candidate("A", "A", 1.0), Candidate("A", "B", 0.5)], SLOTS, tables=1)
    assert [(m.a, m.b) for m in agenda.meetings] == [("A", "B")]
    assert agenda.unscheduled == []


def test_per_party_max_leaves_the_rest_unscheduled():
    cands = [Candidate("hub", f"x{i}", 1.0 - i / 10) for i in range(4)]
    agenda = schedule(cands, SLOTS, tables=5, per_party_max=2)
    assert [m.b for m in agenda.meetings] == ["x0", "x1"]
    assert agenda.unscheduled == cands[2:]


def test_a_busy_side_waits_for_a_later_slot_while_a_table_stays_free():
    agenda = schedule([Candidate("A", "B", 2), Candidate("A", "C", 1)], SLOTS, tables=4)
    assert [(m.slot, m.b) for m in agenda.meetings] == [(SLOTS[0], "B"), (SLOTS[1], "C")]


def test_no_slots_schedules_nothing():
    agenda = schedule([Candidate("A", "B", 1)], [], tables=3)
    assert agenda.meetings == [] and agenda.unscheduled == [Candidate("A", "B", 1)]


def test_slots_given_in_any_order_are_used_in_time_order():
    agenda = schedule([Candidate("A", "B", 1)], list(reversed(SLOTS)), tables=1)
    assert agenda.meetings[0].slot == SLOTS[0]


@pytest.mark.parametrize("args, kwargs, field", [
    (([], SLOTS, 0), {}, "tables"), (([], SLOTS, 1.5), {}, "tables"),
    (([], SLOTS, True), {}, "tables"), (([], SLOTS, 1), {"per_party_max": 0}, "per_party_max"),
    (([], [Slot(at(10), at(9))], 1), {}, "slots"),
    (([], [Slot(at(9), at(10)), Slot(at(9, 30), at(10, 30))], 1), {}, "slots"),
    (([], ["09:00"], 1), {}, "slots"),
    (([], [Slot(at(9), at(9, 5))] * 2, 1), {}, "slots"),
    (([], [Slot(at(9), at(9, 1))] * (MAX_SLOTS + 1), 1), {}, "slots"),
    (([("A", "B", 1)], SLOTS, 1), {}, "candidates"),
    (([Candidate("A", "B", float("nan"))], SLOTS, 1), {}, "candidates"),
    (([Candidate("A", "", 1)], SLOTS, 1), {}, "candidates"),
    (([Candidate("A", "B", 1, ["t"])], SLOTS, 1), {}, "candidates"),
    (("AB", SLOTS, 1), {}, "candidates"),
])
def test_bad_schedule_arguments_are_named(args, kwargs, field):
    with pytest.raises(ValidationError) as exc:
        schedule(*args, **kwargs)
    assert exc.value.errors[0]["field"] == field


# -- schedule: randomized instances ----------------------------------------------------------

def _instance(rng: random.Random):
    people = [f"inst-{i:02d}" for i in range(rng.randint(2, 30))]
    cands = []
    for _ in range(rng.randint(0, 200)):
        a, b = rng.choice(people), rng.choice(people)
        # coarse scores make ties common, so the tie-breaking is exercised
        cands.append(Candidate(a, b, rng.randint(0, 10) / 10, (f"t{rng.randint(0, 5)}",)))
    days = rng.randint(1, 2)
    slots = day_slots(D1, date(2025, 9, 16 + days), minutes=rng.choice([15, 30, 60]),
                      day_start=time(9), day_end=time(rng.randint(10, 13)), breaks=())
    return cands, slots, rng.randint(1, 6), rng.choice([None, 1, 2, 5])


@pytest.mark.parametrize("seed", range(60))
def test_random_instances_respect_every_constraint(seed):
    rng = random.Random(seed)
    cands, slots, tables, cap = _instance(rng)
    agenda = schedule(cands, slots, tables, per_party_max=cap)

    per_slot = defaultdict(list)
    for m in agenda.meetings:
        assert m.slot in slots and 1 <= m.table <= tables
        assert m.a != m.b
        per_slot[m.slot].append(m)
    for slot, ms in per_slot.items():
        assert len(ms) <= tables
        assert len({m.table for m in ms}) == len(ms)             # one meeting per table
        sides = [p for m in ms for p in (m.a, m.b)]
        assert len(sides) == len(set(sides))                     # nobody double-booked
    pairs = [frozenset((m.a, m.b)) for m in agenda.meetings]
    assert len(pairs) == len(set(pairs))                         # a pair meets once
    load = Counter(p for m in agenda.meetings for p in (m.a, m.b))
    if cap is not None:
        assert max(load.values(), default=0) <= cap

    # each distinct pair is either met (with its best score) or unscheduled, never both
    best = {}
    for c in cands:
        if c.a != c.b:
            key = frozenset((c.a, c.b))
            best[key] = max(best.get(key, c.score), c.score)
    unscheduled = [frozenset((c.a, c.b)) for c in agenda.unscheduled]
    assert len(unscheduled) == len(set(unscheduled))
    assert set(pairs) | set(unscheduled) == set(best)
    assert not set(pairs) & set(unscheduled)
    for m in agenda.meetings:
        assert m.score == best[frozenset((m.a, m.b))]
    assert [c.score for c in agenda.unscheduled] == sorted(
        (c.score for c in agenda.unscheduled), reverse=True)

    # greedy: an unscheduled candidate had no slot where both sides and a table were free
    # (unless a side had reached its cap)
    for c in agenda.unscheduled:
        if cap is not None and (load[c.a] >= cap or load[c.b] >= cap):
            continue
        for slot in slots:
            ms = per_slot.get(slot, [])
            taken = {p for m in ms for p in (m.a, m.b)}
            assert len(ms) == tables or c.a in taken or c.b in taken

    # the same input, shuffled, gives the same agenda
    shuffled = cands[:]
    rng.shuffle(shuffled)
    assert schedule(shuffled, list(reversed(slots)), tables, per_party_max=cap) == agenda
