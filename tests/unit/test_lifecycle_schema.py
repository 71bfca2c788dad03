"""The lifecycle fields of the bodies: a technology's stage history and the transfer modes a
demand accepts, valid and invalid, old records without them, and their spreadsheet cells."""
from __future__ import annotations

import pytest

from jembatan.network import errors, tabular, vocab
from jembatan.network.envelope import load_body
from jembatan.network.ids import new_rid
from jembatan.network.schemas import MAX_STAGE_HISTORY

INST = new_rid("n1", "institution")


def step(stage: str, at: str = "2025-03-01T08:00:00Z", by: str = "Siti") -> dict:
    return {"stage": stage, "at": at, "by": by}


def technology(**over) -> dict:
    body = {"title": {"zh-Hans": "锂电池", "en": "Lithium battery"}, "owner": INST,
            "fields": ["energy_storage"], "trl": 6, "transfer_modes": ["licence"],
            "stage": "evaluated"}
    body.update(over)
    return body


def demand(**over) -> dict:
    body = {"title": {"id": "Baterai"}, "requester": INST, "fields": ["energy_storage"]}
    body.update(over)
    return body


def problems(kind: str, body: dict) -> list[dict]:
    with pytest.raises(errors.ValidationError) as exc:
        load_body(kind, body)
    return exc.value.errors


def test_a_history_loads_as_sent():
    history = [step("registered", "2025-01-02T03:04:05Z", "王伟"),
               step("evaluated", "2025-01-02T03:04:05Z", "  Siti  ")]   # same second: fine
    loaded = load_body("technology", technology(stage_history=history))
    assert loaded["stage_history"] == [step("registered", "2025-01-02T03:04:05Z", "王伟"),
                                       step("evaluated", "2025-01-02T03:04:05Z", "Siti")]


def test_records_without_the_new_fields_stay_valid():
    assert "stage_history" not in load_body("technology", technology())
    assert "transfer_modes" not in load_body("demand", demand())
    # an empty history says nothing, and is accepted as such
    assert load_body("technology", technology(stage_history=[]))["stage_history"] == []


@pytest.mark.parametrize("at", [
    "2025-03-01 08:00:00Z", "2025-03-01T08:00:00", "2025-03-01T08:00:00+07:00",
    "2025-03-01T08:00:00.5Z", "2025-02-30T08:00:00Z", "2025-03-01T24:00:00Z", "20250301T080000Z",
    "", "2025-3-1T08:00:00Z"])
def test_times_must_be_utc_to_the_second(at):
    found = problems("technology", technology(stage_history=[step("evaluated", at)]))
    assert found == [{"field": "body.stage_history.0.at",
                      "detail": "Not a UTC time in the form YYYY-MM-DDTHH:MM:SSZ."}]


@pytest.mark.parametrize("entry, field", [
    ({"stage": "sold", "at": "2025-03-01T08:00:00Z", "by": "Siti"}, "body.stage_history.0.stage"),
    ({"stage": "evaluated", "at": "2025-03-01T08:00:00Z", "by": ""}, "body.stage_history.0.by"),
    ({"stage": "evaluated", "at": "2025-03-01T08:00:00Z", "by": "x" * 101},
     "body.stage_history.0.by"),
    ({"stage": "evaluated", "at": "2025-03-01T08:00:00Z"}, "body.stage_history.0.by"),
    ({"stage": "evaluated", "by": "Siti"}, "body.stage_history.0.at"),
    ({"stage": "evaluated", "at": "2025-03-01T08:00:00Z", "by": "Siti", "note": "?"},
     "body.stage_history.0.note"),
])
def test_bad_entries_are_named(entry, field):
    assert field in {p["field"] for p in problems("technology", technology(stage_history=[entry]))}


def test_times_must_not_go_backwards():
    history = [step("registered", "2025-03-02T00:00:00Z"),
               step("evaluated", "2025-03-01T23:59:59Z")]
    assert problems("technology", technology(stage_history=history)) == [{
        "field": "body.stage_history.1.at",
        "detail": "Must not be before the previous entry's time."}]


def test_the_last_entry_is_the_current_stage():
    history = [step("registered"), step("matched")]
    assert problems("technology", technology(stage_history=history)) == [{
        "field": "body.stage_history.1.stage",
        "detail": "The last entry's stage must be the technology's stage."}]
    # earlier entries may name any stage, including a return to an earlier one
    history = [step("matched"), step("negotiating"), step("matched"), step("evaluated")]
    assert load_body("technology", technology(stage_history=history))["stage_history"] == history


def test_the_history_is_bounded():
    history = [step("evaluated")] * MAX_STAGE_HISTORY
    assert len(load_body("technology", technology(stage_history=history))["stage_history"]) == 100
    found = problems("technology", technology(stage_history=history + [step("evaluated")]))
    assert [p["field"] for p in found] == ["body.stage_history"]


def test_a_demand_names_the_transfer_modes_it_accepts():
    loaded = load_body("demand", demand(transfer_modes=["licence", "technical_service"]))
    assert loaded["transfer_modes"] == ["licence", "technical_service"]
    assert load_body("demand", demand(transfer_modes=list(vocab.TRANSFER_MODES)))


@pytest.mark.parametrize("modes, field", [
    (["licence", "licence"], "body.transfer_modes"),
    (["rent"], "body.transfer_modes.0"),
    ([], "body.transfer_modes"),
    ("licence", "body.transfer_modes"),
])
def test_bad_demand_modes_are_named(modes, field):
    assert [p["field"] for p in problems("demand", demand(transfer_modes=modes))] == [field]


def test_the_new_fields_have_spreadsheet_columns():
    tech = load_body("technology", technology(stage_history=[
        step("registered", "2025-01-02T03:04:05Z", "Tim A|B; C"),
        step("evaluated", "2025-02-03T04:05:06Z", "王伟")]))
    row = tabular.flatten("technology", tech)
    assert row["stage_history"] == ("registered|2025-01-02T03:04:05Z|Tim A\\|B\\; C;"
                                    "evaluated|2025-02-03T04:05:06Z|王伟")
    assert load_body("technology", tabular.unflatten("technology", row)) == tech
    need = load_body("demand", demand(transfer_modes=["equity", "licence"]))
    row = tabular.flatten("demand", need)
    assert row["transfer_modes"] == "equity;licence"
    assert load_body("demand", tabular.unflatten("demand", row)) == need
