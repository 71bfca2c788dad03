"""The sync benchmark at a tiny size: two real node processes, the CouchDB-protocol baseline,
and the figures it reports (never their values in time)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

# bench/ is a folder of the repository, not part of the installed package.
ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench import bench_sync  # noqa: E402

N = 300
OWNERS = 50            # the demo generator's floor: max(50, n // 200)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bench-sync")


@pytest.fixture(scope="module")
def result(workdir) -> dict:
    return bench_sync.run_size(N, workdir / "run", data=workdir / "data", repeats=2)


def test_catalogue_is_public_and_names_owners_first(tmp_path):
    owners, techs = bench_sync.catalogue(60, tmp_path)
    first = [json.loads(line) for line in owners.read_text().splitlines()]
    rest = [json.loads(line) for line in techs.read_text().splitlines()]
    assert len(first) == OWNERS and len(rest) == 60
    assert all(r["kind"] == "institution" and r["rid"] for r in first)
    assert all(r["kind"] == "technology" and "rid" not in r for r in rest)
    assert {r["visibility"] for r in first + rest} == {"public"}
    # a second call reuses the files
    assert bench_sync.catalogue(60, tmp_path) == (owners, techs)


def test_every_record_arrives_and_the_figures_are_consistent(result):
    first = result["initial"]
    assert result["technologies"] == N
    assert first["records"] == N + OWNERS
    assert first["rate"] == pytest.approx(first["records"] / first["seconds"])
    # every record crossed the wire once, uncompressed: at least its canonical bytes
    assert first["wire_bytes_per_record"] >= first["envelope_bytes_per_record"] > 500
    assert first["sent_bytes_per_record"] > 0
    # gunicorn master + 2 workers; the sync process (its pool only for large pages)
    assert len(first["rss_processes"]["source"]) == 3
    assert len(first["rss_processes"]["puller"]) >= 1
    assert first["rss_source_mb"] == pytest.approx(sum(first["rss_processes"]["source"]) / 1024)
    assert first["rss_puller_mb"] > 20 and first["rss_source_mb"] > 20


def test_one_change_syncs_alone(result):
    inc = result["incremental"]
    assert len(inc["process_s"]) == len(inc["in_process_s"]) == 2
    assert all(s > 0 for s in inc["process_s"] + inc["in_process_s"])
    # one record and the registry, not the catalogue
    assert 0 < inc["wire_bytes"] < 20 * result["initial"]["envelope_bytes_per_record"]


def test_couch_baseline_ran_on_the_same_records_and_tables_render(result):
    couch = result["couch"]
    assert couch["records"] == result["initial"]["records"]
    # the same records (one of them at a later version)
    assert couch["envelope_bytes_per_record"] == pytest.approx(
        result["initial"]["envelope_bytes_per_record"], rel=0.01)
    text = "\n".join(bench_sync.tables([result]))
    assert "| 300 | records/s |" in text and "Jembatan / CouchDB" in text
    ratio = result["initial"]["rate"] / couch["rate"]
    assert f"{ratio:,.2f}" in text


def test_a_size_without_the_baseline_says_so(result):
    text = "\n".join(bench_sync.tables([{**result, "couch": None}]))
    assert "| 300 | (pouchdb-server not run at this size) |" in text
    assert "| 300 | records/s |" not in text


def test_the_nodes_are_removed_afterwards(result, workdir):
    assert (workdir / "data").is_dir() and not (workdir / "run").exists()
