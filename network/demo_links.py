"""The demo alliance's records that point at others: demands, events, agreements and
endorsements.

They follow the institutions and technologies in the stream and refer to them by rid (a
technology's rid is recomputed from its stream position); agreements also point at events,
endorsements at agreements by rid and content hash. See :mod:`.demo`.
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Iterator

from . import vocab
from .demo_data import cumulative, data, day_number
from .envelope import content_hash

if TYPE_CHECKING:
    from .demo import Alliance

ACADEMIC = ("university", "research_institute")
INTERMEDIARY = ("transfer_centre", "government", "park_incubator", "association")
ORGANISER = ("government", "transfer_centre", "association")
_AGREEMENT_CUM = cumulative((24, 12, 20, 16, 8, 8, 12))                   # AGREEMENT_KINDS
_YEAR_CUM = cumulative((6, 7, 10, 13, 17, 21, 26))                        # 2019 … 2025
_STATUS_BY_AGE = {  # completed, active, terminated — older agreements have mostly ended
    "old": cumulative((60, 25, 15)), "mid": cumulative((35, 55, 10)), "new": cumulative((10, 85, 5))}
_YEAR_START = tuple(day_number(year) for year in range(2019, 2026))
_ROLES = {"framework": ("partner", "partner"), "joint_lab": ("provider", "partner")}
#: one agreement in every ENDORSE_EVERY is endorsed by one of its parties
ENDORSE_EVERY = 8


@lru_cache(maxsize=4096)
def _title(kind: str, field: int, core: int | None) -> dict:
    d = data()
    labels, f = d.events["agreement_kinds"][kind], d.fields[field]
    if core is None:
        return {"en": f"{labels['en']} on {f.area['en']}",
                "zh-Hans": f"{f.area['zh-Hans']}领域{labels['zh-Hans']}"}
    text = f.cores[core]
    return {"en": f"{labels['en']}: {text['en']}", "zh-Hans": text["zh-Hans"] + labels["zh-Hans"]}


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def demand(g: Alliance) -> dict:
    """A need posted mostly by an ASEAN enterprise, titled in English and its own language."""
    d, r = g.d, g.r
    ci = g.cn if r() < 0.1 else g.asean()
    req = g.one(g.pool(ci, ("enterprise",)) if r() < 0.85 else g.pool(ci, g.kinds))
    c = d.countries[g.inst_country[req]]
    lang = c.lang
    f = d.fields[g.inst_focus[req]] if r() < 0.5 else g.field()
    frames = d.demand_titles[f.index][g.one(f.by_lang[lang])]
    t = frames[int(r() * len(frames))]
    title = {"en": t["en"]}
    if lang:
        title[lang] = t[lang]
    if not lang or r() < 0.4:
        title["zh-Hans"] = t["zh-Hans"]
    texts = d.events["demand_summaries"]
    a = int(r() * len(texts))
    key = (c.index, g.inst_city[req], a, (a + 1 + int(r() * (len(texts) - 1))) % len(texts),
           "zh-Hans" in title)
    summary = g.summaries.get(key)
    if summary is None:  # two of a few sentences about the requester's city and country
        city, pair = c.cities[key[1]], (texts[key[2]], texts[key[3]])
        summary = {"en": " ".join(
            s["en"].format(city=city.en, country=c.names["en"]) for s in pair)}
        if key[4]:
            summary["zh-Hans"] = "".join(s["zh-Hans"].format(
                city=city.names["zh-Hans"], country=c.names["zh-Hans"]) for s in pair)
        g.summaries[key] = summary
    if c.index == g.cn:
        countries = sorted({d.countries[g.asean()].code for _ in range(1 + int(r() * 3))})
    else:
        countries = ["CN"]
        if r() < 0.3:
            other = d.countries[g.asean()].code
            if other != c.code:
                countries.append(other)
    body = {"title": title, "summary": dict(summary), "requester": g.inst_rids[req],
            "fields": [f.code], "keywords": [g.one(f.keywords_en), g.one(f.keywords_zh)],
            "trl_min": 3 + int(r() * 5),
            "budget": g.money(c, 4.3, 6.3),
            "deadline": g.days[g.deadline0 + int(r() * 1000)],
            "countries": countries}
    return g.envelope("demand", body, g.visibility())


def event(g: Alliance, j: int) -> dict:
    """The ``j``-th event: the alliance's annual events in Nanning, matchmaking sessions,
    roadshows of Chinese technologies in ASEAN cities, forums and salons."""
    d, r = g.d, g.r
    ev = d.events
    slot = ev["event_slots"][j % len(ev["event_slots"])]
    spec = ev["events"][slot]
    if "city" in spec:
        c = d.countries[g.cn]
        city = next(x for x in c.cities if x.en == spec["city"])
    else:
        abroad = spec.get("abroad") or r() < (0.5 if slot == "matchmaking" else 0.6)
        c = d.countries[g.asean() if abroad else g.cn]
        city = g.city(c)
    series = "series_start" in spec or slot == "competition"  # one edition a year
    year = 2019 + (j // len(ev["event_slots"])) % 7 if series else 2019 + int(r() * 7)
    if "month" in spec:
        starts = day_number(year, spec["month"], 10 + int(r() * 10))
    else:
        starts = day_number(year, 1 + int(r() * 12), 1 + int(r() * 28))
    ends = starts + spec["days"] - 1
    f = g.field()
    n = year - spec.get("series_start", 0)
    langs = ["zh-Hans", "en"]
    if c.lang and c.lang in spec["name"]:
        langs.append(c.lang)
    elif c.index == g.cn and series:
        langs += [lang for lang in ("id", "th", "vi") if lang in spec["name"]]
    name = {lang: spec["name"][lang].format(
                n=n, nth=ordinal(n), year=year, city=city.names.get(lang, city.en),
                area=f.labels.get(lang, f.labels["en"])) for lang in langs}
    if series:  # the hub in Nanning (the first Chinese transfer centre and government)
        organisers = [g.inst_rids[g.pool(g.cn, (k,))[0]] for k in ("transfer_centre", "government")]
    else:
        organisers = [g.inst_rids[g.one(g.pool(c.index, ORGANISER))]]
        if c.index != g.cn:
            organisers.append(g.inst_rids[g.pool(g.cn, ("transfer_centre",))[0]])
    host_all, total = g.pool(c.index, g.kinds), len(g.inst_rids)
    n_host = len(host_all)
    participants = dict.fromkeys(host_all[int(r() * n_host)] if r() < 0.4 else int(r() * total)
                                 for _ in range(8 + int(r() * 23)))
    shown = dict.fromkeys(int(r() * g.n_tech) for _ in range(5 + int(r() * 16))) if g.n_tech else {}
    summary = {lang: text.format(p=len(participants), t=len(shown))
               for lang, text in ev["event_summary"].items()}
    body = {"name": name, "kind": spec["kind"], "summary": summary,
            "starts_on": g.days[starts], "ends_on": g.days[ends],
            "country": c.code, "city": city.en,
            "organisers": list(dict.fromkeys(organisers)),
            "participants": [g.inst_rids[i] for i in participants],
            "technologies": [g.tech_rid(i) for i in shown]}
    env = g.envelope("event", body)
    g.events.append((env["rid"], ends))
    return env


def agreement(g: Alliance, j: int) -> dict:
    """The ``j``-th agreement: mostly a Chinese university or institute licensing to an
    ASEAN enterprise, also intra-ASEAN and domestic deals; some signed at an event."""
    d, r = g.d, g.r
    endorsed = j % ENDORSE_EVERY == 0
    kind = vocab.AGREEMENT_KINDS[g.pick(_AGREEMENT_CUM)]
    tech = None
    if g.n_tech and g.tech_owner and (kind in ("licence", "assignment") or (
            kind in ("joint_rd", "technical_service") and r() < 0.5)):
        for _ in range(3):  # providers are mostly Chinese universities and institutes
            tech = int(r() * len(g.tech_owner))
            provider = g.tech_owner[tech]
            if g.inst_country[provider] == g.cn and g.kinds[g.inst_kind[provider]] in ACADEMIC:
                break
        f = d.fields[g.tech_core[tech] >> 4]
    else:
        provider = g.one(g.pool(g.cn if r() < 0.65 else g.asean(), ACADEMIC))
        f = d.fields[g.inst_focus[provider]] if r() < 0.6 else g.field()
    pc, x = g.inst_country[provider], r()
    if pc == g.cn:
        rc = g.cn if x < 0.2 else g.asean()
    else:
        rc = pc if x < 0.35 else g.cn if x > 0.7 else g.asean()
    recipient = g.one(g.pool(rc, ("enterprise",)))
    if recipient == provider:
        recipient = g.one(g.pool(g.cn if pc != g.cn else g.asean(), ("enterprise",)))
    roles = _ROLES.get(kind, ("provider", "recipient"))
    members = [provider, recipient]
    if r() < 0.3:  # a transfer centre, park or agency brokered the deal
        third = g.one(g.pool(g.cn if r() < 0.5 else rc, INTERMEDIARY))
        if third not in members:
            members.append(third)
    parties = [{"institution": g.inst_rids[m], "role": role}
               for m, role in zip(members, roles + ("partner",))]
    body: dict = {"kind": kind}
    status = "proposed" if not endorsed and r() < 0.08 else None
    if g.events and r() < 0.25:  # signed at a matchmaking event: one of its outcomes
        body["event"], signed = g.one(g.events)
    else:
        signed = _YEAR_START[g.pick(_YEAR_CUM)] + int(r() * 365)
    signed_on = g.days[signed]
    year = int(signed_on[:4])
    if status is None:
        age = "old" if year <= 2021 else "mid" if year <= 2023 else "new"
        status = ("completed", "active", "terminated")[g.pick(_STATUS_BY_AGE[age])]
    if tech is not None:
        body["technology"] = g.tech_rid(tech)
    body["title"] = dict(_title(kind, f.index, None if tech is None else g.tech_core[tech] & 15))
    body["parties"] = parties
    body["fields"] = [f.code]
    if status != "proposed":
        body["signed_on"] = signed_on
        if r() < 0.8:
            payer = d.countries[rc] if r() < 0.6 else d.countries[g.cn]
            body["value"] = g.money(payer, 4, 6.5)
        cn_party = [m for m in members if g.inst_country[m] == g.cn]
        if cn_party and r() < 0.4:  # registered as a Chinese technology contract
            adcode = d.countries[g.cn].cities[g.inst_city[cn_party[0]]].adcode
            body["registration_no"] = f"{year}{adcode}{int(r() * 10**6):06d}"
    body["status"] = status
    env = g.envelope("agreement", body, "public" if endorsed else g.visibility())
    if endorsed:
        party = parties[(j // ENDORSE_EVERY) % len(parties)]["institution"]
        g.endorse.append((env["rid"], content_hash(env), party))
    return env


def endorsements(g: Alliance) -> Iterator[dict]:
    """One party's endorsement of version 1 of every ``ENDORSE_EVERY``-th agreement."""
    for agreement_rid, digest, party in g.endorse:
        yield g.envelope("endorsement", {"agreement": agreement_rid, "version": 1,
                                         "content_hash": digest, "party": party})
