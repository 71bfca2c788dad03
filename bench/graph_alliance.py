"""A large alliance for the graph benchmark: the demo's institutions, technologies, demands
and events (``network/demo.py``), and many agreements per institution.

``alliance(n, seed)`` streams valid, unsigned envelopes: about n/50 institutions in the
twelve countries (China and ASEAN, weighted like the demo's ASEAN table; ~40% enterprises),
n/10 technologies, n/20 demands, n/1000 events, then ``n`` agreements. Each agreement has a
provider and a recipient, sometimes a partner that brokered it; who takes part is drawn
with a heavy-tailed weight per institution, so a few hubs hold thousands of agreements and
most institutions a handful — the shape that makes neighbourhoods and paths realistic.
Agreements are signed 2015–2025 (some at events, some still proposed), in several kinds,
statuses and fields, valued in the payer's currency, CNY or USD; most are public.

Everything comes from one ``random.Random(seed)``: the same arguments give the same stream.
"""
from __future__ import annotations

from array import array
from bisect import bisect
from datetime import date, timedelta
from typing import Iterator

from jembatan.network import demo, demo_links, vocab
from jembatan.network.demo_data import cumulative

ORIGIN = "bench-graph"
SEED = 5

#: the countries' shares of institutions: China, then ASEAN as the demo weighs its members
CHINA_SHARE = 0.35
#: institution kinds (vocab.INSTITUTION_KINDS order): ~40% enterprises
_KIND_CUM = cumulative((18, 12, 40, 8, 6, 6, 4, 6))
_AGREEMENT_CUM = cumulative((24, 12, 20, 16, 8, 8, 12))         # vocab.AGREEMENT_KINDS
_YEARS = tuple(range(2015, 2026))
_YEAR_CUM = cumulative((3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16))    # more every year
_STATUS_CUM = {  # completed, active, terminated: older agreements have mostly ended
    "old": cumulative((65, 20, 15)), "mid": cumulative((40, 50, 10)), "new": cumulative((10, 85, 5))}
_ROLES = {"framework": ("partner", "partner"), "joint_lab": ("provider", "partner")}
#: Pareto shape of an institution's pull: smaller is more skewed (a few big hubs)
HUB_SHAPE = 1.3
ACADEMIC = ("university", "research_institute")
INTERMEDIARY = ("transfer_centre", "government", "park_incubator", "association")


