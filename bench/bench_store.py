"""Store latency at the largest imported size: get, list (with filters and cursors) and
search in Chinese, Thai, Indonesian and English, p50/p99 over many queries."""
from __future__ import annotations

import random
import re
from dataclasses import replace
from pathlib import Path

from jembatan.api.node import load_node
from jembatan.graph import open_store
from jembatan.graph.store import LOCAL, PUBLIC, RecordQuery

from .common import measure

QUERIES = 1000


def _terms(store, rng: random.Random) -> dict[str, list[str]]:
    """Search terms taken from stored titles: 2-char Chinese substrings, Thai and Latin words."""
    terms: dict[str, list[str]] = {"zh (2 chars)": [], "th (word)": [], "id (word)": [], "en (word)": []}
    page = store.list(RecordQuery(kinds=("technology",), scope=LOCAL, limit=500))
    for rec in page.items:
        title = rec.envelope["body"]["title"]
        zh = title.get("zh-Hans", "")
        if len(zh) >= 4:
            i = rng.randrange(len(zh) - 2)
            if re.fullmatch(r"[\u4e00-\u9fff]{2}", zh[i:i + 2]):
                terms["zh (2 chars)"].append(zh[i:i + 2])
        if "th" in title:
            terms["th (word)"].append(rng.choice(["พลังงาน", "ระบบ", "การเกษตร", "วัสดุ", "ข้าว",
                                                   "แบตเตอรี่", "น้ำ", "อัจฉริยะ"]))
        for lang in ("id", "en"):
            words = [w for w in re.findall(r"[A-Za-z]{5,}", title.get(lang, ""))]
            if words:
                terms[f"{lang} (word)"].append(rng.choice(words))
    return {k: v for k, v in terms.items() if v}


def run(home: Path) -> list[list]:
    store = open_store(load_node(home).store_url)
    rng = random.Random(7)
    total = sum(store.counts().values())
    rids = [r.rid for r in store.list(RecordQuery(kinds=("technology",), scope=LOCAL, limit=500)).items]
    # rids spread over the whole table, not only the newest page
    rids += [rec.rid for i, rec in enumerate(store.changes(rng.randrange(total // 2), 500)) if i % 2 == 0]
    rows = []
    gets = [rng.choice(rids) for _ in range(QUERIES * 5)]
    rows.append(["get by rid", measure(lambda rid: store.get(rid, PUBLIC), gets)])
    filters = [RecordQuery(kinds=("technology",), limit=20),
               RecordQuery(kinds=("technology",), country="TH", limit=20),
               RecordQuery(kinds=("technology",), field="energy_storage", trl_min=5, limit=20),
               RecordQuery(kinds=("technology",), stage="negotiating", limit=20)]
    rows.append(["list, first page (4 filter sets)",
                 measure(lambda q: store.list(q), [rng.choice(filters) for _ in range(QUERIES)])])
    cursors = []
    for q in filters:
        page = store.list(q)
        for _ in range(5):
            if page.next_cursor:
                cursors.append(replace(q, cursor=page.next_cursor))
                page = store.list(cursors[-1])
    rows.append(["list, following pages (cursor)",
                 measure(lambda q: store.list(q), [rng.choice(cursors) for _ in range(QUERIES)])])
    for lang, words in _terms(store, rng).items():
        q = RecordQuery(kinds=("technology",), limit=20)
        rows.append([f"search {lang}",
                     measure(lambda w: store.search(w, q), [rng.choice(words) for _ in range(QUERIES // 2)])])
    store.close()
    return [[name, f"{total:,}", round(p["p50_ms"], 2), round(p["p99_ms"], 2), p["n"]] for name, p in rows]
