"""The graph benchmark's generator, and a tiny run on SQLite (its figures, never their values)."""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

# bench/ is a folder of the repository, not part of the installed package.
ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench import bench_graph, graph_alliance  # noqa: E402
from jembatan.network import vocab  # noqa: E402
from jembatan.network.envelope import load_envelope  # noqa: E402

N = 5000


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return list(graph_alliance.alliance(N))


def test_every_record_is_a_valid_envelope(records):
    for env in records:
        assert load_envelope(env)["rid"] == env["rid"]


def test_counts_per_kind_are_as_specified(records):
    got = Counter(env["kind"] for env in records)
    assert got == {"institution": N // 50, "technology": N // 10, "demand": N // 20,
                   "event": N // 1000, "agreement": N}
    assert graph_alliance.counts(N) == dict(got)
    with pytest.raises(ValueError, match="n must be"):
        graph_alliance.counts(10)


def test_agreements_name_existing_institutions(records):
    institutions = {env["rid"]: env["body"] for env in records if env["kind"] == "institution"}
    technologies = {env["rid"] for env in records if env["kind"] == "technology"}
    events = {env["rid"] for env in records if env["kind"] == "event"}
    agreements = [env["body"] for env in records if env["kind"] == "agreement"]
    for body in agreements:
        parties = [p["institution"] for p in body["parties"]]
        assert 2 <= len(parties) <= 3 and len(set(parties)) == len(parties)
        assert all(rid in institutions for rid in parties)
        assert body.get("technology", next(iter(technologies))) in technologies
        assert body.get("event", next(iter(events))) in events
    # the alliance's twelve countries, ~40% enterprises
    assert {b["country"] for b in institutions.values()} == set(vocab.ALLIANCE_COUNTRIES)
    share = sum(b["kind"] == "enterprise" for b in institutions.values()) / len(institutions)
    assert 0.25 < share < 0.55
    # a few hubs: the busiest institution is party to many times the median's agreements
    degree = sorted(Counter(p["institution"] for b in agreements for p in b["parties"]).values())
    assert degree[-1] > 5 * degree[len(degree) // 2]
    years = {int(b["signed_on"][:4]) for b in agreements if "signed_on" in b}
    assert min(years) == 2015 and max(years) == 2025
    assert {b["status"] for b in agreements} == set(vocab.AGREEMENT_STATUSES)
    assert len({b["value"]["currency"] for b in agreements if "value" in b}) >= 3


def test_same_seed_same_stream():
    first = list(graph_alliance.alliance(200, seed=3))
    assert first == list(graph_alliance.alliance(200, seed=3))
    assert first != list(graph_alliance.alliance(200, seed=4))


def test_tiny_run_on_sqlite_gives_a_table_of_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_graph, "FLOW_QUERIES", 5)
    monkeypatch.setattr(bench_graph, "GRAPH_QUERIES", 5)
    rows = bench_graph.run_size(2000, tmp_path, backends=("sqlite",))
    by_op = {row[0]: row for row in rows}
    timed = [op for op in by_op if op.endswith(", ms")]
    assert len(timed) == 7
    for op in timed:
        p50, p99 = (float(x) for x in by_op[op][1].split(" / "))
        assert 0 < p50 <= p99
        assert by_op[op][2] == "—"          # no Neo4j in this run
    assert by_op["flows matrix, ms"][3:] == ["p99 < 100 ms", by_op["flows matrix, ms"][4]]
    assert by_op["flows matrix, ms"][4] in ("SQLite yes", "SQLite no")
    found, asked = by_op["pairs with a path"][1].split(" of ")
    assert int(asked) == 5 and 0 <= int(found) <= 5
    assert "records/s" in rows[0][1]
    # a second run reuses the prepared data and the loaded store
    again = {row[0]: row for row in bench_graph.run_size(2000, tmp_path, backends=("sqlite",))}
    assert again[rows[0][0]][1] == "loaded before"
