"""The demo alliance generator: valid, deterministic, self-consistent and realistic."""
import re
import types
import uuid
from collections import Counter

import pytest

from jembatan.network import demo, vocab
from jembatan.network.demo_data import cn_patent, data, ror, uscc
from jembatan.network.envelope import content_hash, load_envelope, make_envelope
from jembatan.network.hlc import parse as parse_hlc
from jembatan.network.ids import parse_rid, uuid7


@pytest.fixture(scope="module")
def records():
    return list(demo.generate(1))


def by_kind(records, kind):
    return [e for e in records if e["kind"] == kind]


def references(env):
    """(field, kind, rid) of every reference a record makes to another record."""
    b, kind = env["body"], env["kind"]
    if kind == "technology":
        yield "owner", "institution", b["owner"]
    elif kind == "demand":
        yield "requester", "institution", b["requester"]
    elif kind == "agreement":
        for p in b["parties"]:
            yield "parties", "institution", p["institution"]
        if "technology" in b:
            yield "technology", "technology", b["technology"]
        if "event" in b:
            yield "event", "event", b["event"]
    elif kind == "event":
        for name, ref_kind in (("organisers", "institution"), ("participants", "institution"),
                               ("technologies", "technology")):
            for rid in b.get(name, ()):
                yield name, ref_kind, rid
    elif kind == "endorsement":
        yield "agreement", "agreement", b["agreement"]
        yield "party", "institution", b["party"]


def test_every_envelope_of_scale_1_loads_unchanged(records):
    for env in records:
        assert load_envelope(env) == env, env["rid"]


def test_envelopes_are_what_make_envelope_builds(records):
    for env in records:
        rebuilt = make_envelope(rid=env["rid"], body=env["body"], version=1, hlc=env["hlc"],
                                visibility=env["visibility"])
        assert rebuilt == env
        assert list(rebuilt) == list(env)  # same key order, so the same JSON bytes


def test_a_sample_of_larger_scales_loads_unchanged():
    for i, env in enumerate(demo.generate(12, origin="node-7", seed=5)):
        if i % 97 == 0:
            assert load_envelope(env) == env, env["rid"]
    for i, env in enumerate(demo.technologies(3000)):
        if i % 41 == 0:
            assert load_envelope(env) == env, env["rid"]


def test_same_arguments_give_identical_output_and_others_do_not(records):
    assert list(demo.generate(1)) == records
    assert list(demo.technologies(700)) == list(demo.technologies(700))
    other_seed = list(demo.generate(1, seed=7))
    assert [e["rid"] for e in other_seed] != [e["rid"] for e in records]
    assert [e["body"] for e in other_seed] != [e["body"] for e in records]
    moved = list(demo.generate(1, origin="demo-jakarta", start_ms=1_735_689_600_000))
    assert {e["origin"] for e in moved} == {"demo-jakarta"}
    assert moved[0]["hlc"] == "1735689600000-0000"


def test_counts_match_what_is_generated(records):
    assert demo.counts(1) == dict(Counter(e["kind"] for e in records))
    assert sum(demo.counts(1).values()) == len(records) == 500
    assert sum(demo.counts(2000).values()) == 1_000_000
    assert demo.counts(3) == dict(Counter(e["kind"] for e in demo.generate(3)))
    assert list(demo.counts(1)) == list(dict.fromkeys(e["kind"] for e in records))  # stream order


@pytest.mark.parametrize("n, owners", [(0, 50), (120, 50), (12_000, 60)])
def test_technologies_yields_owners_then_exactly_n_technologies(n, owners):
    kinds = [e["kind"] for e in demo.technologies(n)]
    assert kinds == ["institution"] * owners + ["technology"] * n


def test_generate_streams():
    stream = demo.generate(2000)
    assert isinstance(stream, types.GeneratorType)
    assert next(stream)["kind"] == "institution"  # no 10^6-record list is built first


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True, None])
def test_bad_scale_is_refused(bad):
    with pytest.raises(ValueError, match="scale"):
        demo.counts(bad)
    with pytest.raises(ValueError, match="scale"):
        demo.generate(bad)  # at the call, not at the first record


def test_bad_origin_and_n_are_refused():
    with pytest.raises(ValueError, match="node id"):
        demo.generate(1, origin="Not A Node")
    with pytest.raises(ValueError, match="n must"):
        demo.technologies(-5)
    with pytest.raises(ValueError, match="start_ms"):
        demo.technologies(5, start_ms=-1)


