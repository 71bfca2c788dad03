import uuid

import pytest

from jembatan.network import hlc
from jembatan.network.ids import is_node_id, new_rid, parse_rid, uuid7


def test_new_rid_parses_back_and_is_uuid7():
    rid = new_rid("gxu-nanning", "technology")
    parts = parse_rid(rid)
    assert parts.origin == "gxu-nanning" and parts.kind == "technology"
    assert uuid.UUID(parts.uuid).version == 7


def test_uuid7_deterministic_and_time_ordered():
    a = uuid7(1_700_000_000_000, bytes(10))
    assert a == uuid7(1_700_000_000_000, bytes(10))
    assert uuid7(1_700_000_000_001, bytes(10)) > a


@pytest.mark.parametrize("bad", [
    "urn:jembatan:Node:technology:01890a5d-ac96-774b-bcce-b302099a8057",   # upper case node
    "urn:jembatan:node:widget:01890a5d-ac96-774b-bcce-b302099a8057",       # unknown kind
    "urn:jembatan:node:technology:01890a5d-ac96-474b-bcce-b302099a8057",   # uuid4, not 7
    "urn:jembatan:-node:technology:01890a5d-ac96-774b-bcce-b302099a8057",  # leading hyphen
    "urn:other:node:technology:01890a5d-ac96-774b-bcce-b302099a8057",
    "", None, 42,
])
def test_malformed_rids_rejected(bad):
    with pytest.raises(ValueError):
        parse_rid(bad)


def test_node_ids():
    assert is_node_id("a") and is_node_id("gxu-nanning-01")
    assert not is_node_id("a" * 64) and not is_node_id("bad_id") and not is_node_id("x-")


def test_clock_is_monotonic_even_when_wall_clock_stalls():
    clock = hlc.Clock(now_ms=lambda: 1_000)
    stamps = [clock.tick() for _ in range(3)]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3
    assert clock.tick(seen="0000000005000-0007") > "0000000005000-0007"


def test_hlc_datetime_round_trip():
    stamp = hlc.format_hlc(1_700_000_000_123)
    assert hlc.from_datetime(hlc.to_datetime(stamp)) == stamp
