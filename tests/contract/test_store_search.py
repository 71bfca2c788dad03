"""search: every script the alliance writes in, safe query handling, ranking, pagination."""
import dataclasses

import pytest

from jembatan.graph.store import LOCAL, RecordQuery
from jembatan.network import errors


def found(store, text, **kw):
    kw.setdefault("scope", LOCAL)
    kw.setdefault("limit", 500)
    return [r.rid for r in store.search(text, RecordQuery(**kw)).items]


@pytest.fixture
def corpus(store, rec):
    owner = rec.institution(names={"en": "Guangxi University", "zh-Hans": "广西大学"},
                            city="Nanning", identifiers={"uscc": "12450000498598035C"})
    battery = rec.technology({"zh-Hans": "高能量密度锂电池", "id": "Baterai litium berdensitas tinggi",
                              "en": "High energy density lithium battery"}, owner=owner["rid"],
                             keywords=["LiFePO4", "储能"])
    solar = rec.technology({"th": "ระบบกักเก็บพลังงานแสงอาทิตย์", "vi": "Hệ thống lưu trữ năng lượng mặt trời",
                            "km": "ប្រព័ន្ធផ្ទុកថាមពលព្រះអាទិត្យ", "lo": "ລະບົບເກັບຮັກສາພະລັງງານແສງຕາເວັນ",
                            "my": "နေရောင်ခြည်စွမ်းအင်သိုလှောင်စနစ်", "en": "Solar energy storage"},
                           owner=owner["rid"], summary={"id": "Baterai surya untuk desa terpencil"})
    rice = rec.technology({"en": "Rice dryer", "id": "Pengering padi"}, owner=owner["rid"],
                          summary={"en": "Dries rice with biomass heat"}, ip={"status": "granted",
                                                                             "patents": ["CN202310001234.5"]})
    store.apply([owner, battery, solar, rice])
    return {"owner": owner["rid"], "battery": battery["rid"], "solar": solar["rid"], "rice": rice["rid"]}


def test_chinese_substrings(store, corpus):
    assert found(store, "电池") == [corpus["battery"]]
    assert found(store, "能量密度") == [corpus["battery"]]
    assert found(store, "锂电池") == [corpus["battery"]]
    assert found(store, "锂") == [corpus["battery"]]          # one character, inside the run
    assert found(store, "池") == [corpus["battery"]]          # one character, at the run's end
    assert found(store, "广西") == [corpus["owner"]]
    assert found(store, "电能") == []                          # both characters occur, not together
    assert found(store, "池高") == []                          # not across the end of the text


def test_thai_word_inside_unsegmented_text(store, corpus):
    assert found(store, "พลังงาน") == [corpus["solar"]]
    assert found(store, "แสงอาทิตย์") == [corpus["solar"]]
    assert found(store, "พลังน้ำ") == []


def test_khmer_lao_burmese(store, corpus):
    assert found(store, "ថាមពល") == [corpus["solar"]]
    assert found(store, "ພະລັງງານ") == [corpus["solar"]]
    assert found(store, "စွမ်းအင်") == [corpus["solar"]]


def test_latin_words_ignore_case_and_accents(store, corpus):
    assert found(store, "baterai") == [corpus["battery"], corpus["solar"]]  # title first
    assert found(store, "BATERAI litium") == [corpus["battery"]]
    assert found(store, "năng lượng") == [corpus["solar"]]
    assert found(store, "nang luong") == [corpus["solar"]]
    assert found(store, "NĂNG LƯỢNG MẶT TRỜI") == [corpus["solar"]]
    assert found(store, "padi") == [corpus["rice"]]


def test_words_that_must_not_match(store, corpus):
    assert found(store, "lithiu") == []       # words, not prefixes
    assert found(store, "bater") == []
    assert found(store, "baterai kopi") == []  # every term is required
    assert found(store, "nangka") == []


def test_other_searchable_fields(store, corpus):
    assert found(store, "lifepo4") == [corpus["battery"]]                  # keyword
    assert found(store, "储能") == [corpus["battery"]]                      # keyword in Chinese
    assert found(store, "biomass") == [corpus["rice"]]                     # summary
    assert found(store, "nanning") == [corpus["owner"]]                     # city
    assert found(store, "12450000498598035C") == [corpus["owner"]]         # identifier
    assert found(store, "CN202310001234.5") == [corpus["rice"]]            # patent number


@pytest.mark.parametrize("text", [
    '"baterai"', "baterai*", "^baterai", "(baterai)", "baterai)", "((", '"', "'", "*", "^",
    "NEAR(baterai litium)", "baterai OR kopi", "baterai AND", "NOT baterai", "title:baterai",
    "baterai; DROP TABLE records; --", "\\", "{baterai}", "baterai + litium", "- baterai",
    "\x00baterai", "a\"b", "电池*", "%", "_",
])
def test_query_syntax_is_just_text(store, corpus, text):
    result = found(store, text)   # never an error
    assert set(result) <= {corpus["battery"], corpus["solar"]}
    assert store.counts()["technology"] == 3


def test_syntax_around_a_word_still_finds_it(store, corpus):
    for text in ('"baterai"', "baterai*", "(baterai)", "^baterai", "{baterai}"):
        assert corpus["battery"] in found(store, text)


