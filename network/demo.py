"""A deterministic, realistic demo alliance: China and the eleven ASEAN members.

``generate(scale)`` streams complete record envelopes — institutions first, then
technologies, demands, events, agreements and endorsements — so every reference points to a
record already yielded and an import creates no stubs. The same arguments always give
byte-identical output: every choice comes from one ``random.Random(seed)``, and a record's
rid is a function of its position in the stream (``start_ms + position`` is both its HLC
millisecond and its UUIDv7 time), which lets an agreement name a technology by its index
without the generator keeping every rid. Memory stays flat apart from the institutions'
rids and a few bytes per institution and technology.

Scale 1 is a small demo of 500 records; records grow linearly (scale 2000 = 10^6).
Word lists live in ``data/demo_*.json`` (see :mod:`.demo_data`); the records that point
at others — demands, events, agreements, endorsements — are built in :mod:`.demo_links`.
"""
from __future__ import annotations

import itertools
import math
import random
from array import array
from bisect import bisect
from functools import lru_cache
from typing import Iterator

from . import demo_links, vocab
from .demo_links import ACADEMIC
from .demo_data import (City, Country, Field, acronym, cumulative, data, day_number, days,
                        patent, ror, slug, uscc)
from .ids import is_node_id

DEFAULT_ORIGIN = "demo-nanning"
DEFAULT_SEED = 2024
DEFAULT_START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z

#: records of each kind per unit of scale, in the order they are yielded
PER_SCALE = {"institution": 60, "technology": 250, "demand": 90, "event": 10,
             "agreement": 80, "endorsement": 10}

#: one block of 60 institutions (country → kinds); each block is shuffled
_SLOTS = {
    "CN": ["university"] * 5 + ["research_institute"] * 5 + ["enterprise"] * 6
          + ["transfer_centre"] * 2 + ["government", "park_incubator", "investor", "association"],
    "ID": ["university", "research_institute", "enterprise", "enterprise", "enterprise", "government"],
    "TH": ["university", "research_institute", "enterprise", "enterprise", "enterprise", "park_incubator"],
    "VN": ["university", "research_institute", "enterprise", "enterprise", "enterprise", "transfer_centre"],
    "MY": ["university", "enterprise", "enterprise", "enterprise", "investor"],
    "PH": ["university", "enterprise", "enterprise", "association"],
    "SG": ["research_institute", "enterprise", "investor"],
    "KH": ["university", "enterprise"], "LA": ["university", "enterprise"],
    "MM": ["university", "enterprise"], "BN": ["enterprise"], "TL": ["university"],
}
SLOTS = tuple((cc, kind) for cc, kinds in _SLOTS.items() for kind in kinds)
assert len(SLOTS) == PER_SCALE["institution"]
assert PER_SCALE["agreement"] == PER_SCALE["endorsement"] * demo_links.ENDORSE_EVERY

# China offers most technologies; ASEAN members post most demands.
TECH_COUNTRY = {"CN": 52, "ID": 8, "TH": 8, "VN": 8, "MY": 7, "SG": 6, "PH": 4, "KH": 2,
                "LA": 1.5, "MM": 1.5, "BN": 1, "TL": 1}
ASEAN = {"ID": 16, "TH": 14, "VN": 14, "MY": 11, "PH": 10, "SG": 5, "KH": 6, "LA": 4,
         "MM": 4, "BN": 2, "TL": 4}
_TRL_CUM = cumulative((2, 4, 8, 14, 18, 20, 18, 10, 6))                   # skewed to 4–7
_STAGE_CUM = cumulative((25, 20, 15, 12, 12, 10, 6))                      # vocab.STAGES
_MODE_WEIGHT = dict(zip(vocab.TRANSFER_MODES, (30, 15, 25, 10, 20)))
_IP_CUM = cumulative((10, 30, 45, 5, 10))                                 # IP_STATUSES
_KIND_SITE = {"university": "edu", "research_institute": "edu", "government": "gov",
              "association": "org"}
_M48, _M80 = (1 << 48) - 1, (1 << 80) - 1
_UUID7_BITS = 0x7 << 76 | 0x2 << 62                       # version 7, RFC 9562 variant
_CLEAR = ~(0xF << 76 | 0x3 << 62) & ((1 << 80) - 1)


