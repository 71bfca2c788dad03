"""Country flows and statistics over the REST API, on the demo alliance, checked against
counts made here from the envelopes the node holds."""
from __future__ import annotations

import csv
import io
from collections import Counter
from decimal import Decimal

import pytest
from apikit import NODE_ID

from jembatan.graph.store import LOCAL, PUBLIC
from jembatan.network import demo


@pytest.fixture
def alliance(node):
    node.store.apply(list(demo.generate(1, origin=NODE_ID)), trusted=True)
    return node


def held(node, kind: str, scope) -> list[dict]:
    return [r.envelope for r in node.store.iter_all(scope)
            if r.envelope["kind"] == kind and not r.envelope["deleted"]]


def year(env: dict) -> int | None:
    signed = env["body"].get("signed_on")
    return int(signed[:4]) if signed else None


@pytest.mark.parametrize("role, scope", [(None, PUBLIC), ("viewer", LOCAL)])
def test_the_matrix_sums_to_the_agreements(alliance, role, scope):
    doc = alliance.client.get("/api/v1/flows", headers=alliance.headers(role)).get_json()
    agreements = held(alliance, "agreement", scope)
    assert doc["totals"]["agreements"] == len(agreements) > 0
    assert sum(c["agreements"] for c in doc["matrix"]) == len(agreements)
    per_currency = Counter()
    for env in agreements:
        if "value" in env["body"]:
            per_currency[env["body"]["value"]["currency"]] += Decimal(env["body"]["value"]["amount"])
    assert {v["currency"]: Decimal(v["amount"]) for v in doc["totals"]["values"]} == per_currency
    assert doc["countries"]["CN"] == "China"
    top = doc["corridors"]
    assert len(top) == 10 and [c["agreements"] for c in top] == sorted(
        (c["agreements"] for c in top), reverse=True)


@pytest.mark.parametrize("how", [{"query_string": {"format": "csv"}},
                                 {"headers": {"Accept": "text/csv"}}])
def test_the_csv_sums_to_the_agreements(alliance, how):
    resp = alliance.client.get("/api/v1/flows", **how)
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert sum(int(r["agreements"]) for r in rows) == len(held(alliance, "agreement", PUBLIC))
    assert rows[0].keys() >= {"provider", "provider_name", "recipient", "recipient_name", "agreements"}
    json_doc = alliance.client.get("/api/v1/flows").get_json()
    for value in json_doc["totals"]["values"]:
        column = f"value_{value['currency']}"
        assert sum(Decimal(r[column]) for r in rows if r[column]) == Decimal(value["amount"])


def test_filters_narrow_the_matrix(alliance):
    agreements = held(alliance, "agreement", PUBLIC)
    kinds = {e["rid"]: e["body"]["kind"] for e in held(alliance, "institution", PUBLIC)}

    def total(**params) -> int:
        doc = alliance.client.get("/api/v1/flows", query_string=params).get_json()
        return doc["totals"]["agreements"]

    assert total(**{"from": 2023, "to": 2024}) == sum(
        1 for e in agreements if year(e) is not None and 2023 <= year(e) <= 2024)
    assert total(kind="licence") == sum(1 for e in agreements if e["body"]["kind"] == "licence")
    assert total(field="modern_agriculture") == sum(
        1 for e in agreements if "modern_agriculture" in e["body"].get("fields", ()))
    first_recipient = lambda e: next(p["institution"] for p in e["body"]["parties"]  # noqa: E731
                                     if p["role"] == "recipient")
    directed = [e for e in agreements if any(p["role"] == "provider" for p in e["body"]["parties"])
                and any(p["role"] == "recipient" for p in e["body"]["parties"])]
    assert total(kind="licence", recipient_kind="enterprise") == sum(
        1 for e in directed if e["body"]["kind"] == "licence"
        and kinds.get(first_recipient(e)) == "enterprise")


def test_a_pairs_series_adds_up_to_its_cell(alliance):
    doc = alliance.client.get("/api/v1/flows").get_json()
    cell = doc["corridors"][0]
    series = alliance.client.get("/api/v1/flows/series", query_string={
        "provider": cell["provider"], "recipient": cell["recipient"]}).get_json()
    assert sum(y["agreements"] for y in series["series"]) == cell["agreements"]
    years = [y["year"] for y in series["series"] if y["year"] is not None]
    assert years == sorted(years)


def test_stats_match_the_records(alliance):
    doc = alliance.client.get("/api/v1/stats", headers=alliance.headers("viewer")).get_json()
    institutions = held(alliance, "institution", LOCAL)
    assert doc["members"]["total"] == len(institutions)
    assert doc["members"]["by_country"] == dict(sorted(Counter(
        e["body"]["country"] for e in institutions).items()))
    techs = held(alliance, "technology", LOCAL)
    assert doc["technologies"]["total"] == len(techs)
    assert doc["technologies"]["by_trl"] == {str(k): v for k, v in sorted(
        Counter(e["body"]["trl"] for e in techs).items())}
    events = held(alliance, "event", LOCAL)
    assert doc["events"]["total"] == len(events)
    agreements = held(alliance, "agreement", LOCAL)
    assert doc["events"]["agreements_signed"] == sum(1 for e in agreements if e["body"].get("event"))
    enterprises = {e["rid"] for e in institutions if e["body"]["kind"] == "enterprise"}
    served = {p["institution"] for e in agreements for p in e["body"]["parties"]} & enterprises
    served |= {r for e in events for r in e["body"].get("participants", ())} & enterprises
    assert doc["enterprises_served"] == len(served)


def test_stats_for_a_country_and_period(alliance):
    doc = alliance.client.get("/api/v1/stats", headers=alliance.headers("viewer"),
                              query_string={"country": "TH", "from": 2024, "to": 2025}).get_json()
    institutions = {e["rid"]: e["body"] for e in held(alliance, "institution", LOCAL)}
    agreements = [e for e in held(alliance, "agreement", LOCAL)
                  if year(e) is not None and 2024 <= year(e) <= 2025
                  and any(institutions[p["institution"]]["country"] == "TH" for p in e["body"]["parties"])]
    assert doc["country"] == "TH" and doc["period"] == {"from": 2024, "to": 2025}
    assert doc["agreements"]["total"] == len(agreements)
    assert doc["agreements"]["by_kind"] == dict(sorted(Counter(e["body"]["kind"] for e in agreements).items()))
    assert doc["members"]["total"] == sum(1 for b in institutions.values() if b["country"] == "TH")


@pytest.mark.parametrize("path, params, field", [
    ("/api/v1/flows", {"from": 2025, "to": 2020}, "from"),
    ("/api/v1/flows", {"field": "astrology"}, "field"),
    ("/api/v1/flows", {"kind": "marriage"}, "kind"),
    ("/api/v1/flows", {"format": "xlsx"}, "format"),
    ("/api/v1/flows", {"top": 100000}, "top"),
    ("/api/v1/flows", {"colour": "red"}, "colour"),
    ("/api/v1/flows/series", {"provider": "CN"}, "recipient"),
    ("/api/v1/flows/series", {"provider": "XX", "recipient": "TH"}, "provider"),
    ("/api/v1/stats", {"country": "Atlantis"}, "country"),
    ("/api/v1/stats", {"from": "last year"}, "from"),
])
def test_bad_filters_are_refused_naming_the_field(alliance, path, params, field):
    resp = alliance.client.get(path, query_string=params)
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert field in {e["field"] for e in resp.get_json()["errors"]}
