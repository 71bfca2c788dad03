"""Concepts spotted in text: the bridge between languages.

A Thai enterprise writes "เตาเผาขยะผลิตไฟฟ้า", a Chinese university registered "生活垃圾焚烧发电";
no character of one occurs in the other. What they share is a *concept*: each technology
field's labels (network/data/fields.json, eleven languages), its keywords, and the
thesaurus (network/data/thesaurus/<field>.json: the products, processes and problems of the
field, with their terms in every language) name concepts, and a text mentions a concept
when one of its terms occurs in it.

Terms and texts are folded alike (``textindex.fold``: NFKD, case-folded, accents removed),
then found in one pass with an Aho–Corasick automaton (pyahocorasick). A term in a script
written without spaces (Han, Thai, Lao, Khmer, Myanmar) matches anywhere; a term in a
script with spaces must start and end at word boundaries, and may take an English plural.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Iterable, Iterator

import ahocorasick

from jembatan.network import vocab

from ..textindex import fold

#: Concept ids of the field labels: "field:<code>".
FIELD_PREFIX = "field:"


@dataclass(frozen=True)
class Concept:
    id: str                       # "field:ict", "ict/cloud_computing", …
    field: str                    # the field code it belongs to
    labels: dict                  # language → the first term, for reasons shown to readers


def _is_word(ch: str) -> bool:
    return ch.isalnum() and not _continuous(ch)


def _continuous(ch: str) -> bool:
    cp = ord(ch)
    return (0x0E00 <= cp <= 0x109F or 0x1780 <= cp <= 0x17FF or 0x1A20 <= cp <= 0x1AAF
            or 0x3040 <= cp <= 0x30FF or 0x3400 <= cp <= 0x9FFF or 0xF900 <= cp <= 0xFAFF
            or cp >= 0x20000)


def _forms(folded: str) -> list[str]:
    """A term and its English plural when it is not a plain ``s`` (battery → batteries,
    process → processes), which the word-boundary check lets through on its own."""
    if len(folded) < 2:
        return []
    if len(folded) < 3 and folded.isascii() and folded.isalpha():
        # a two-letter acronym ("AI", "EV") is also a common word once case is folded
        # (Vietnamese "ai", "who"): too ambiguous to spot
        return []
    forms = [folded]
    if folded.isascii() and folded[-1:].isalpha() and len(folded) >= 4:
        if folded.endswith("y") and folded[-2] not in "aeiou":
            forms.append(folded[:-1] + "ies")
        elif folded.endswith(("s", "x", "ch", "sh")):
            forms.append(folded + "es")
    return forms


class Spotter:
    """Finds the concepts a text mentions."""

    def __init__(self, concepts: Iterable[tuple[Concept, Iterable[str]]]):
        self.concepts: dict[str, Concept] = {}
        automaton = ahocorasick.Automaton()
        found: dict[str, list[str]] = {}
        for concept, terms in concepts:
            self.concepts.setdefault(concept.id, concept)
            for term in terms:
                for form in _forms(" ".join(fold(term).split())):
                    found.setdefault(form, []).append(concept.id)
        for folded, ids in found.items():
            bounded = _is_word(folded[0]) or _is_word(folded[-1])
            automaton.add_word(folded, (folded, tuple(dict.fromkeys(ids)), bounded))
        automaton.make_automaton()
        self._automaton = automaton
        self.terms = len(found)

    def spot(self, text: str) -> dict[str, str]:
        """Concept id → the (folded) term that mentions it, for every concept in ``text``."""
        folded = " ".join(fold(text).split())
        out: dict[str, str] = {}
        if not folded or not self.terms:
            return out
        n = len(folded)
        hits = []
        for end, (term, ids, bounded) in self._automaton.iter(folded):
            start = end - len(term) + 1
            if bounded:
                after = end + 1
                if after < n and folded[after] == "s" and len(term) >= 4:
                    after += 1
                if (start > 0 and _is_word(folded[start - 1])) or (after < n and _is_word(folded[after])):
                    continue
            hits.append((start, end, term, ids))
        # a term inside a longer term found at the same place is part of it, not a mention of
        # its own: 电池 (battery) inside 太阳能电池 (solar cell)
        hits.sort(key=lambda h: (h[0], -h[1]))
        reach = -1
        for start, end, term, ids in hits:
            if end <= reach:
                continue
            reach = end
            for cid in ids:
                out.setdefault(cid, term)
        return out


def _thesaurus_files() -> Iterator[dict]:
    folder = resources.files("jembatan.network").joinpath("data", "thesaurus")
    if not folder.is_dir():
        return
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            with entry.open(encoding="utf-8") as fh:
                yield json.load(fh)


def vocabulary() -> Iterator[tuple[Concept, list[str]]]:
    """Every concept with its terms: field labels, field keywords, then the thesaurus."""
    for code, field in vocab.fields().items():
        labels = field["labels"]
        yield Concept(FIELD_PREFIX + code, code, labels), list(labels.values())
        keywords = field.get("keywords") or {}
        # keywords are parallel lists: the i-th English and the i-th Chinese name one concept
        for i, en in enumerate(keywords.get("en", [])):
            terms = {lang: words[i] for lang, words in keywords.items() if i < len(words)}
            yield Concept(f"{code}/kw{i}", code, terms), list(terms.values())
    for data in _thesaurus_files():
        code = data["field"]
        for c in data["concepts"]:
            terms = c["terms"]
            labels = {lang: words[0] for lang, words in terms.items() if words}
            yield (Concept(f"{code}/{c['id']}", code, labels),
                   [t for words in terms.values() for t in words])


@lru_cache(maxsize=1)
def default_spotter() -> Spotter:
    return Spotter(vocabulary())
