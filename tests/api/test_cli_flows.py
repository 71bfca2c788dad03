"""`jembatan flows` and `jembatan stats` on a demo node: the administrator's view (every
visibility), the same documents as the API."""
from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from jembatan.api.cli import cli
from jembatan.api.node import load_node
from jembatan.graph import open_store
from jembatan.graph.store import LOCAL


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("cli-flows") / "demo"
    result = CliRunner().invoke(cli, ["demo", "--dir", str(home), "--no-serve"])
    assert result.exit_code == 0, result.output
    return home


@pytest.fixture(scope="module")
def agreements(home) -> list[dict]:
    store = open_store(load_node(home).store_url)
    try:
        return [r.envelope for r in store.iter_all(LOCAL)
                if r.envelope["kind"] == "agreement" and not r.envelope["deleted"]]
    finally:
        store.close()


def run(home, *args: str):
    return CliRunner().invoke(cli, [*args, "--dir", str(home)])


def test_the_flows_csv_sums_to_every_agreement(home, agreements):
    result = run(home, "flows")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert sum(int(r["agreements"]) for r in rows) == len(agreements)
    assert any(a["visibility"] != "public" for a in agreements)   # the admin sees them all


def test_a_pair_year_by_year(home, agreements):
    doc = json.loads(run(home, "flows", "--format", "json").stdout)
    top = doc["corridors"][0]
    series = json.loads(run(home, "flows", "--pair", top["provider"], top["recipient"]).stdout)
    assert sum(y["agreements"] for y in series["series"]) == top["agreements"]


def test_stats_for_a_country_and_period(home, agreements):
    result = run(home, "stats", "--country", "CN", "--from", "2024")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["country"] == "CN" and doc["period"] == {"from": 2024, "to": None}
    signed = [a for a in agreements if a["body"].get("signed_on", "0")[:4] >= "2024"]
    assert 0 < doc["agreements"]["total"] <= len(signed)


@pytest.mark.parametrize("args, hint", [
    (("flows", "--from", "2025", "--to", "2020"), "--from"),
    (("flows", "--pair", "CN", "XX"), "--pair"),
    (("flows", "--field", "alchemy"), "--field"),
    (("stats", "--country", "Atlantis"), "--country"),
])
def test_bad_options_say_which(home, args, hint):
    result = run(home, *args)
    assert result.exit_code == 2 and hint in result.output
