"""Record bodies as spreadsheet rows: round trips for every kind, escaping, error naming."""
from __future__ import annotations

import pytest

from jembatan.network import tabular
from jembatan.network.envelope import load_body
from jembatan.network.errors import ValidationError
from jembatan.network.ids import KINDS, new_rid

INST = new_rid("n1", "institution")
INST2 = new_rid("n1", "institution")
TECH = new_rid("n1", "technology")
EVENT = new_rid("n1", "event")
AGREEMENT = new_rid("n1", "agreement")

BODIES = {
    "institution": {
        "name": {"en": "Bandung Institute of Technology", "id": "Institut Teknologi Bandung",
                 "zh-Hans": "万隆理工学院"},
        "kind": "university", "country": "ID", "city": "Bandung", "website": "https://www.itb.ac.id",
        "identifiers": {"ror": "00apj8t60", "local": "ITB; main campus"},
        "description": {"en": "A public research university."},
    },
    "technology": {
        "title": {"en": "Solar dryer for cocoa; low cost", "zh-Hans": "可可太阳能干燥机",
                  "th": "เครื่องอบแห้งพลังงานแสงอาทิตย์"},
        "summary": {"en": "Dries beans | evenly\\quickly."},
        "owner": INST, "fields": ["modern_agriculture", "new_energy"],
        "keywords": ["solar; drying", "cocoa|beans", "back\\slash"], "trl": 7,
        "ip": {"status": "granted", "patents": ["CN1234567A", "ID P00201"]},
        "transfer_modes": ["licence", "joint_development"], "stage": "evaluated",
    },
    "demand": {
        "title": {"vi": "Công nghệ xử lý nước thải", "en": "Wastewater treatment"},
        "requester": INST, "fields": ["environment"], "keywords": ["water"], "trl_min": 6,
        "budget": {"amount": "1250000.00", "currency": "USD"}, "deadline": "2026-12-31",
        "countries": ["VN", "CN"],
    },
    "agreement": {
        "kind": "licence", "title": {"en": "Licence of the solar dryer"},
        "parties": [{"institution": INST, "role": "provider"}, {"institution": INST2, "role": "recipient"}],
        "technology": TECH, "event": EVENT, "fields": ["new_energy"], "signed_on": "2025-03-01",
        "value": {"amount": "500000", "currency": "IDR"}, "registration_no": "REG-2025-01",
        "status": "active",
    },
    "endorsement": {
        "agreement": AGREEMENT, "version": 2, "content_hash": "sha256:" + "ab" * 32, "party": INST2,
    },
    "event": {
        "name": {"en": "China–ASEAN Technology Transfer Forum", "zh-Hans": "中国—东盟技术转移论坛"},
        "kind": "forum", "summary": {"en": "Annual forum"}, "starts_on": "2025-09-16",
        "ends_on": "2025-09-18", "country": "CN", "city": "Nanning", "organisers": [INST],
        "participants": [INST, INST2], "technologies": [TECH],
    },
}


def test_every_kind_has_a_sample():
    assert set(BODIES) == set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip(kind):
    body = load_body(kind, BODIES[kind])
    row = tabular.flatten(kind, body)
    assert all(isinstance(v, str) for v in row.values())
    assert tabular.unflatten(kind, row) == body
    assert tabular.load_row(kind, row) == body


@pytest.mark.parametrize("kind", KINDS)
def test_flattened_columns_are_columns_and_ordered(kind):
    row = tabular.flatten(kind, BODIES[kind])
    assert all(tabular.is_column(kind, c) for c in row)
    ordered = tabular.order_columns(kind, row)
    assert sorted(ordered) == sorted(row)
    # the template's fixed columns keep their relative order
    template = [c for c in tabular.columns(kind) if c in row]
    assert [c for c in ordered if c in template] == template


