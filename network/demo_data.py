"""Word lists of the demo alliance, loaded once from ``data/demo_*.json``.

Everything the generator picks from is precomputed here into flat tuples — finished titles
for every (template, frame, language), city and brand names per language — so that
generating a record is a handful of index look-ups and one small dict literal. Field labels
and keywords come from the field vocabulary (``data/fields.json``) and country names from
CLDR, so the demo never disagrees with what the application shows.
"""
from __future__ import annotations

import itertools
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources

from babel import Locale

from . import vocab

#: Languages written in Latin script whose words are capitalised only at the start of a
#: sentence: a title core moved into the middle of a phrase loses its capital there.
_CASED = frozenset({"en", "id", "vi", "ms", "fil", "pt"})


def _nfc(value):
    """NFC-normalise every string of a loaded JSON document (the store keeps NFC only)."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, list):
        return [_nfc(v) for v in value]
    if isinstance(value, dict):
        return {k: _nfc(v) for k, v in value.items()}
    return value


def _load(name: str) -> dict:
    path = resources.files("jembatan.network").joinpath("data", name)
    with path.open(encoding="utf-8") as f:
        return _nfc(json.load(f))


def decap(text: str, lang: str) -> str:
    """``"Salt-tolerant rice"`` → ``"salt-tolerant rice"`` inside a phrase; acronyms and
    names with inner capitals (``"BeiDou"``, ``"ERP"``) keep their case."""
    if lang not in _CASED or not text:
        return text
    first = text.split(" ", 1)[0]
    if first[1:] != first[1:].lower():
        return text
    return text[0].lower() + text[1:]


def cumulative(weights) -> tuple[float, ...]:
    return tuple(itertools.accumulate(weights))


@lru_cache(maxsize=8192)
def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


_SMALL_WORDS = {"of", "and", "for", "the", "on", "in", "co", "ltd", "inc", "sdn", "bhd",
                "pte", "pt", "lda"}


@lru_cache(maxsize=8192)
def acronym(name: str) -> str:
    """``"Nanning Academy of Agricultural Sciences"`` → ``"naas"`` (for demo web sites)."""
    letters = "".join(w[0] for w in slug(name).split("-") if w and w not in _SMALL_WORDS)
    return letters or "org"


@dataclass(frozen=True)
class City:
    index: int
    en: str
    names: dict          # language tag → name; always zh-Hans and en
    adcode: str | None   # Chinese administrative division code (for USCC numbers)
    coastal: bool


@dataclass(frozen=True)
class Country:
    index: int
    code: str
    lang: str | None          # the country's own language besides zh-Hans and en
    langs: tuple[str, ...]    # languages of its names and titles
    currency: str
    alt_currency: str | None
    digits: int               # minor units of ``currency`` (CLDR)
    usd_rate: float
    cities: tuple[City, ...]
    city_cum: tuple[float, ...]
    coastal: tuple[City, ...]
    brands: tuple[dict, ...]
    company: dict
    domains: dict             # kind of site → second-level domain, e.g. "edu.cn"
    names: dict               # en, zh-Hans: the country's name from CLDR


@dataclass(frozen=True)
class Field:
    index: int
    code: str
    weight: float
    labels: dict              # every UI locale (from the field vocabulary)
    area: dict                # en (lower case, for sentences) and zh-Hans
    keywords_en: tuple[str, ...]
    keywords_zh: tuple[str, ...]
    keywords_overlap: bool    # some keyword is the same in both lists (e.g. "5G")
    benefits: tuple[dict, ...]
    cores: tuple[dict, ...]   # title templates: language → core title
    by_lang: dict             # language → indices of cores written in it


class DemoData:
    """Everything the generator picks from; built once per process by :func:`data`."""

    def __init__(self) -> None:
        places = _load("demo_places.json")
        names = _load("demo_names.json")
        techs = _load("demo_technologies.json")
        self.events = _load("demo_events.json")
        en, zh = Locale.parse("en").territories, Locale.parse("zh_Hans").territories

        countries = []
        for i, code in enumerate(vocab.ALLIANCE_COUNTRIES):
            c = places["countries"][code]
            lang = c["lang"]
            cities = tuple(
                City(j, x["en"], {k: v for k, v in x.items() if k in ("en", "zh-Hans", lang)},
                     x.get("adcode"), bool(x.get("coastal")))
                for j, x in enumerate(c["cities"]))
            countries.append(Country(
                index=i, code=code, lang=lang,
                langs=("zh-Hans", "en") + ((lang,) if lang else ()),
                currency=c["currency"], alt_currency=c.get("alt_currency"),
                digits=vocab.currency_digits(c["currency"]), usd_rate=float(c["usd_rate"]),
                cities=cities, city_cum=cumulative(x.get("w", 1) for x in c["cities"]),
                coastal=tuple(x for x in cities if x.coastal),
                brands=tuple(c["brands"]), company=c["company"],
                domains={"edu": c["edu"], "com": c["com"], "gov": c["gov"],
                         "org": "org." + c["tld"]},
                names={"en": en[code], "zh-Hans": zh[code]}))
        self.countries: tuple[Country, ...] = tuple(countries)
        self.country = {c.code: c for c in self.countries}

        vocab_fields = vocab.fields()
        fields = []
        for i, (code, spec) in enumerate(techs["fields"].items()):
            v = vocab_fields[code]
            cores = tuple(spec["templates"])
            # None: a Chinese owner, whose titles need only zh-Hans and en
            by_lang: dict[str | None, tuple[int, ...]] = {None: tuple(range(len(cores)))}
            for lang in {k for t in cores for k in t}:
                by_lang[lang] = tuple(j for j, t in enumerate(cores) if lang in t)
            fields.append(Field(
                index=i, code=code, weight=spec["weight"], labels=v["labels"],
                area={"en": decap(v["labels"]["en"], "en"), "zh-Hans": v["labels"]["zh-Hans"]},
                keywords_en=tuple(v["keywords"]["en"]), keywords_zh=tuple(v["keywords"]["zh-Hans"]),
                keywords_overlap=bool(set(v["keywords"]["en"]) & set(v["keywords"]["zh-Hans"])),
                benefits=tuple(spec["benefits"]), cores=cores, by_lang=by_lang))
        self.fields: tuple[Field, ...] = tuple(fields)
        self.field_cum = cumulative(f.weight for f in self.fields)
        self.field_index = {f.code: f.index for f in self.fields}

        frames = techs["title_frames"]
        self.frame_cum = cumulative(fr["weight"] for fr in frames)
        # titles[field][core][frame]: language → finished title
        self.titles = tuple(tuple(tuple(_framed(core, fr, frames[0]) for fr in frames)
                                  for core in f.cores) for f in self.fields)
        dframes = techs["demand_frames"]
        self.demand_titles = tuple(
            tuple(tuple({lang: fr["t"][lang].replace(
                            "{x}", decap(core[lang], lang) if fr["decap"] else core[lang])
                         for lang in core if lang in fr["t"]} for fr in dframes)
                  for core in f.cores)
            for f in self.fields)

        self.sectors = tuple(
            {**s, "fields": tuple(self.field_index[c] for c in s["fields"])}
            for s in names["sectors"])
        self.patterns = {
            kind: tuple({**p, "fields": tuple(self.field_index[c] for c in p.get("fields", ()))}
                        for p in plist)
            for kind, plist in names["patterns"].items()}
        self.flagships = {(f["country"], f["kind"]): f for f in names["flagships"]}
        self.kind_phrases = names["kind_phrases"]
        self.kind_roles = names["kind_roles"]
        self._usable: dict[tuple[str, str], tuple[dict, ...]] = {}

    def patterns_for(self, kind: str, country: Country) -> tuple[dict, ...]:
        """Name patterns usable for ``kind`` in ``country`` (its restrictions, a coast)."""
        key = (kind, country.code)
        if key not in self._usable:
            self._usable[key] = tuple(
                p for p in self.patterns[kind]
                if country.code in p.get("only", (country.code,))
                and country.code not in p.get("not", ())
                and (country.coastal or not p.get("coastal")))
        return self._usable[key]


def _framed(core: dict, frame: dict, plain: dict) -> dict:
    """A title core put in a frame, in every language both are written in. A frame whose
    ``avoid`` words the English core already contains ("… for …" twice, "low-cost" twice)
    gives way to the plain frame; a ``decap`` frame puts the core mid-phrase; and 技术 is
    not said twice where the frame adds another 技术."""
    if any(word in core["en"] for word in frame.get("avoid", ())):
        frame = plain
    lower = frame.get("decap", False)
    out = {lang: frame["t"][lang].replace("{x}", decap(core[lang], lang) if lower else core[lang])
           for lang in core if lang in frame["t"]}
    out["zh-Hans"] = re.sub(r"技术(成套|关键)技术", r"\1技术", out["zh-Hans"])
    return out


@lru_cache(maxsize=1)
def data() -> DemoData:
    return DemoData()


DAY_ZERO = date(2019, 1, 1)


@lru_cache(maxsize=1)
def days() -> tuple[str, ...]:
    """ISO dates from 2019-01-01 to 2026-12-31 by day number (formatting dates is slow)."""
    return tuple((DAY_ZERO + timedelta(days=n)).isoformat() for n in range(8 * 365 + 2))


def day_number(year: int, month: int = 1, day: int = 1) -> int:
    return (date(year, month, day) - DAY_ZERO).days


# --- identifiers that look like the real thing (and pass their own check digits) --------

_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def uscc(adcode: str, n: int) -> str:
    """A Chinese unified social credit code (GB 32100-2015) whose organisation code
    (GB 11714) and final character carry valid check characters."""
    org = "".join(_USCC_CHARS[(n // 31 ** k) % (10 if k == 0 else 31)] for k in range(8))
    c9 = 11 - sum(int(ch, 36) * w for ch, w in zip(org, _ORG_WEIGHTS)) % 11
    org += "X" if c9 == 10 else "0" if c9 == 11 else str(c9)
    body = "91" + adcode + org
    s = sum(_USCC_CHARS.index(ch) * w for ch, w in zip(body, _USCC_WEIGHTS))
    return body + _USCC_CHARS[(31 - s % 31) % 31]


_ROR_CHARS = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def ror(n: int) -> str:
    """A ROR id: ``0`` + 6 Crockford base32 characters + 2-digit ISO 7064 mod 97-10 check."""
    n %= 32 ** 6
    chars = "".join(_ROR_CHARS[(n >> (5 * k)) & 31] for k in range(5, -1, -1))
    return f"0{chars}{98 - (n * 100) % 97:02d}"


_CN_HI: list[int] = []   # weighted digit sums of a serial's first 3 digits (weights 7 8 9)
_CN_LO: list[int] = []   # … and of its last 4 digits (weights 2 3 4 5)
_CN_YEAR: dict[tuple[int, int], tuple[str, int]] = {}


def cn_patent(year: int, kind: int, serial: int) -> str:
    """A Chinese patent application number, e.g. ``CN202310123456.7``: year, type (1
    invention, 2 utility model), 7-digit serial, and a mod-11 check over digit weights
    2 3 4 5 6 7 8 9 2 3 4 5 (10 is written X)."""
    if not _CN_LO:
        _CN_HI.extend(sum(int(ch) * w for ch, w in zip(f"{n:03d}", (7, 8, 9))) for n in range(1000))
        _CN_LO.extend(sum(int(ch) * w for ch, w in zip(f"{n:04d}", (2, 3, 4, 5)))
                      for n in range(10000))
    head = _CN_YEAR.get((year, kind))
    if head is None:
        y = f"{year:04d}{kind}"
        head = _CN_YEAR[(year, kind)] = (y, sum(int(ch) * w for ch, w in zip(y, (2, 3, 4, 5, 6))))
    check = (head[1] + _CN_HI[serial // 10000] + _CN_LO[serial % 10000]) % 11
    return f"CN{head[0]}{serial:07d}.{'X' if check == 10 else check}"


def patent(country: str, year: int, serial: int, granted: bool) -> str:
    """A patent or application number in the form the country's office uses."""
    if country == "CN":
        return cn_patent(year, 1 if serial % 3 else 2, serial % 10_000_000)
    if country == "ID":
        return f"IDP000{serial % 1_000_000:06d}" if granted else f"P00{year}{serial % 100_000:05d}"
    if country == "TH":
        return f"{year % 100:02d}01{serial % 1_000_000:06d}"
    if country == "VN":
        return f"1-{year}-{serial % 100_000:05d}"
    if country == "MY":
        return f"PI{year}{serial % 1_000_000:06d}"
    if country == "PH":
        return f"1-{year}-{serial % 1_000_000:06d}"
    if country == "SG":
        return f"10{year}{serial % 100_000:05d}{'ABCDEFGHJKLMNPQRTUVWXY'[serial % 22]}"
    return f"WO{year}{serial % 1_000_000:06d}"
