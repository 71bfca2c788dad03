"""Search tokenisation shared by every backend: what a record is found by, and how a query
is cut into the same tokens.

Two kinds of script need two treatments:

* scripts written with spaces between words (Latin, Cyrillic, Greek, Hangul, …): a token is
  a word, NFKD-normalised, case-folded and stripped of accents — so
  "Năng lượng" and "nang luong" are the same two tokens, as are "Baterai" and "baterai";
* scripts written without spaces (Han, kana, Thai, Lao, Khmer, Myanmar): a run of such
  characters becomes its overlapping character bigrams, followed by its last character on
  its own. "高能量密度锂电池" → 高能 能量 量密 密度 度锂 锂电 电池 池. A query run becomes its
  bigrams too, and must appear as a phrase (consecutive tokens), so "电池" and "能量密度" are
  found inside the run and a two-character query needs no trigram. A one-character query
  is a prefix of some bigram or the run's final unigram, so it works as a prefix match. The
  trailing unigram also keeps the last bigram of one run from being adjacent to the first
  bigram of the next, so a phrase never matches across a run boundary.

Combining marks of Thai, Lao, Khmer and Myanmar (categories Mn/Mc) belong to their block and
stay inside the run; they are never treated as separators. Tokens hold letters, digits and
those marks, never ASCII punctuation or spaces, so a backend can store them space-separated
and split on ASCII non-alphanumerics (SQLite's FTS5 ``ascii`` tokenizer does exactly that and
keeps every non-ASCII character inside a token).

Everything here is deterministic for a given :data:`VERSION`; a backend that deletes index
entries by re-tokenising the old text must rebuild its index when the version changes.
"""
from __future__ import annotations

import operator
import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable

#: Changes whenever the tokens produced for some text could change (Unicode data included).
VERSION = f"1/{unicodedata.unidata_version}"

#: Longest search text accepted (characters); longer queries are refused, not truncated.
MAX_QUERY_CHARS = 500

# Blocks of the scripts written without spaces between words.
_CONTINUOUS_BLOCKS = (
    (0x0E00, 0x0E7F),    # Thai
    (0x0E80, 0x0EFF),    # Lao
    (0x1000, 0x109F),    # Myanmar
    (0xA9E0, 0xA9FF),    # Myanmar Extended-B
    (0xAA60, 0xAA7F),    # Myanmar Extended-A
    (0x1780, 0x17FF),    # Khmer
    (0x19E0, 0x19FF),    # Khmer symbols
    (0x1A20, 0x1AAF),    # Tai Tham (northern Thailand, Laos)
    (0x3005, 0x3007),    # 々 〆 〇
    (0x3040, 0x30FF),    # Hiragana, Katakana
    (0x3100, 0x312F),    # Bopomofo
    (0x31A0, 0x31BF),    # Bopomofo extended
    (0x31F0, 0x31FF),    # Katakana phonetic extensions
    (0x3400, 0x4DBF),    # CJK extension A
    (0x4E00, 0x9FFF),    # CJK unified ideographs
    (0xF900, 0xFAFF),    # CJK compatibility ideographs
    (0x20000, 0x323AF),  # CJK extensions B–H
)
# Punctuation inside those blocks separates runs like any other punctuation.
_CONTINUOUS_PUNCTUATION = (
    "\u0e2f\u0e4f\u0e5a\u0e5b"          # Thai ฯ ๏ ๚ ๛
    "\u0eaf"                            # Lao ellipsis
    "\u104a\u104b"                      # Myanmar ၊ ။
    "\u17d4\u17d5\u17d6\u17d8\u17d9\u17da"  # Khmer ។ ៕ ៖ ៘ ៙ ៚
    "\u30a0\u30fb"                      # Katakana double hyphen, middle dot
)


def _class_body(*, punctuation: bool) -> str:
    """The inside of a regex character class matching one character of those blocks."""
    points = {cp for lo, hi in _CONTINUOUS_BLOCKS for cp in range(lo, hi + 1)}
    if not punctuation:
        points -= {ord(ch) for ch in _CONTINUOUS_PUNCTUATION}
    ranges: list[tuple[int, int]] = []
    for cp in sorted(points):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    return "".join(re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}"
                   for lo, hi in ranges)


_CONT = _class_body(punctuation=False)
_BLOCKS = _class_body(punctuation=True)
# A continuous-script run, or a word: word characters (letters, digits) outside those blocks
# and other than "_" (underscores join nothing a reader would search for). Punctuation of
# the blocks (ฯ is a letter to Unicode) matches neither and separates.
_TOKEN_RE = re.compile(f"([{_CONT}]+)|([^\\W_{_BLOCKS}]+)")


# Accents: combining marks of the Latin (and Greek/Cyrillic) tradition, removed after NFKD.
# Thai, Lao, Khmer and Myanmar marks live in their own blocks and are kept.
_ACCENTS_RE = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\ufe20-\ufe2f]+")
# Latin letters whose stroke or ligature is not a combining mark, so NFKD leaves them alone.
_LETTERS = {"đ": "d", "ð": "d", "ħ": "h", "ı": "i", "ł": "l", "ŀ": "l", "ø": "o", "œ": "oe",
            "æ": "ae", "þ": "th", "ŧ": "t", "ƀ": "b", "ɨ": "i", "ʉ": "u", "ɗ": "d", "ɓ": "b"}