def test_one_origin_increasing_hlc_and_rids_that_carry_it(records):
    assert {e["origin"] for e in records} == {"demo-nanning"}
    stamps = [parse_hlc(e["hlc"]) for e in records]
    assert stamps[0] == (demo.DEFAULT_START_MS, 0)
    assert stamps == sorted(set(stamps))  # strictly increasing
    assert len({e["rid"] for e in records}) == len(records)
    for env, (ms, _) in zip(records, stamps):
        rid = parse_rid(env["rid"])
        assert (rid.origin, rid.kind) == ("demo-nanning", env["kind"])
        u = uuid.UUID(rid.uuid)
        assert u.version == 7 and u.int >> 80 == ms
        # exactly the UUIDv7 that ids.uuid7 builds from that millisecond and random part
        assert uuid7(ms, (u.int & ((1 << 80) - 1)).to_bytes(10, "big")) == rid.uuid
        assert env["version"] == 1 and env["sigs"] == [] and env["deleted"] is False


def test_references_point_to_earlier_records_of_the_right_kind(records):
    seen = {}
    count = 0
    for env in records:
        for field, kind, rid in references(env):
            assert seen.get(rid) == kind, (env["rid"], field, rid)
            count += 1
        seen[env["rid"]] = env["kind"]
    assert count > 800


def test_endorsements_endorse_version_1_of_an_agreement_by_one_of_its_parties(records):
    agreements = {e["rid"]: e for e in by_kind(records, "agreement")}
    endorsements = by_kind(records, "endorsement")
    assert endorsements
    for env in endorsements:
        b = env["body"]
        agreement = agreements[b["agreement"]]
        assert b["version"] == agreement["version"] == 1
        assert b["content_hash"] == content_hash(agreement)
        assert b["party"] in {p["institution"] for p in agreement["body"]["parties"]}
        assert agreement["body"]["status"] != "proposed"


def test_every_country_kind_field_and_enumeration_appears_at_scale_1(records):
    institutions = [e["body"] for e in by_kind(records, "institution")]
    assert {b["country"] for b in institutions} == set(vocab.ALLIANCE_COUNTRIES)
    assert {b["kind"] for b in institutions} == set(vocab.INSTITUTION_KINDS)
    techs = [e["body"] for e in by_kind(records, "technology")]
    assert {c for b in techs for c in b["fields"]} == vocab.field_codes()
    assert {b["stage"] for b in techs} == set(vocab.STAGES)
    assert {m for b in techs for m in b["transfer_modes"]} == set(vocab.TRANSFER_MODES)
    assert {b["ip"]["status"] for b in techs} == set(vocab.IP_STATUSES)
    assert {b["trl"] for b in techs} == set(range(1, 10))
    agreements = [e["body"] for e in by_kind(records, "agreement")]
    assert {b["kind"] for b in agreements} == set(vocab.AGREEMENT_KINDS)
    assert {b["status"] for b in agreements} == set(vocab.AGREEMENT_STATUSES)
    assert {b["kind"] for b in (e["body"] for e in by_kind(records, "event"))} == set(vocab.EVENT_KINDS)
    assert {e["visibility"] for e in records} == set(vocab.VISIBILITIES)


SCRIPTS = {"zh-Hans": r"[\u4e00-\u9fff]", "th": r"[\u0e00-\u0e7f]",
           "vi": r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]",
           "id": r"\b(untuk|dan|dengan|dari|sistem|teknologi|berbasis|tinggi|rendah|cepat|pintar"
                 r"|cerdas|pemantauan|pengolahan|produksi|ekstraksi|bahan|alat|paket|pasar)\b",
           "km": r"[\u1780-\u17ff]", "lo": r"[\u0e80-\u0eff]", "my": r"[\u1000-\u109f]"}


def test_titles_are_written_in_the_owners_languages(records):
    techs = by_kind(records, "technology")
    for lang, script in SCRIPTS.items():
        titles = [e["body"]["title"][lang] for e in techs if lang in e["body"]["title"]]
        assert len(titles) >= (3 if lang in ("km", "lo", "my") else 10), lang
        written = sum(1 for t in titles if re.search(script, t, re.IGNORECASE))
        assert written >= (0.6 if lang == "id" else 0.9) * len(titles), (lang, titles[:5])
    for env in techs:  # a translation, not the English title copied
        title = env["body"]["title"]
        assert all(title[lang] != title["en"] for lang in ("id", "th", "vi", "zh-Hans") if lang in title)
    institutions = {e["rid"]: e["body"] for e in by_kind(records, "institution")}
    own_language = {"TH": "th", "ID": "id", "VN": "vi", "MY": "ms", "KH": "km", "LA": "lo",
                    "MM": "my", "PH": "fil", "SG": "ms", "BN": "ms", "TL": "pt"}
    for env in techs:
        title, owner = env["body"]["title"], institutions[env["body"]["owner"]]
        assert {"zh-Hans", "en"} <= set(title)
        if owner["country"] != "CN":
            assert own_language[owner["country"]] in title, (owner["country"], title)
        assert {"zh-Hans", "en"} <= set(env["body"]["summary"])
    for env in by_kind(records, "demand"):
        requester = institutions[env["body"]["requester"]]
        assert "en" in env["body"]["title"]
        assert own_language.get(requester["country"], "zh-Hans") in env["body"]["title"]