@pytest.mark.parametrize("text", ["", "   ", "!!!", "()", '""', "。，", "\u200b"])
def test_empty_queries_give_an_empty_page(store, corpus, text):
    page = store.search(text, RecordQuery(scope=LOCAL))
    assert page.items == [] and page.next_cursor is None


def test_title_ranks_above_summary(store, rec):
    owner = rec.institution()
    in_summary = rec.technology("Cooling unit", owner=owner["rid"], summary={"en": "Uses a heat pump"})
    in_title = rec.technology("Heat pump", owner=owner["rid"])
    store.apply([owner, in_title, in_summary])
    assert found(store, "heat pump") == [in_title["rid"], in_summary["rid"]]


def test_search_filters_and_scope(store, rec, corpus):
    assert found(store, "guangxi", kinds=("technology",)) == []
    assert found(store, "guangxi", kinds=("institution",)) == [corpus["owner"]]
    hidden = rec.technology("Secret battery", owner=corpus["owner"], visibility="private")
    store.apply([hidden])
    assert found(store, "secret") == [hidden["rid"]]
    assert found(store, "secret", scope=frozenset({"public"})) == []
    assert found(store, "battery", trl_min=9) == []


def test_updates_replace_the_text(store, rec):
    owner = rec.institution()
    tech = rec.technology("Cassava starch", owner=owner["rid"])
    store.apply([owner, tech])
    store.apply([rec.update(tech, title={"en": "Sago flour"})])
    assert found(store, "cassava") == []
    assert found(store, "sago") == [tech["rid"]]
    store.apply([rec.tombstone(rec.update(tech, title={"en": "Sago flour"}), version=3)])
    assert found(store, "sago") == []
    assert found(store, "sago", include_deleted=True) == []


@pytest.mark.parametrize("limit", [1, 4])
def test_search_pages_visit_every_match_once(store, rec, limit):
    owner = rec.institution()
    techs = [rec.technology(f"Solar dryer {'solar ' * (i % 4)}model {i}", owner=owner["rid"])
             for i in range(13)]
    store.apply([owner] + techs)
    query = RecordQuery(scope=LOCAL, limit=limit)
    seen, cursor = [], None
    while True:
        page = store.search("solar", dataclasses.replace(query, cursor=cursor))
        seen += [r.rid for r in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(t["rid"] for t in techs)
    assert seen == found(store, "solar")


def test_search_cursor_is_bound_to_the_text(store, rec):
    owner = rec.institution()
    store.apply([owner] + [rec.technology(f"Solar dryer {i}", owner=owner["rid"]) for i in range(5)])
    cursor = store.search("solar", RecordQuery(limit=2)).next_cursor
    assert store.search("solar", RecordQuery(limit=2, cursor=cursor)).items
    for text in ("dryer", "solar dryer"):
        with pytest.raises(errors.BadRequest):
            store.search(text, RecordQuery(limit=2, cursor=cursor))
    with pytest.raises(errors.BadRequest):
        store.list(RecordQuery(limit=2, cursor=cursor))


def test_overlong_query_is_refused(store):
    with pytest.raises(errors.ValidationError) as exc:
        store.search("电池" * 300, RecordQuery())
    assert exc.value.errors[0]["field"] == "q"


def reference_score(terms, envelope) -> int:
    """The documented ranking, computed from the record's own texts (textindex.TITLE_POINTS…)."""
    from jembatan.graph import textindex as ti

    title, body = (f" {text} " for text in ti.record_texts(envelope))
    return sum((ti.TITLE_POINTS if ti.needle(t) in title else 0) + (ti.BODY_POINTS if ti.needle(t) in body else 0)
               for t in dict.fromkeys(terms))


@pytest.mark.parametrize("text", ["solar", "solar dryer", "dryer solar", "pump", "太阳", "太阳能 干燥",
                                  "panel solar", "干", "heat pump solar"])
def test_order_is_points_then_newest(store, rec, text):
    from jembatan.graph import textindex as ti

    owner = rec.institution()
    words = [{"en": "Solar dryer"}, {"en": "Solar panel"}, {"zh-Hans": "太阳能干燥机", "en": "Dryer"},
             {"en": "Heat pump"}, {"en": "Pump for solar panel cleaning"}, {"zh-Hans": "太阳能热泵"}]
    summaries = [{"en": "Dryer driven by a solar heat pump"}, {"zh-Hans": "太阳能 干燥 热泵"}, None,
                 {"en": "Solar dryer"}]
    techs = [rec.technology(words[i % len(words)], owner=owner["rid"],
                            **({"summary": s} if (s := summaries[i % len(summaries)]) else {}))
             for i in range(24)]
    store.apply([owner] + techs)
    terms = ti.query_terms(text)
    seq = {r.rid: r.seq for r in store.changes(0, 100, LOCAL)}
    # every term is required, in the title or elsewhere
    matching = [t for t in techs if all(reference_score([term], t) for term in terms)]
    expected = sorted(matching, key=lambda t: (-reference_score(terms, t), -seq[t["rid"]]))
    assert len({reference_score(terms, t) for t in matching}) > 1 or len(terms) == 1
    assert found(store, text, kinds=("technology",)) == [t["rid"] for t in expected]
    assert expected, text