@lru_cache(maxsize=1)
def _mode_sets() -> tuple[tuple, tuple[float, ...]]:
    """Every set of 1–3 transfer modes with its probability (45% one mode, 40% two, 15%
    three; within a size, proportional to the product of the modes' weights) and its
    phrase in en and zh-Hans, so a technology's modes cost one draw."""
    labels = data().events["modes"]
    sets, weights = [], []
    for size, share in ((1, 45), (2, 40), (3, 15)):
        combos = list(itertools.combinations(vocab.TRANSFER_MODES, size))
        products = [math.prod(_MODE_WEIGHT[m] for m in combo) for combo in combos]
        for combo, product in zip(combos, products):
            en = [labels[m]["en"] for m in combo]
            phrase_en = en[0] if size == 1 else ", ".join(en[:-1]) + " or " + en[-1]
            sets.append((combo, (phrase_en, "、".join(labels[m]["zh-Hans"] for m in combo))))
            weights.append(share * product / sum(products))
    return tuple(sets), cumulative(weights)


def counts(scale: int) -> dict[str, int]:
    """Records per kind that ``generate(scale)`` yields."""
    _check_int("scale", scale, 1)
    return {kind: n * scale for kind, n in PER_SCALE.items()}


def generate(scale: int = 1, *, origin: str = DEFAULT_ORIGIN, seed: int = DEFAULT_SEED,
             start_ms: int = DEFAULT_START_MS) -> Iterator[dict]:
    """Stream the demo alliance's envelopes (version 1, unsigned, all from ``origin``).
    Bad arguments raise ``ValueError`` here, before anything is generated."""
    n = counts(scale)
    return _alliance(Alliance(origin, seed, start_ms, n["institution"]), n)


