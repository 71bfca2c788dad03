"""The matchmaking evaluation set loads, validates against the body schemas and is labelled
consistently (every relevant key exists, enough demands, languages and cross-language pairs)."""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
from marshmallow import ValidationError

# bench/ is a folder of the repository, not part of the installed package.
ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.match_eval import load, title_languages  # noqa: E402
from jembatan.network.ids import new_rid  # noqa: E402
from jembatan.network.schemas import DemandBody, TechnologyBody  # noqa: E402
from jembatan.network.vocab import countries  # noqa: E402

TECHS, DEMANDS = load()
TECH_BY_KEY = {t["key"]: t for t in TECHS}


def _validate(schema, body: dict, ref: str) -> dict:
    body = copy.deepcopy(body)
    body[ref] = new_rid("eval", "institution")
    return schema().load(body)


def test_keys_are_unique():
    keys = [t["key"] for t in TECHS] + [d["key"] for d in DEMANDS]
    assert len(keys) == len(set(keys))


def test_sizes():
    assert len(TECHS) >= 100
    assert len(DEMANDS) >= 200


@pytest.mark.parametrize("tech", TECHS, ids=lambda t: t["key"])
def test_technology_body_validates(tech):
    assert "owner" not in tech["body"]
    loaded = _validate(TechnologyBody, tech["body"], "owner")
    assert loaded["title"]
    assert tech["owner_country"] in countries()


@pytest.mark.parametrize("demand", DEMANDS, ids=lambda d: d["key"])
def test_demand_body_validates(demand):
    assert "requester" not in demand["body"]
    _validate(DemandBody, demand["body"], "requester")
    assert demand["requester_country"] in countries()
    assert 1 <= len(demand["relevant"]) <= 3
    assert len(set(demand["relevant"])) == len(demand["relevant"])
    missing = [k for k in demand["relevant"] if k not in TECH_BY_KEY]
    assert not missing, missing


def test_a_body_without_reference_does_not_validate():
    # The set itself is not schema-complete: the reference must be filled by the caller.
    with pytest.raises(ValidationError) as exc:
        TechnologyBody().load(copy.deepcopy(TECHS[0]["body"]))
    assert "owner" in exc.value.messages


def test_demand_languages():
    langs = {lang for d in DEMANDS for lang in title_languages(d)}
    assert len(langs) >= 5
    assert all(len(title_languages(d)) == 1 for d in DEMANDS)


def test_most_pairs_are_cross_language():
    pairs = [(d, TECH_BY_KEY[k]) for d in DEMANDS for k in d["relevant"]]
    cross = [p for p in pairs if not title_languages(p[0]) & title_languages(p[1])]
    assert len(cross) >= 0.6 * len(pairs)


def test_some_pairs_share_no_field():
    # Text, not the field codes, must carry these matches.
    pairs = [(d, TECH_BY_KEY[k]) for d in DEMANDS for k in d["relevant"]]
    assert any(not set(d["body"]["fields"]) & set(t["body"]["fields"]) for d, t in pairs)
