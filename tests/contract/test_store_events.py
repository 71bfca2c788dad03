"""events: the calendar's read, live events by first day within a date range, on every backend."""
import pytest

from jembatan.graph.store import LOCAL, PUBLIC
from jembatan.network import errors


def on(rec, name, starts, ends=None, **kw):
    env = rec.event(name, **kw)
    body = dict(env["body"], starts_on=starts, ends_on=ends or starts)
    return rec.envelope("event", body, rid=env["rid"], visibility=env["visibility"])


def names(found):
    return [r.envelope["body"]["name"]["en"] for r in found]


@pytest.fixture
def calendar(store, rec):
    events = [on(rec, "Late May", "2025-05-31", "2025-06-02"),
              on(rec, "June forum", "2025-06-10", country="TH"),
              on(rec, "First of June", "2025-06-01"),
              on(rec, "Same day, later", "2025-06-10"),
              on(rec, "Private meeting", "2025-06-15", visibility="private"),
              on(rec, "Last of June", "2025-06-30", country="TH"),
              on(rec, "July", "2025-07-01")]
    store.apply(events)
    return events


def test_events_of_a_month_by_first_day(store, calendar):
    found = store.events("2025-06-01", "2025-06-30", LOCAL)
    assert names(found) == ["First of June", "June forum", "Same day, later", "Private meeting",
                            "Last of June"]
    assert all(r.envelope["kind"] == "event" for r in found)


def test_the_scope_hides_private_events(store, calendar):
    assert "Private meeting" not in names(store.events("2025-06-01", "2025-06-30", PUBLIC))


def test_a_country_and_a_limit_narrow(store, calendar):
    assert names(store.events("2025-01-01", "2025-12-31", LOCAL, country="TH")) == [
        "June forum", "Last of June"]
    assert names(store.events("2025-01-01", "2025-12-31", LOCAL, limit=2)) == [
        "Late May", "First of June"]


def test_moved_and_deleted_events_follow_their_latest_version(store, rec, calendar):
    moved = calendar[1]
    store.apply([rec.update(moved, starts_on="2025-07-20", ends_on="2025-07-21"),
                 rec.tombstone(calendar[2])])
    assert names(store.events("2025-06-01", "2025-06-30", LOCAL)) == [
        "Same day, later", "Private meeting", "Last of June"]
    assert names(store.events("2025-07-01", "2025-07-31", LOCAL)) == ["July", "June forum"]


def test_only_events_are_returned(store, rec, calendar):
    inst = rec.institution()
    store.apply([inst])
    assert all(r.rid != inst["rid"] for r in store.events("1900-01-01", "2999-12-31", LOCAL))


@pytest.mark.parametrize("args, field", [
    (("2025-06", "2025-06-30"), "start"), (("2025-06-01", "30.06.2025"), "end"),
    (("2025-06-30", "2025-06-01"), "end"), ((None, "2025-06-01"), "start")])
def test_bad_arguments_name_the_field(store, args, field):
    with pytest.raises(errors.ValidationError) as exc:
        store.events(*args, LOCAL)
    assert exc.value.errors[0]["field"] == field


@pytest.mark.parametrize("kw, field", [({"country": "XX"}, "country"), ({"limit": 0}, "limit"),
                                       ({"limit": 1001}, "limit")])
def test_bad_filters_name_the_field(store, kw, field):
    with pytest.raises(errors.ValidationError) as exc:
        store.events("2025-01-01", "2025-12-31", LOCAL, **kw)
    assert exc.value.errors[0]["field"] == field
