"""Which cells a tally query reads: the coarsest rollup that keeps every dimension it names."""
import pytest

from jembatan.graph import tallies
from jembatan.graph.tallies import Info


@pytest.mark.parametrize("measure, group, where, years, distinct, planned", [
    ("flow", ("c1", "c2", "currency"), {"field": ""}, None, None, "flow/k1-k2-k3-year"),
    ("flow", ("year", "currency"), {"field": "", "c1": "CN", "c2": "TH"}, None, None, "flow/k1-k2-k3"),
    ("flow", ("c1", "c2"), {"field": "ict"}, (2020, 2024), None, "flow/k1-k2-k3"),
    ("flow", ("c1", "c2"), {"field": "", "k1": "licence"}, (2015, 2020), None, "flow/k2-k3"),
    ("flow", ("c1", "c2"), {"field": "", "k2": "university"}, None, None, "flow"),
    ("flow", ("c1", "k3"), {}, None, None, "flow"),
    ("technology", ("field",), {"c1": "VN"}, None, None, "technology/k1-k2"),
    ("technology", ("k1", "k2"), {"field": ""}, None, None, "technology"),
    ("agreement", ("k1",), {"c1": "*"}, None, None, "agreement/year"),
    ("agreement", ("k1",), {"c1": "*"}, (2020, 2021), None, "agreement"),
    ("served", (), {}, None, "k1", "served/year"),
    ("served", (), {"c1": "TH"}, (2020, 2021), "k1", "served"),
    ("member", ("c1", "k1"), {}, None, None, "member"),
])
def test_a_query_reads_the_coarsest_rollup_that_keeps_what_it_names(measure, group, where, years,
                                                                     distinct, planned):
    assert tallies.plan(measure, group, where, years, distinct)[0] == planned


def test_a_measure_without_fields_is_read_at_field_blank():
    assert tallies.plan("agreement", ("k1",), {"c1": "TH"}, None, None)[1] == {"c1": "TH", "field": ""}
    assert tallies.plan("flow", ("c1",), {}, None, None)[1] == {}


def test_a_rollup_cell_is_its_cell_with_dimensions_blanked():
    fact = ("agreement", "licence", "active", 2024, ("ict",), "USD", 1000,
            (("a", "provider"), ("b", "recipient")), False)
    info = {"a": Info("public", "CN", "university"), "b": Info("public", "TH", "enterprise")}.get
    keys = [key for key, _ in tallies.cells(fact, "public", info) if key[0] == "public"]
    flows = [k for k in keys if k[1].startswith("flow")]
    assert ("public", "flow", "CN", "TH", "licence", "university", "enterprise", 2024, "ict", "USD") in flows
    assert ("public", "flow/k1-k2-k3", "CN", "TH", "", "", "", 2024, "ict", "USD") in flows
    assert ("public", "flow/k1-k2-k3-year", "CN", "TH", "", "", "", 0, "", "USD") in flows
    assert ("public", "flow/k2-k3", "CN", "TH", "licence", "", "", 2024, "", "USD") in flows
    assert len(flows) == 8          # field "" and "ict", each at four grains
    assert ("public", "served/year", "TH", "", "b", "", "", 0, "", "") in keys
