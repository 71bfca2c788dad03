"""The CouchDB-protocol baseline of the sync benchmark, on a few demo records through two real
pouchdb-server processes (installed by `make couch`, which `make test` runs)."""
from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import pytest

# bench/ is a folder of the repository, not part of the installed package.
ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench import couch  # noqa: E402
from jembatan.network import demo  # noqa: E402
from jembatan.network.envelope import canonical_bytes  # noqa: E402



def _servers_under(path: Path) -> list[int]:
    """Pids of live processes whose command line names ``path``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(path).encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return [p for p in pids if p != os.getpid()]


def test_document_is_the_envelope_keyed_by_its_rid():
    env = next(demo.technologies(1))
    doc = couch.as_document(env)
    assert doc["_id"] == env["rid"]
    assert {k: v for k, v in doc.items() if k != "_id"} == env


def test_envelope_without_rid_is_refused():
    with pytest.raises(ValueError, match="rid"):
        couch.as_document({"kind": "technology"})


@pytest.mark.parametrize("n", [0, -1, True, 2.0])
def test_bad_n_is_refused_before_anything_starts(n, tmp_path):
    with pytest.raises(ValueError, match="n must be"):
        couch.couch_replicate(iter(()), n=n, workdir=tmp_path)
    assert not any(tmp_path.iterdir())


def test_replicates_every_record_and_reports_the_figures(tmp_path):
    n = 60
    envelopes = list(itertools.islice(demo.technologies(n), n))
    result = couch.couch_replicate(iter(envelopes), n=n, workdir=tmp_path)
    assert result["records"] == n
    assert result["seconds"] > 0 and result["rate"] == pytest.approx(n / result["seconds"])
    expected = sum(len(canonical_bytes(e)) for e in envelopes) / n
    assert result["envelope_bytes_per_record"] == pytest.approx(expected)
    # Every document crossed the wire, compressed at most about fourfold.
    assert result["wire_bytes_per_record"] > expected / 4
    assert result["rss_mb"]["source"] > 10 and result["rss_mb"]["target"] > 10
    assert result["rss_mb"]["since"] in {"replication", "start"}
    assert _servers_under(tmp_path) == []


def test_too_few_envelopes_is_an_error_and_stops_the_servers(tmp_path):
    with pytest.raises(ValueError, match="5 records asked for, only 3 given"):
        couch.couch_replicate(itertools.islice(demo.technologies(3), 3), n=5, workdir=tmp_path)
    assert _servers_under(tmp_path) == []