def test_titles_vary(records):
    titles = [e["body"]["title"]["en"] for e in by_kind(records, "technology")]
    assert len(set(titles)) > 0.8 * len(titles)
    titles = [e["body"]["title"]["en"] for e in demo.generate(4) if e["kind"] == "technology"]
    assert len(set(titles)) > 0.6 * len(titles)


def test_the_shape_of_the_alliance(records):
    countries = {e["rid"]: e["body"]["country"] for e in by_kind(records, "institution")}
    techs = Counter(countries[e["body"]["owner"]] for e in by_kind(records, "technology"))
    assert techs.most_common(1)[0][0] == "CN"
    demands = Counter(countries[e["body"]["requester"]] for e in by_kind(records, "demand"))
    assert sum(n for c, n in demands.items() if c != "CN") > 4 * demands["CN"]
    agreements = [e["body"] for e in by_kind(records, "agreement")]
    flows = Counter()
    for b in agreements:
        roles = {p["role"]: countries[p["institution"]] for p in b["parties"]}
        if "recipient" in roles:
            flows["cn-asean" if roles["provider"] == "CN" != roles["recipient"] else
                  "domestic" if roles["provider"] == roles["recipient"] else "other"] += 1
    assert flows["cn-asean"] > flows["domestic"] > 0 and flows["other"] > 0
    assert all("technology" in b for b in agreements if b["kind"] in ("licence", "assignment"))
    assert any("event" in b for b in agreements)
    years = Counter(b["signed_on"][:4] for b in agreements if "signed_on" in b)
    assert set(years) <= {str(y) for y in range(2019, 2026)}
    assert years["2019"] + years["2020"] < years["2024"] + years["2025"]  # growth


def test_visibility_is_mostly_public():
    vis = Counter(e["visibility"] for e in demo.generate(4) if e["kind"] == "technology")
    total = sum(vis.values())
    assert 0.80 < vis["public"] / total < 0.95
    assert 0.05 < vis["alliance"] / total < 0.15
    assert 0.005 < vis["private"] / total < 0.06


def test_money_respects_the_currency_and_its_minor_units(records):
    bodies = [e["body"] for e in by_kind(records, "demand")]
    currencies = {b["budget"]["currency"] for b in bodies}
    assert {"IDR", "THB", "VND"} <= currencies
    for b in bodies:
        digits = vocab.currency_digits(b["budget"]["currency"])
        whole, _, fraction = b["budget"]["amount"].partition(".")
        assert len(fraction) == digits and whole.isdigit()


def test_identifiers_look_like_the_real_thing(records):
    ids = [e["body"].get("identifiers", {}) for e in by_kind(records, "institution")]
    usccs = [i["uscc"] for i in ids if "uscc" in i]
    rors = [i["ror"] for i in ids if "ror" in i]
    assert usccs and rors
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    for code in usccs + [uscc("450100", n) for n in range(0, 10**9, 7_654_321)]:
        assert len(code) == 18 and code.startswith("91")
        check = (31 - sum(chars.index(c) * w for c, w in zip(code, weights)) % 31) % 31
        assert code[-1] == chars[check]
    crockford = "0123456789abcdefghjkmnpqrstvwxyz"
    for code in rors + [ror(n) for n in range(0, 2**30, 99_991)]:
        assert re.fullmatch(r"0[0-9a-hjkmnp-tv-z]{6}\d{2}", code)
        value = 0
        for ch in code[1:7]:
            value = value * 32 + crockford.index(ch)
        assert int(code[7:]) == 98 - (value * 100) % 97
    assert cn_patent(2023, 1, 123456) == "CN202310123456.6"
    for e in by_kind(records, "institution"):
        assert re.fullmatch(r"https://www\.[a-z0-9.-]+\.example", e["body"]["website"])


def test_word_lists_cover_the_vocabulary():
    d = data()
    assert {f.code for f in d.fields} == vocab.field_codes()
    for f in d.fields:
        assert len(f.cores) >= 6, f.code
        for core in f.cores:
            assert {"zh-Hans", "en", "id", "th", "vi", "ms"} <= set(core), (f.code, core["en"])
        for lang in ("km", "lo", "my", "fil", "pt"):
            assert len(f.by_lang[lang]) >= 2, (f.code, lang)
    assert [c.code for c in d.countries] == list(vocab.ALLIANCE_COUNTRIES)