def technologies(n: int, *, origin: str = DEFAULT_ORIGIN, seed: int = DEFAULT_SEED,
                 start_ms: int = DEFAULT_START_MS) -> Iterator[dict]:
    """``max(50, n // 200)`` institutions (the owners), then exactly ``n`` technologies."""
    _check_int("n", n, 0)
    owners = max(50, n // 200)
    return _catalogue(Alliance(origin, seed, start_ms, owners), owners, n)


def _alliance(gen: Alliance, n: dict[str, int]) -> Iterator[dict]:
    yield from gen.institutions(n["institution"])
    yield from gen.technologies(n["technology"], keep=True)
    for _ in range(n["demand"]):
        yield demo_links.demand(gen)
    for j in range(n["event"]):
        yield demo_links.event(gen, j)
    for j in range(n["agreement"]):
        yield demo_links.agreement(gen, j)
    yield from demo_links.endorsements(gen)


def _catalogue(gen: Alliance, owners: int, n: int) -> Iterator[dict]:
    yield from gen.institutions(owners)
    yield from gen.technologies(n, keep=False)


def _two_digits(value: float) -> int:
    step = 10 ** max(int(math.log10(value)) - 1, 0)
    return int(round(value / step)) * step


def _check_int(name: str, value: object, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name} must be an integer ≥ {least}, not {value!r}")


class Alliance:
    """The generator's state: one RNG, the stream position, and per institution and
    technology only the few bytes later records need to refer to them."""

    def __init__(self, origin: str, seed: int, start_ms: int, n_institutions: int) -> None:
        if not is_node_id(origin):
            raise ValueError(f"not a valid node id: {origin!r}")
        _check_int("seed", seed, -(2**63))
        _check_int("start_ms", start_ms, 0)
        self.d = d = data()
        self.rng = random.Random(seed)
        self.r = self.rng.random
        self.origin, self.start_ms, self.pos = origin, start_ms, 0
        self._prefix = f"urn:jembatan:{origin}:"
        self._key = random.Random(f"{origin}\n{seed}").getrandbits(80)
        self.tech_base = n_institutions  # stream position of technology 0
        self.inst_rids: list[str] = []
        self.inst_country, self.inst_kind = array("B"), array("B")
        self.inst_focus, self.inst_city = array("B"), array("B")
        self.pools: dict[tuple[int, str], array] = {}
        self._pool_cache: dict[tuple[int, tuple[str, ...]], array] = {}
        self.tech_owner, self.tech_core = array("I"), array("H")
        self.n_tech = 0
        self.events: list[tuple[str, int]] = []  # rid, day number of its last day
        self.endorse: list[tuple[str, str, str]] = []
        self.flagships_used: set[tuple[str, str]] = set()
        self.summaries: dict[tuple, dict] = {}
        self.amounts: dict[tuple, tuple[str, ...]] = {}
        self.days, self.deadline0 = days(), day_number(2024, 3, 1)
        self.kinds = vocab.INSTITUTION_KINDS
        self.cn = d.country["CN"].index
        self._asean = tuple(d.country[c].index for c in ASEAN)
        self._asean_cum = cumulative(ASEAN.values())

    # --- plumbing --------------------------------------------------------------------------
    def rid_at(self, kind: str, pos: int) -> str:
        """The rid of the record at stream position ``pos``: the UUIDv7 that ``ids.uuid7``
        makes from that position's millisecond and 80 bits mixed from (pos, seed)."""
        x = ((pos + 1) * 0x9E3779B97F4A7C15F39D + self._key) & _M80  # a bijection of pos
        x ^= x >> 41
        x = x & _CLEAR | _UUID7_BITS
        ms = (self.start_ms + pos) & _M48
        return "%s%s:%08x-%04x-%04x-%04x-%012x" % (
            self._prefix, kind, ms >> 16, ms & 0xFFFF, x >> 64, x >> 48 & 0xFFFF, x & _M48)

    def envelope(self, kind: str, body: dict, visibility: str = "public") -> dict:
        pos = self.pos
        self.pos += 1
        return {"rid": self.rid_at(kind, pos), "kind": kind, "origin": self.origin,
                "version": 1, "hlc": f"{self.start_ms + pos:013d}-0000",
                "visibility": visibility, "deleted": False, "body": body, "sigs": []}

    def pick(self, cum: tuple[float, ...]) -> int:
        return bisect(cum, self.r() * cum[-1])

    def one(self, seq):
        return seq[int(self.r() * len(seq))]

    def visibility(self) -> str:
        x = self.r()
        return "private" if x < 0.03 else "alliance" if x < 0.13 else "public"

    def city(self, c: Country) -> City:
        return c.cities[self.pick(c.city_cum)]

    def field(self) -> Field:
        return self.d.fields[self.pick(self.d.field_cum)]

    def asean(self) -> int:
        return self._asean[self.pick(self._asean_cum)]

    def pool(self, ci: int, kinds: tuple[str, ...]) -> array:
        """Institutions of country ``ci`` of one of ``kinds``; falls back to any kind in
        that country, then to every institution."""
        key = (ci, kinds)
        if key not in self._pool_cache:
            found = sorted(i for k in kinds for i in self.pools.get((ci, k), ()))
            if not found:
                found = sorted(i for (cc, _), p in self.pools.items() if cc == ci for i in p)
            self._pool_cache[key] = array("I", found or range(len(self.inst_rids)))
        return self._pool_cache[key]

    def money(self, c: Country, low: float, high: float) -> dict:
        """An amount worth between 10^low and 10^high US dollars (log-uniform), in the
        currency of ``c`` with two significant digits and the currency's minor units."""
        currency = c.currency
        if c.alt_currency and self.r() < 0.5:  # Cambodia prices much in dollars
            currency = c.alt_currency
        table = self.amounts.get((currency, low, high))
        if table is None:
            rate = 1.0 if currency == "USD" else c.usd_rate
            digits = vocab.currency_digits(currency)
            table = self.amounts[(currency, low, high)] = tuple(
                f"{_two_digits(10 ** (low + (high - low) * (k + 0.5) / 256) * rate):.{digits}f}"
                for k in range(256))
        return {"amount": table[int(self.r() * 256)], "currency": currency}

    def tech_rid(self, i: int) -> str:
        return self.rid_at("technology", self.tech_base + i)

    # --- institutions ----------------------------------------------------------------------
    def institutions(self, n: int) -> Iterator[dict]:
        for start in range(0, n, len(SLOTS)):
            block = list(SLOTS)
            self.rng.shuffle(block)
            for cc, kind in block[: n - start]:
                yield self.institution(self.d.country[cc], kind)

    def institution(self, c: Country, kind: str) -> dict:
        d = self.d
        flag = d.flagships.get((c.code, kind))
        if flag and (c.code, kind) not in self.flagships_used:
            self.flagships_used.add((c.code, kind))
            name = dict(flag["name"])
            city = next(x for x in c.cities if x.en == flag["city"])
            focus, host, ids = d.field_index[flag["focus"]], flag["host"], None
        else:
            city = self.city(c)
            brand = self.one(c.brands)
            if kind == "enterprise":
                sector = self.one(d.sectors)
                name = {lang: c.company[lang].format(
                            city=city.names.get(lang, city.en), brand=brand.get(lang, brand["en"]),
                            sector=sector.get(lang, sector["en"])) for lang in c.langs}
                focus = self.one(sector["fields"])
                host = f"{slug(brand['en'])}-{slug(sector['en']).split('-')[0]}"
            else:
                pattern = self.one(d.patterns_for(kind, c))
                if pattern.get("coastal"):
                    city = self.one(c.coastal)
                name = {lang: pattern["t"][lang].format(
                            city=city.names.get(lang, city.en), brand=brand.get(lang, brand["en"]))
                        for lang in c.langs}
                focus = self.one(pattern["fields"]) if pattern["fields"] else self.field().index
                host = acronym(name["en"])
            ids = self.identifiers(c, kind, city)
        f, kp, role = d.fields[focus], d.kind_phrases[kind], d.kind_roles[kind]
        where_en = city.en if city.en == c.names["en"] else f"{city.en}, {c.names['en']}"
        where_zh = city.names["zh-Hans"] if c.code == "SG" else c.names["zh-Hans"] + city.names["zh-Hans"]
        body = {
            "name": name, "kind": kind, "country": c.code, "city": city.en,
            "website": f"https://www.{host}.{c.domains[_KIND_SITE.get(kind, 'com')]}.example",
            "description": {
                "en": f"{name['en']} is {kp['en']} in {where_en}, working mainly in "
                      f"{f.area['en']}. {role['en']}",
                "zh-Hans": f"{name['zh-Hans']}是位于{where_zh}的{kp['zh-Hans']}，"
                           f"主要领域为{f.area['zh-Hans']}。{role['zh-Hans']}"},
        }
        if ids:
            body["identifiers"] = ids
        env = self.envelope("institution", body)
        i = len(self.inst_rids)
        self.inst_rids.append(env["rid"])
        self.inst_country.append(c.index)
        self.inst_kind.append(self.kinds.index(kind))
        self.inst_focus.append(focus)
        self.inst_city.append(city.index)
        self.pools.setdefault((c.index, kind), array("I")).append(i)
        return env

    def identifiers(self, c: Country, kind: str, city: City) -> dict | None:
        x, rng = self.r(), self.rng
        if kind == "enterprise" and c.code == "CN" and x < 0.7:
            return {"uscc": uscc(city.adcode, rng.getrandbits(40))}
        if kind == "university" and x < 0.5:
            return {"ror": ror(rng.getrandbits(30))}
        if kind == "enterprise" and c.code == "ID" and x < 0.5:
            return {"nib": str(rng.randrange(10**12, 10**13))}
        if kind == "enterprise" and c.code == "MY" and x < 0.5:
            return {"ssm": f"{rng.randrange(2005, 2024)}01{rng.randrange(10**6):06d}"}
        return None

    # --- technologies ----------------------------------------------------------------------
    def technologies(self, n: int, *, keep: bool) -> Iterator[dict]:
        # One flat loop with everything bound to locals: this is the bulk of every stream
        # (half the records at any scale, all of them for the import benchmarks).
        d, r, rng = self.d, self.r, self.rng
        owners = [(ci, self.pool(ci, ACADEMIC), self.pool(ci, ("enterprise",)),
                   0.65 if ci == self.cn else 0.45)
                  for ci in (d.country[cc].index for cc in TECH_COUNTRY)]
        owner_cum = cumulative(TECH_COUNTRY.values())
        owner_total, block, forced = owner_cum[-1], PER_SCALE["technology"], len(d.fields)
        fields, focus, field_cum = d.fields, self.inst_focus, d.field_cum
        field_total, frame_cum = field_cum[-1], d.frame_cum
        frame_total, titles = frame_cum[-1], d.titles
        countries, inst_country, inst_rids = d.countries, self.inst_country, self.inst_rids
        stages, statuses = vocab.STAGES, vocab.IP_STATUSES
        summaries: dict[tuple, dict] = {}
        ts, rid_at, origin, start_ms = d.events["tech_summary"], self.rid_at, self.origin, self.start_ms
        mode_sets, mode_cum = _mode_sets()
        for i in range(n):
            ci, academic, enterprise, p_academic = owners[bisect(owner_cum, r() * owner_total)]
            pool = academic if r() < p_academic else enterprise
            owner = pool[int(r() * len(pool))]
            if i % block < forced:  # every field appears in each block
                f = fields[i % block]
            elif r() < 0.6:
                f = fields[focus[owner]]
            else:
                f = fields[bisect(field_cum, r() * field_total)]
            c = countries[inst_country[owner]]
            lang = c.lang
            cores = f.by_lang[lang]
            core = cores[int(r() * len(cores))]
            t = titles[f.index][core][bisect(frame_cum, r() * frame_total)]
            title = {"zh-Hans": t["zh-Hans"], "en": t["en"], lang: t[lang]} if lang else \
                {"zh-Hans": t["zh-Hans"], "en": t["en"]}
            codes = [f.code]
            if r() < 0.35:
                g = fields[bisect(field_cum, r() * field_total)]
                if g is not f:
                    codes.append(g.code)
            ke, kz = f.keywords_en, f.keywords_zh
            a, b = int(r() * len(ke)), int(r() * len(kz))
            keywords = [ke[a], ke[(a + 1 + int(r() * (len(ke) - 1))) % len(ke)],
                        kz[b], kz[(b + 3) % len(kz)]]
            if f.keywords_overlap:
                keywords = list(dict.fromkeys(keywords))
            trl = 1 + bisect(_TRL_CUM, r() * _TRL_CUM[-1])
            stage = stages[bisect(_STAGE_CUM, r() * _STAGE_CUM[-1])]
            if trl < 6 and (stage == "transferred" or stage == "commercialised"):
                trl += 3
            m = bisect(mode_cum, r() * mode_cum[-1])
            status = statuses[bisect(_IP_CUM, r() * _IP_CUM[-1])]
            if status == "none" or status == "trade_secret":
                ip: dict = {"status": status}
            else:
                year = (2006 if status == "expired" else 2015) + int(r() * 9)
                serial, x = rng.getrandbits(24), r()
                ip = {"status": status, "patents": [
                    patent(c.code, year + j, serial + 7919 * j, status != "pending")
                    for j in range(1 if x < 0.6 else 2 if x < 0.9 else 3)]}
            key = (f.index, int(r() * len(f.benefits)), trl, m)
            summary = summaries.get(key)
            if summary is None:
                benefit, (modes_en, modes_zh) = f.benefits[key[1]], mode_sets[m][1]
                summary = summaries[key] = {
                    "en": f"{benefit['en']} {ts['en'].format(trl=trl, modes=modes_en)}",
                    "zh-Hans": benefit["zh-Hans"] + ts["zh-Hans"].format(trl=trl, modes=modes_zh)}
            x, pos = r(), self.pos
            self.pos = pos + 1
            yield {"rid": rid_at("technology", pos), "kind": "technology", "origin": origin,
                   "version": 1, "hlc": f"{start_ms + pos:013d}-0000",
                   "visibility": "private" if x < 0.03 else "alliance" if x < 0.13 else "public",
                   "deleted": False, "body": {
                       "title": title, "summary": dict(summary), "owner": inst_rids[owner],
                       "fields": codes, "keywords": keywords, "trl": trl, "ip": ip,
                       "transfer_modes": list(mode_sets[m][0]), "stage": stage},
                   "sigs": []}
            if keep:
                self.tech_owner.append(owner)
                self.tech_core.append(f.index << 4 | core)
            self.n_tech += 1
