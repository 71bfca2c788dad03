import sqlite3

import pytest

from jembatan.graph import textindex as ti
from jembatan.graph.sqlite_search import match_expression

TEXTS = [
    "高能量密度锂电池",
    "ระบบกักเก็บพลังงานแสงอาทิตย์",
    "ប្រព័ន្ធផ្ទុកថាមពលព្រះអាទិត្យ",
    "ລະບົບເກັບຮັກສາພະລັງງານແສງຕາເວັນ",
    "နေရောင်ခြည်စွမ်းအင်သိုလှောင်စနစ်",
    "LiFePO4电池组 5G基站",
]


@pytest.mark.parametrize("text,folded", [
    ("Baterai LITIUM", "baterai litium"),
    ("Năng lượng mặt trời", "nang luong mat troi"),
    ("ĐÀ NẴNG", "da nang"),
    ("Straße Łódź Ørsted", "strasse lodz orsted"),
    ("ＡＢＣ１２３", "abc123"),
    ("Café", "cafe"),
    ("Cafe\u0301", "cafe"),   # decomposed input folds the same
])
def test_fold(text, folded):
    assert ti.fold(text) == folded


def test_han_runs_become_bigrams_and_a_last_unigram():
    assert ti.tokens("高能量密度锂电池") == ["高能", "能量", "量密", "密度", "度锂", "锂电", "电池", "池"]
    assert ti.tokens("锂") == ["锂"]
    assert ti.tokens("LiFePO4电池，储能") == ["lifepo4", "电池", "池", "储能", "能"]


def test_thai_marks_stay_inside_tokens():
    toks = ti.tokens("พลังงาน")
    assert toks == ["พล", "ลั", "ัง", "งง", "งา", "าน", "น"]
    assert "".join(t[0] for t in toks) == "พลังงาน"


def test_punctuation_separates_runs():
    assert ti.tokens("ฯลฯ กรุงเทพฯ") == ["ล", "กร", "รุ", "ุง", "งเ", "เท", "ทพ", "พ"]
    assert ti.tokens("မြန်မာ။ ရန်ကုန်") == ["မြ", "ြန", "န်", "်မ", "မာ", "ာ", "ရန", "န်", "်က", "ကု", "ုန", "န်", "်"]


def test_ascii_and_general_paths_agree():
    for text in ["Rice dryer, model #3 (v2_final)", "x-y z", "  ", "a1b2"]:
        assert ti.tokens(text) == ti._continuous(ti.fold(text))
        assert ti.document([text]).split() == ti.tokens(text)


def _contains(seq: list[str], sub: tuple[str, ...]) -> bool:
    return any(tuple(seq[i:i + len(sub)]) == sub for i in range(len(seq) - len(sub) + 1))


@pytest.mark.parametrize("text", TEXTS)
def test_every_substring_is_a_phrase_of_the_document(text):
    """The invariant search relies on: a substring's terms occur as consecutive tokens
    (Latin-script words are found whole, so substrings cutting one are not asked for)."""
    doc = ti.tokens(text)
    cuts_word = lambda a, b: a.isascii() and a.isalnum() and b.isascii() and b.isalnum()  # noqa: E731
    for start in range(len(text)):
        for end in range(start + 1, len(text) + 1):
            sub = text[start:end]
            if (start and cuts_word(text[start - 1], text[start])) or \
                    (end < len(text) and cuts_word(text[end - 1], text[end])):
                continue
            for term in ti.query_terms(sub):
                if term.prefix:
                    head, last = term.tokens[:-1], term.tokens[-1]
                    assert any(tuple(doc[i:i + len(head)]) == head and doc[i + len(head)].startswith(last)
                               for i in range(len(doc) - len(head))), sub
                else:
                    assert _contains(doc, term.tokens), sub


def test_query_terms():
    assert ti.query_terms("电池") == [ti.Term(("电池",))]
    assert ti.query_terms("电") == [ti.Term(("电",), prefix=True)]
    assert ti.query_terms("锂电池LiFePO4") == [ti.Term(("锂电", "电池", "池", "lifepo4"))]
    assert ti.query_terms("nang  LUONG") == [ti.Term(("nang",)), ti.Term(("luong",))]
    assert ti.query_terms('"baterai" NEAR(x)') == [ti.Term(("baterai",)), ti.Term(("near", "x"))]
    assert ti.query_terms("!!! () 。") == []
    assert ti.query_terms("") == []


def test_record_texts():
    env = {"deleted": False, "body": {
        "title": {"en": "Rice dryer", "zh-Hans": "稻谷烘干机"}, "summary": {"id": "Pengering padi"},
        "keywords": ["biomass"], "city": "Nanning", "registration_no": "2024-GX-0001",
        "identifiers": {"ror": "02c9qn167"}, "ip": {"status": "granted", "patents": ["CN1234.5"]}}}
    title, rest = ti.record_texts(env)
    assert sorted(title.split()) == sorted(["rice", "dryer", "稻谷", "谷烘", "烘干", "干机", "机"])
    assert set(rest.split()) >= {"pengering", "padi", "biomass", "nanning", "2024", "gx", "0001",
                                 "02c9qn167", "cn1234", "5"}
    assert ti.record_texts({"deleted": True, "body": None}) is None


def test_fts5_ascii_tokenizer_keeps_our_tokens_intact():
    """What SQLite indexes is exactly our token list (marks and CJK included)."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='ascii')")
    conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
    for i, text in enumerate(TEXTS + ["Năng lượng, Baterai-litium!"], 1):
        conn.execute("INSERT INTO t(rowid, x) VALUES (?, ?)", (i, ti.document([text])))
        indexed = [term for (term,) in conn.execute(
            "SELECT term FROM v WHERE doc = ? ORDER BY offset", (i,))]
        assert indexed == ti.tokens(text)


def test_match_expressions_are_quoted_phrases():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='ascii')")
    conn.execute("INSERT INTO t(rowid, x) VALUES (1, ?)", (ti.document(["高能量密度锂电池 near"]),))
    for query, hits in [("电池", [1]), ("电", [1]), ("电能", []), ("NEAR", [1]), ('"near"*', [1]),
                        ("AND OR NOT", [])]:
        expr = match_expression(ti.query_terms(query))
        assert [r for (r,) in conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (expr,))] == hits
    assert match_expression([ti.Term(('a"b',))]) == '"a""b"'