_LETTERS_RE = re.compile(f"[{''.join(_LETTERS)}]")
_LETTERS_TABLE = str.maketrans(_LETTERS)
_ASCII_WORD_RE = re.compile("[a-z0-9]+")
_ASCII_SEP_RE = re.compile("[^a-z0-9]+")


def fold(text: str) -> str:
    """NFKD, case-folded, accents removed: the form both documents and queries take.

    NFKD (not NFKC) because composing again is slow and not needed: both sides are folded
    the same way. Full-width Latin becomes ASCII, compatibility ideographs become unified.
    """
    if text.isascii():  # NFKD is the identity and casefold is lower() on ASCII
        return text.lower()
    folded = _ACCENTS_RE.sub("", unicodedata.normalize("NFKD", text).casefold())
    if _LETTERS_RE.search(folded):
        folded = folded.translate(_LETTERS_TABLE)
    return folded


def _bigrams(run: str) -> list[str]:
    return list(map(operator.add, run, run[1:]))


def _continuous(folded: str) -> list[str]:
    out: list[str] = []
    for run, word in _TOKEN_RE.findall(folded):
        if word:
            out.append(word)
        else:
            if len(run) > 1:
                out.extend(_bigrams(run))
            out.append(run[-1])
    return out


def tokens(text: str) -> list[str]:
    """The index tokens of a document text, in order."""
    folded = fold(text)
    if folded.isascii():
        return _ASCII_WORD_RE.findall(folded)
    return _continuous(folded)


def document(texts: Iterable[str]) -> str:
    """Several texts as one space-separated token string (what a backend indexes).

    Phrases only matter inside one text, so the texts' order in the result is free: the
    ASCII ones (the common case) are lower-cased and split together in one pass.
    """
    plain: list[str] = []
    parts: list[str] = []
    for text in texts:
        if text.isascii():
            plain.append(text)
            continue
        folded = fold(text)
        if folded.isascii():
            plain.append(folded)
        else:
            parts.append(" ".join(_continuous(folded)))
    if plain:
        parts.append(_ASCII_SEP_RE.sub(" ", " ".join(plain).lower()).strip())
    return " ".join(p for p in parts if p)


@dataclass(frozen=True)
class Term:
    """One query term: tokens that must appear consecutively; the last one maybe a prefix."""
    tokens: tuple[str, ...]
    prefix: bool = False


def needle(term: Term) -> str:
    """The term as a substring of a space-padded token string: " a b " (" a b" for a prefix)."""
    return " " + " ".join(term.tokens) + ("" if term.prefix else " ")


#: Search relevance, the same on every backend: for each distinct query term, TITLE_POINTS
#: when it is in the record's title and BODY_POINTS when it is elsewhere in the record; then
#: the newest change first. It depends on the record alone (no corpus statistics), so every
#: backend returns the same order and a cursor's page boundary never moves.
TITLE_POINTS, BODY_POINTS = 2, 1


def query_terms(text: str) -> list[Term]:
    """Cut a search text into terms (whitespace-separated, every term required).

    A continuous-script run inside a term becomes its bigrams; it also keeps its trailing
    unigram when the term goes on after it (in the document the run ends there too, so the
    unigram sits between the run's bigrams and the next token). A one-character run at the
    end of a term is a prefix.
    """
    terms: list[Term] = []
    for chunk in text.split():
        parts = _TOKEN_RE.findall(fold(chunk))
        toks: list[str] = []
        prefix = False
        for i, (run, word) in enumerate(parts):
            last = i == len(parts) - 1
            if word:
                toks.append(word)
            elif len(run) == 1:
                toks.append(run)
                prefix = last
            else:
                toks.extend(_bigrams(run))
                if not last:
                    toks.append(run[-1])
        if toks:
            terms.append(Term(tuple(toks), prefix))
    return terms


# -- what of a record is searchable -------------------------------------------------------

_TITLE_FIELDS = ("title", "name")          # multilingual
_TEXT_FIELDS = ("summary", "description")   # multilingual
_STRING_FIELDS = ("city", "registration_no")


def record_texts(envelope: dict) -> tuple[str, str] | None:
    """(title tokens, other tokens) of a record, or None for a tombstone.

    The title column holds every language variant of title/name; the other column every
    variant of summary/description, keywords, city, registration number, identifiers and
    patent numbers. Backends weight the title column higher when ranking.
    """
    body = envelope.get("body")
    if envelope.get("deleted") or not body:
        return None
    title: list[str] = []
    for key in _TITLE_FIELDS:
        if value := body.get(key):
            title.extend(value.values())
    rest: list[str] = []
    for key in _TEXT_FIELDS:
        if value := body.get(key):
            rest.extend(value.values())
    rest.extend(body.get("keywords") or ())
    rest.extend(body[key] for key in _STRING_FIELDS if body.get(key))
    rest.extend((body.get("identifiers") or {}).values())
    rest.extend((body.get("ip") or {}).get("patents") or ())
    return document(title), document(rest)
