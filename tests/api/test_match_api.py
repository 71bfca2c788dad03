"""GET /api/v1/match and `jembatan match`: ranked matches with reasons, errors that name
the field, and what each reader may see."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from apikit import body
from jembatan.api.cli import cli


@pytest.fixture
def records(node):
    cn = node.created("institution", body("institution", name={"zh-Hans": "广西大学"}, country="CN"))
    th = node.created("institution", {**body("institution", name={"th": "บริษัทรีไซเคิล"},
                                             country="TH"), "kind": "enterprise"})
    recycling = node.created("technology", body(
        "technology", title={"zh-Hans": "退役动力电池回收利用技术"}, owner=cn["rid"],
        fields=["energy_storage"], keywords=["电池回收"], trl=7))
    solar = node.created("technology", body("technology", owner=cn["rid"]))
    demand = node.created("demand", body(
        "demand", title={"en": "Battery recycling for used scooter packs"}, requester=th["rid"],
        fields=["energy_storage"], trl_min=5, countries=["CN"]))
    private = node.created("demand", body("demand", requester=th["rid"]), visibility="private")
    return {"cn": cn, "th": th, "recycling": recycling, "solar": solar, "demand": demand,
            "private": private}


def test_technologies_for_a_demand(node, records):
    resp = node.client.get("/api/v1/match", query_string={"demand": records["demand"]["rid"],
                                                          "lang": "zh-Hans"})
    assert resp.status_code == 200
    doc = resp.get_json()
    assert doc["for"] == {"rid": records["demand"]["rid"], "kind": "demand"}
    assert doc["encoder"] == "tfidf"
    top = doc["results"][0]
    assert top["rid"] == records["recycling"]["rid"]
    assert top["title"] == {"zh-Hans": "退役动力电池回收利用技术"}
    assert top["party"] == records["cn"]["rid"]
    assert set(top["signals"]) == {"text", "concepts", "fields", "trl", "modes", "geography", "graph"}
    labels = {c["id"]: c["label"] for c in top["reasons"]["concepts"]}
    assert labels["energy_storage/kw4"] == "电池回收"
    assert records["solar"]["rid"] not in [r["rid"] for r in doc["results"]]


def test_demands_for_a_technology_and_the_limit(node, records):
    doc = node.client.get("/api/v1/match", query_string={
        "technology": records["recycling"]["rid"], "limit": 1}).get_json()
    assert doc["kind"] == "demand"
    assert [r["rid"] for r in doc["results"]] == [records["demand"]["rid"]]


@pytest.mark.parametrize("params, field", [
    ({}, "demand"),
    ({"demand": "x"}, "demand"),
    ({"demand": "urn:jembatan:n:technology:0190a5b0-0000-7000-8000-000000000003"}, "demand"),
    ({"limit": "0", "technology": "urn:jembatan:n:technology:0190a5b0-0000-7000-8000-000000000003"},
     "limit"),
    ({"lang": "xx", "technology": "urn:jembatan:n:technology:0190a5b0-0000-7000-8000-000000000003"},
     "lang"),
    ({"colour": "red"}, "colour"),
])
def test_bad_arguments_name_the_field(node, records, params, field):
    before = node.snapshot()
    resp = node.client.get("/api/v1/match", query_string=params)
    assert resp.status_code in (400, 422)
    assert resp.mimetype == "application/problem+json"
    problem = resp.get_json()
    assert field in json.dumps(problem.get("errors", problem))
    assert node.snapshot() == before


def test_both_sides_at_once_are_refused(node, records):
    resp = node.client.get("/api/v1/match", query_string={
        "demand": records["demand"]["rid"], "technology": records["recycling"]["rid"]})
    assert resp.status_code in (400, 422)
    assert "demand" in json.dumps(resp.get_json())


def test_a_private_demand_is_matched_for_the_node_only(node, records):
    rid = records["private"]["rid"]
    assert node.client.get("/api/v1/match", query_string={"demand": rid}).status_code == 404
    resp = node.client.get("/api/v1/match", query_string={"demand": rid},
                           headers=node.headers("viewer"))
    assert resp.status_code == 200


def test_the_cli_lists_matches_with_reasons(node, records):
    runner = CliRunner()
    result = runner.invoke(cli, ["match", records["demand"]["rid"], "--dir", str(node.home)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("  1.") and records["recycling"]["rid"] in lines[0]
    assert "battery recycling" in lines[1] and "energy_storage" in lines[1]
    as_json = runner.invoke(cli, ["match", records["demand"]["rid"], "--json", "--limit", "1",
                                  "--dir", str(node.home)])
    assert json.loads(as_json.output)["results"][0]["rid"] == records["recycling"]["rid"]
    bad = runner.invoke(cli, ["match", records["cn"]["rid"], "--dir", str(node.home)])
    assert bad.exit_code == 1 and "technology or a demand" in bad.output