def counts(n: int) -> dict[str, int]:
    """Records per kind that ``alliance(n)`` yields."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 100:
        raise ValueError(f"n must be an integer ≥ 100, not {n!r}")
    return {"institution": max(24, n // 50), "technology": n // 10, "demand": n // 20,
            "event": max(1, n // 1000), "agreement": n}


def alliance(n: int, seed: int = SEED, origin: str = ORIGIN) -> Iterator[dict]:
    """Stream the alliance's envelopes (version 1, unsigned, all from ``origin``):
    institutions, technologies, demands, events, agreements, in that order."""
    c = counts(n)
    g = demo.Alliance(origin, seed, demo.DEFAULT_START_MS, c["institution"])
    yield from _institutions(g, c["institution"])
    yield from g.technologies(c["technology"], keep=True)
    for _ in range(c["demand"]):
        yield demo_links.demand(g)
    for j in range(c["event"]):
        yield demo_links.event(g, j)
    yield from Agreements(g).stream(c["agreement"])


def _institutions(g: demo.Alliance, n: int) -> Iterator[dict]:
    """One per country first (so every country has members at any size), then weighted."""
    d, r = g.d, g.r
    asean = tuple(demo.ASEAN)
    asean_cum = cumulative(demo.ASEAN.values())
    kinds = vocab.INSTITUTION_KINDS
    for i in range(n):
        if i < len(vocab.ALLIANCE_COUNTRIES):
            cc = vocab.ALLIANCE_COUNTRIES[i]
        else:
            cc = "CN" if r() < CHINA_SHARE else asean[bisect(asean_cum, r() * asean_cum[-1])]
        yield g.institution(d.country[cc], kinds[bisect(_KIND_CUM, r() * _KIND_CUM[-1])])


class _Pool:
    """Institutions drawn by weight: a bisect over cumulative weights."""
    __slots__ = ("members", "cum", "total")

    def __init__(self, members: list[int], weight: array):
        self.members = members
        self.cum = cumulative(weight[i] for i in members)
        self.total = self.cum[-1]

    def draw(self, r) -> int:
        return self.members[bisect(self.cum, r() * self.total)]


class Agreements:
    """The agreements' generator over the institutions and technologies ``g`` made."""

    def __init__(self, g: demo.Alliance):
        self.g, self.d, self.r = g, g.d, g.r
        # an institution's pull on partners: Pareto, a few hubs and a long tail
        paretovariate = g.rng.paretovariate
        self.weight = array("d", (paretovariate(HUB_SHAPE) for _ in g.inst_rids))
        self.pools: dict[tuple[int, str], _Pool] = {}
        self.owned: dict[int, list[int]] = {}
        for t, owner in enumerate(g.tech_owner):
            self.owned.setdefault(owner, []).append(t)
        first = date(_YEARS[0], 1, 1)
        self.days = tuple((first + timedelta(days=k)).isoformat()
                          for k in range((date(_YEARS[-1] + 1, 1, 1) - first).days))
        self.year_start = tuple((date(y, 1, 1) - first).days for y in _YEARS)
        self.asean = tuple(g.d.country[cc].index for cc in demo.ASEAN)
        self.asean_cum = cumulative(demo.ASEAN.values())
        self.titles: dict[tuple[str, int], dict] = {}

    def pool(self, ci: int, group: str) -> _Pool:
        """Country ``ci``'s institutions of a group of kinds (``any``: all of them); falls
        back to the country's any, then to every institution."""
        key = (ci, group)
        if key not in self.pools:
            g = self.g
            kinds = {"academic": ACADEMIC, "enterprise": ("enterprise",),
                     "intermediary": INTERMEDIARY}.get(group, vocab.INSTITUTION_KINDS)
            members = [i for i in range(len(g.inst_rids)) if g.inst_country[i] == ci
                       and vocab.INSTITUTION_KINDS[g.inst_kind[i]] in kinds]
            if not members:
                members = [i for i in range(len(g.inst_rids)) if g.inst_country[i] == ci] \
                    or list(range(len(g.inst_rids)))
            self.pools[key] = _Pool(members, self.weight)
        return self.pools[key]

    def country(self) -> int:
        return self.asean[bisect(self.asean_cum, self.r() * self.asean_cum[-1])]

    def title(self, kind: str, field: int) -> dict:
        key = (kind, field)
        if key not in self.titles:
            labels, f = self.d.events["agreement_kinds"][kind], self.d.fields[field]
            self.titles[key] = {"en": f"{labels['en']} on {f.area['en']}",
                                "zh-Hans": f"{f.area['zh-Hans']}领域{labels['zh-Hans']}"}
        return self.titles[key]

    def stream(self, n: int) -> Iterator[dict]:
        for _ in range(n):
            yield self.one()

    def one(self) -> dict:
        g, d, r = self.g, self.d, self.r
        cn = g.cn
        kind = vocab.AGREEMENT_KINDS[bisect(_AGREEMENT_CUM, r() * _AGREEMENT_CUM[-1])]
        x = r()
        pc = cn if r() < 0.6 else self.country()
        provider = self.pool(pc, "academic" if x < 0.65 else "enterprise" if x < 0.9
                             else "any").draw(r)
        x = r()
        if pc == cn:
            rc = cn if x < 0.2 else self.country()
        else:
            rc = pc if x < 0.35 else cn if x > 0.7 else self.country()
        recipient = self.pool(rc, "enterprise" if r() < 0.8 else "any").draw(r)
        for _ in range(3):
            if recipient != provider:
                break
            recipient = self.pool(self.country(), "any").draw(r)
        else:
            recipient = (provider + 1) % len(g.inst_rids)
        members = [provider, recipient]
        if r() < 0.25:  # a transfer centre, park or agency brokered the deal
            third = self.pool(cn if r() < 0.5 else rc, "intermediary").draw(r)
            if third not in members:
                members.append(third)
        roles = _ROLES.get(kind, ("provider", "recipient")) + ("partner",)
        body: dict = {"kind": kind}
        tech = None
        owned = self.owned.get(provider)
        if owned and (kind in ("licence", "assignment") and r() < 0.7
                      or kind == "joint_rd" and r() < 0.3):
            tech = owned[int(r() * len(owned))]
            field = g.tech_core[tech] >> 4
            body["technology"] = g.tech_rid(tech)
        else:
            field = g.inst_focus[provider] if r() < 0.6 else g.field().index
        body["title"] = dict(self.title(kind, field))
        body["parties"] = [{"institution": g.inst_rids[m], "role": role}
                           for m, role in zip(members, roles)]
        fields = [d.fields[field].code]
        if r() < 0.15:
            other = g.field().code
            if other != fields[0]:
                fields.append(other)
        body["fields"] = fields
        if r() < 0.05:
            body["status"] = "proposed"
        else:
            if g.events and r() < 0.1:  # signed at a matchmaking event: one of its outcomes
                rid, ends = g.one(g.events)
                body["event"], signed_on = rid, g.days[ends]
            else:
                y = bisect(_YEAR_CUM, r() * _YEAR_CUM[-1])
                signed_on = self.days[self.year_start[y] + int(r() * 365)]
            body["signed_on"] = signed_on
            year = int(signed_on[:4])
            if r() < 0.75:
                x = r()
                payer = d.countries[rc if x < 0.5 else cn if x < 0.8 else d.country["TL"].index]
                body["value"] = g.money(payer, 4, 6.5)      # TL prices in US dollars
            if r() < 0.3 and any(g.inst_country[m] == cn for m in members):
                body["registration_no"] = f"{year}450100{int(r() * 10**6):06d}"
            age = "old" if year <= 2019 else "mid" if year <= 2022 else "new"
            cum = _STATUS_CUM[age]
            body["status"] = ("completed", "active", "terminated")[bisect(cum, r() * cum[-1])]
        return g.envelope("agreement", body, g.visibility())
