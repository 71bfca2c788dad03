import pytest
from marshmallow import ValidationError

from jembatan.network.text import MultilingualText, canonical_tag


@pytest.mark.parametrize("tag,canon", [
    ("zh-Hans", "zh-Hans"), ("zh-hans", "zh-Hans"), ("ZH-hant-TW", "zh-Hant-TW"),
    ("en", "en"), ("in", "id"), ("tl", "fil"), ("th", "th"), ("my", "my"),
])
def test_canonical_tags(tag, canon):
    assert canonical_tag(tag) == canon


@pytest.mark.parametrize("tag", ["en_US", "en--us", "zz", "123", "x-private", "", "e", "english-language"])
def test_bad_tags(tag):
    assert canonical_tag(tag) is None


def load(value, **kw):
    return MultilingualText(**kw).deserialize(value)


def test_nfc_and_trim():
    # "é" as e + combining acute becomes one code point
    assert load({"vi": "  Ca\u0301 tra  "}) == {"vi": "C\u00e1 tra"}


def test_empty_values_dropped_but_one_required():
    assert load({"en": "x", "th": "   "}) == {"en": "x"}
    with pytest.raises(ValidationError):
        load({"en": "  "})
    with pytest.raises(ValidationError):
        load({})


def test_limits_and_types():
    with pytest.raises(ValidationError) as exc:
        load({"en": "x" * 301})
    assert "en" in exc.value.messages
    with pytest.raises(ValidationError):
        load({"en": 5})
    with pytest.raises(ValidationError):
        load("just a string")
    with pytest.raises(ValidationError):
        load({"en": "a\u0000b"})
    with pytest.raises(ValidationError) as exc:
        load({"en": "a", "EN": "b"})
    assert "EN" in exc.value.messages
