"""Matching quality on the labelled evaluation set (``bench/match_eval``).

Every demand of the set is matched (``score.rank``) against the set's 140 technologies,
alone and hidden among the demo's generated technologies (distractors in the same fields and
languages), and scored by recall@10 (the share of relevant technologies in the first ten)
and MRR (the mean of 1 / the rank of the first relevant technology). Pairs are named
"demand language → technology language", the technology's language being its title's (the
Chinese one when it has Chinese and English). The ablation runs the same with one signal's
weight set to 0, and with one signal alone.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict

from jembatan.graph.match import score
from jembatan.graph.match.features import features
from jembatan.graph.match.index import MatchIndex
from jembatan.graph.store import PUBLIC
from jembatan.network import demo
from jembatan.network.envelope import make_envelope
from jembatan.network.hlc import format_hlc
from jembatan.network.ids import new_rid

from .match_eval import load, title_languages

ORIGIN = "match-eval"


def rid(kind: str, key: str) -> str:
    digest = hashlib.sha256(f"{kind}/{key}".encode()).digest()
    return new_rid(ORIGIN, kind, ms=1_700_000_000_000, rand=digest[:10])


def _envelope(rid_: str, body: dict, n: int) -> dict:
    return make_envelope(rid=rid_, body=body, version=1, visibility="public",
                         hlc=format_hlc(1_700_000_000_000, n))


def envelopes() -> tuple[list[dict], dict[str, str], list[tuple[dict, dict]]]:
    """(every envelope, technology key → rid, [(demand entry, demand envelope)]): unsigned
    version-1 envelopes, valid records of the schemas."""
    technologies, demands = load()
    out, tech_rids, demand_envs = [], {}, []
    for side, entries, country_key, party in (("technology", technologies, "owner_country", "owner"),
                                              ("demand", demands, "requester_country", "requester")):
        for e in entries:
            inst = rid("institution", e["key"])
            out.append(_envelope(inst, {"name": {"en": e["key"]}, "kind": "enterprise",
                                        "country": e[country_key]}, len(out)))
            env = _envelope(rid(side, e["key"]), {**e["body"], party: inst}, len(out))
            out.append(env)
            if side == "technology":
                tech_rids[e["key"]] = env["rid"]
            else:
                demand_envs.append((e, env))
    return out, tech_rids, demand_envs


def language(entry: dict) -> str:
    langs = title_languages(entry)
    return "zh-Hans" if "zh-Hans" in langs else sorted(langs)[0]


def evaluate(index: MatchIndex, tech_rids: dict[str, str], demand_envs, tech_lang: dict[str, str],
             weights: dict[str, float]) -> dict:
    """{"recall": {pair: (value, n)}, "mrr": {demand language: value}} with "all" in both."""
    hits, ranks = defaultdict(list), defaultdict(list)
    for entry, env in demand_envs:
        query = score.query_of(index, features(env), entry["requester_country"])
        order = [c.rid for c in score.rank(index, query, PUBLIC, limit=100, weights=weights)]
        first10 = set(order[:10])
        lang = language(entry)
        for key in entry["relevant"]:
            hit = 1.0 if tech_rids[key] in first10 else 0.0
            hits[f"{lang} → {tech_lang[key]}"].append(hit)
            hits["all"].append(hit)
            hits["across languages" if lang != tech_lang[key] else "same language"].append(hit)
        found = [order.index(tech_rids[k]) + 1 for k in entry["relevant"] if tech_rids[k] in order]
        rr = 1 / min(found) if found else 0.0
        ranks[lang].append(rr)
        ranks["all"].append(rr)
    return {"recall": {k: (sum(v) / len(v), len(v)) for k, v in hits.items()},
            "mrr": {k: sum(v) / len(v) for k, v in ranks.items()}}


def index_with(distractors: int, encoder=None) -> tuple[MatchIndex, dict, list, dict]:
    envs, tech_rids, demand_envs = envelopes()
    if distractors:
        envs = list(demo.technologies(distractors)) + envs
    index = MatchIndex(encoder).build(envs)
    technologies, _ = load()
    tech_lang = {t["key"]: language(t) for t in technologies}
    return index, tech_rids, demand_envs, tech_lang


def ablation_weights() -> list[tuple[str, dict[str, float]]]:
    rows = [("all signals", dict(score.WEIGHTS))]
    for name in score.SIGNALS:
        rows.append((f"without {name}", {**score.WEIGHTS, name: 0.0}))
    for name in ("text", "concepts", "fields"):
        rows.append((f"{name} alone", {s: (1.0 if s == name else 0.0) for s in score.SIGNALS}))
    return rows


def run(distractor_counts=(0, 10_000)) -> tuple[list[list], list[list], list[list]]:
    """(per pair rows, per demand language MRR rows, ablation rows)."""
    per_pair: dict[str, dict[int, tuple]] = defaultdict(dict)
    mrr: dict[str, dict[int, float]] = defaultdict(dict)
    ablation = []
    for n in distractor_counts:
        built = index_with(n)
        result = evaluate(*built, score.WEIGHTS)
        for pair, value in result["recall"].items():
            per_pair[pair][n] = value
        for lang, value in result["mrr"].items():
            mrr[lang][n] = value
        for name, weights in ablation_weights():
            r = result if name == "all signals" else evaluate(*built, weights)
            ablation.append([f"{n:,}", name, f"{r['recall']['all'][0]:.3f}", f"{r['mrr']['all']:.3f}"])
        print(f"  match quality with {n:,} distractors: recall@10 "
              f"{result['recall']['all'][0]:.3f}, MRR {result['mrr']['all']:.3f}", flush=True)
    order = sorted(per_pair, key=lambda p: (p not in ("all", "across languages", "same language"),
                                            -per_pair[p][distractor_counts[0]][1], p))
    pair_rows = [[p, per_pair[p][distractor_counts[0]][1]] +
                 [f"{per_pair[p][n][0]:.3f}" for n in distractor_counts] for p in order]
    mrr_rows = [[lang] + [f"{mrr[lang][n]:.3f}" for n in distractor_counts]
                for lang in sorted(mrr, key=lambda k: (k != "all", k))]
    return pair_rows, mrr_rows, ablation
