"""The body schemas: every rule the issue names, each shown to reject what it must."""
import pytest

from jembatan.network import errors, vocab
from jembatan.network.envelope import load_body
from jembatan.network.ids import new_rid

INST = new_rid("n1", "institution")
INST2 = new_rid("n1", "institution")
TECH = new_rid("n1", "technology")


def technology(**over):
    body = {"title": {"zh-Hans": "锂电池", "en": "Lithium battery"}, "owner": INST,
            "fields": ["energy_storage"], "trl": 6, "transfer_modes": ["licence"],
            "stage": "registered"}
    body.update(over)
    return body


def fields_of(exc):
    return {e["field"] for e in exc.value.errors}


def test_valid_bodies_of_every_kind_load():
    assert load_body("technology", technology())["trl"] == 6
    assert load_body("institution", {"name": {"en": "Guangxi University"}, "kind": "university",
                                     "country": "CN", "website": "https://gxu.example.cn",
                                     "identifiers": {"ror": "02c9qn167"}})
    demand = load_body("demand", {"title": {"id": "Baterai"}, "requester": INST, "fields": ["energy_storage"],
                                  "budget": {"amount": "1500000", "currency": "IDR"}, "trl_min": 5,
                                  "deadline": "2026-12-31", "countries": ["CN", "TH"]})
    assert demand["budget"] == {"amount": "1500000.00", "currency": "IDR"}  # CLDR: 2 digits
    assert load_body("agreement", {"kind": "licence", "status": "active", "technology": TECH,
                                   "parties": [{"institution": INST, "role": "provider"},
                                               {"institution": INST2, "role": "recipient"}],
                                   "value": {"amount": 120000.5 if False else "120000.50", "currency": "CNY"}})
    assert load_body("event", {"name": {"en": "Roadshow"}, "kind": "roadshow", "starts_on": "2025-09-16",
                               "ends_on": "2025-09-17", "country": "CN", "participants": [INST]})
    assert load_body("endorsement", {"agreement": new_rid("n1", "agreement"), "version": 1,
                                     "content_hash": "sha256:" + "a" * 64, "party": INST})


@pytest.mark.parametrize("kind,body,field", [
    ("technology", technology(colour="red"), "body.colour"),                       # unknown field
    ("technology", technology(trl=10), "body.trl"),
    ("technology", technology(trl=0), "body.trl"),
    ("technology", technology(trl="6"), "body.trl"),                               # strings are not ints
    ("technology", technology(fields=["astrology"]), "body.fields.0"),
    ("technology", technology(fields=[]), "body.fields"),
    ("technology", technology(fields=["ict", "ict"]), "body.fields"),
    ("technology", technology(owner="urn:jembatan:n1:institution:not-a-uuid"), "body.owner"),
    ("technology", technology(owner=TECH), "body.owner"),                          # wrong kind of reference
    ("technology", technology(title={"en_US": "x"}), "body.title.en_US"),
    ("technology", technology(title={"en": ""}), "body.title"),
    ("technology", technology(stage="sold"), "body.stage"),
    ("institution", {"name": {"en": "X"}, "kind": "university", "country": "XX"}, "body.country"),
    ("institution", {"name": {"en": "X"}, "kind": "university", "country": "EU"}, "body.country"),
    ("institution", {"name": {"en": "X"}, "kind": "university", "country": "CN",
                     "website": "ftp://x.example"}, "body.website"),
    ("demand", {"title": {"en": "x"}, "requester": INST, "fields": ["ict"],
                "budget": {"amount": "10", "currency": "ABC"}}, "body.budget.currency"),
    ("demand", {"title": {"en": "x"}, "requester": INST, "fields": ["ict"],
                "budget": {"amount": "10.5", "currency": "VND"}}, "body.budget.amount"),   # VND has 0 digits
    ("demand", {"title": {"en": "x"}, "requester": INST, "fields": ["ict"],
                "budget": {"amount": "-1", "currency": "CNY"}}, "body.budget.amount"),
    ("demand", {"title": {"en": "x"}, "requester": INST, "fields": ["ict"],
                "deadline": "2026-02-30"}, "body.deadline"),
    ("agreement", {"kind": "licence", "status": "active",
                   "parties": [{"institution": INST, "role": "provider"}]}, "body.parties"),
    ("agreement", {"kind": "licence", "status": "active",
                   "parties": [{"institution": INST, "role": "provider"},
                               {"institution": INST, "role": "recipient"}]}, "body.parties"),
    ("event", {"name": {"en": "E"}, "kind": "forum", "starts_on": "2025-09-17",
               "ends_on": "2025-09-16", "country": "CN"}, "body.ends_on"),
])
def test_invalid_bodies_name_the_field(kind, body, field):
    with pytest.raises(errors.ValidationError) as exc:
        load_body(kind, body)
    assert field in fields_of(exc), exc.value.errors


def test_every_alliance_country_and_currency_known_to_cldr():
    assert set(vocab.ALLIANCE_COUNTRIES) <= vocab.countries()
    for code in ("CNY", "IDR", "THB", "VND", "MYR", "PHP", "SGD", "KHR", "LAK", "MMK", "BND", "USD"):
        assert code in vocab.currencies()


def test_field_vocabulary_translated_into_every_ui_locale():
    fields = vocab.fields()
    assert len(fields) >= 20
    for needed in ("modern_agriculture", "new_energy", "ict", "integrated_circuits", "biomedicine",
                   "environment", "advanced_manufacturing", "new_materials", "marine"):
        assert needed in fields
    for code, entry in fields.items():
        assert set(entry["labels"]) == set(vocab.UI_LOCALES), code
        assert all(label.strip() for label in entry["labels"].values()), code


def test_trl_scale_has_nine_defined_levels():
    levels = vocab.trl_levels()
    assert sorted(levels) == list(range(1, 10))
    for lv in levels.values():
        assert set(lv["definitions"]) == set(vocab.UI_LOCALES)