def test_columns_follow_the_schema():
    cols = tabular.columns("technology", languages=("zh-Hans", "en"))
    assert cols[:4] == ["title.zh-Hans", "title.en", "summary.zh-Hans", "summary.en"]
    for name in ("owner", "fields", "keywords", "trl", "ip.status", "ip.patents", "transfer_modes", "stage"):
        assert name in cols
    assert "budget.amount" in tabular.columns("demand") and "budget.currency" in tabular.columns("demand")
    assert "identifiers.ror" in tabular.columns("institution")
    assert "parties" in tabular.columns("agreement")


def test_escaping_of_list_separators():
    row = tabular.flatten("technology", BODIES["technology"])
    assert row["keywords"] == "solar\\; drying;cocoa\\|beans;back\\\\slash"
    assert tabular.unflatten("technology", row)["keywords"] == ["solar; drying", "cocoa|beans", "back\\slash"]
    # multilingual cells are whole cells: nothing to escape
    assert row["title.en"] == "Solar dryer for cocoa; low cost"


def test_parties_cell():
    row = tabular.flatten("agreement", BODIES["agreement"])
    assert row["parties"] == f"{INST}|provider;{INST2}|recipient"
    assert tabular.unflatten("agreement", {"parties": f" {INST} | provider ; {INST2}|recipient;"})["parties"] == [
        {"institution": INST, "role": "provider"}, {"institution": INST2, "role": "recipient"}]


def test_integers_from_spreadsheets():
    base = tabular.flatten("technology", BODIES["technology"])
    assert tabular.load_row("technology", {**base, "trl": "7.0"})["trl"] == 7
    assert tabular.load_row("technology", {**base, "trl": " 5 "})["trl"] == 5


def _errors(kind, row):
    with pytest.raises(ValidationError) as info:
        tabular.load_row(kind, row)
    return {e["field"]: e["detail"] for e in info.value.errors}


def test_errors_name_the_column():
    base = tabular.flatten("technology", BODIES["technology"])
    errs = _errors("technology", {**base, "trl": "seven", "title.en": "x" * 301,
                                  "fields": "ict;no_such_field", "ip.status": "stolen"})
    assert set(errs) == {"trl", "title.en", "fields", "ip.status"}
    assert "seven" in errs["trl"]
    assert errs["fields"].startswith("item 2:")


def test_out_of_range_and_missing():
    base = tabular.flatten("technology", BODIES["technology"])
    assert set(_errors("technology", {**base, "trl": "10"})) == {"trl"}
    assert set(_errors("technology", {**base, "trl": "7.5"})) == {"trl"}
    row = dict(base)
    del row["owner"]
    assert set(_errors("technology", row)) == {"owner"}


def test_bad_parties_item_names_the_column():
    errs = _errors("agreement", {"kind": "licence", "status": "active",
                                 "parties": f"{INST}|provider;{INST2}"})
    assert list(errs) == ["parties"] and "item 2" in errs["parties"]
    errs = _errors("agreement", {"kind": "licence", "status": "active",
                                 "parties": f"{INST}|provider;{INST2}|boss"})
    assert list(errs) == ["parties"] and "item 2" in errs["parties"] and "role" in errs["parties"]


def test_unknown_columns():
    assert not tabular.is_column("technology", "colour")
    assert not tabular.is_column("institution", "identifiers.passport")
    assert not tabular.is_column("technology", "budget.amount")
    assert tabular.is_column("technology", "title.ms")
    with pytest.raises(ValidationError) as info:
        tabular.unflatten("technology", {"colour": "red", "title.en": "x"})
    assert [e["field"] for e in info.value.errors] == ["colour"]


def test_bad_language_tag_names_the_column():
    base = tabular.flatten("technology", BODIES["technology"])
    assert "title.xx-notatag-123456789" in _errors("technology", {**base, "title.xx-notatag-123456789": "x"})


def test_empty_cells_are_omitted():
    body = load_body("demand", BODIES["demand"])
    row = {**tabular.flatten("demand", body), "keywords": "", "deadline": "  ", "countries": ";"}
    loaded = tabular.load_row("demand", row)
    assert "keywords" not in loaded and "deadline" not in loaded and "countries" not in loaded
    assert tabular.flatten("technology", None) == {}
