"""A node on Neo4j answers the REST API with the same JSON as the same node on SQLite.

Two node directories with the same node id: one on its SQLite file, one with
``JEMBATAN_STORE`` naming the session's real Neo4j server (``neo4j_server``; its one database
is emptied first). Both are made, filled and served by the real ``jembatan`` command
(init, import, token create, serve with gunicorn on port 0), then asked the same questions:
every list with filters (cursors followed to the end: the cursors themselves differ, the
items must not), gets, searches in Chinese, Thai and Indonesian, /healthz, and bad requests.
Then the same writes go to both, and the questions are asked again.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from jembatan.network.demo import generate
from jembatan.network.envelope import canonical_bytes

from nodes import CLI, first_line

NODE_ID = "parity-node"
DEMO = list(generate(1, origin=NODE_ID))
PLURALS = {"institution": "institutions", "technology": "technologies", "demand": "demands",
           "agreement": "agreements", "event": "events"}


def _first(kind: str) -> dict:
    return next(e for e in DEMO if e["kind"] == kind)


OWNER = _first("technology")["body"]["owner"]
REQUESTER = _first("demand")["body"]["requester"]
PARTY = _first("agreement")["body"]["parties"][0]["institution"]
ORGANISER = _first("event")["body"]["organisers"][0]
PRIVATE = next(e for e in DEMO if e["visibility"] == "private")
MIDDLE = "2024-01-01T00:00:00.250Z"   # the demo's changes are 1 ms apart from 2024-01-01

LISTS = {
    "technologies": ["", "country=TH", "country=CN&field=new_energy", "field=modern_agriculture",
                     "trl_min=4&trl_max=6", "trl_min=8", "stage=matched", f"owner={OWNER}",
                     f"party={OWNER}", "visibility=alliance", "visibility=private",
                     f"updated_since={MIDDLE}", "include_deleted=true"],
    "demands": ["", "country=ID", "field=modern_agriculture", "trl_min=3",
                f"requester={REQUESTER}", "visibility=alliance"],
    "agreements": ["", "country=TH", f"party={PARTY}", "field=new_energy", "visibility=private"],
    "events": ["", "country=CN", f"party={ORGANISER}"],
    "institutions": ["", "country=TH", "country=ID", f"updated_since={MIDDLE}"],
}
SEARCHES = ["q=电池", "q=技术", "q=技术&kind=technology&country=CN", "q=อัจฉริยะ",
            "q=อัจฉริยะ&kind=demand", "q=pintar", "q=teknologi", "q=teknologi&field=marine",
            "q=Guangxi", "q=durian", "q=Fusarium wilt"]
ERRORS = [
    ("GET", "/api/v1/technologies?cursor=not-a-cursor"),
    ("GET", "/api/v1/technologies?limit=0"),
    ("GET", "/api/v1/technologies?limit=501"),
    ("GET", "/api/v1/technologies?country=XX"),
    ("GET", "/api/v1/technologies?trl_min=7&trl_max=3"),
    ("GET", "/api/v1/technologies?bogus=1"),
    ("GET", "/api/v1/technologies?field=rocket_science"),
    ("GET", f"/api/v1/technologies?owner={OWNER}&party={REQUESTER}"),
    ("GET", "/api/v1/technologies/not-a-rid"),
    ("GET", f"/api/v1/technologies/{OWNER}"),
    ("GET", "/api/v1/technologies/urn:jembatan:parity-node:technology:0190a5b0-0000-7000-8000-00000000ffff"),
    ("GET", f"/api/v1/{PLURALS[PRIVATE['kind']]}/{PRIVATE['rid']}"),   # private: 404 for anonymous
    ("GET", "/api/v1/search"),
    ("GET", "/api/v1/search?q=a&kind=nothing"),
    ("GET", "/api/v1/search?q=" + "x" * 201),
    ("POST", "/api/v1/technologies"),
    ("DELETE", f"/api/v1/technologies/{_first('technology')['rid']}"),
]


# -- two real nodes -------------------------------------------------------------------------

def empty_neo4j(server) -> None:
    """Delete every node of the test server's one database (constraints and indexes stay)."""
    import neo4j

    with neo4j.GraphDatabase.driver(server.uri, auth=(server.user, server.password)) as driver:
        with driver.session(database="neo4j") as session:
            session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()


def _run(env: dict, *args: str) -> str:
    done = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"jembatan {' '.join(args)}: {done.stderr}"
    return done.stdout


@dataclass
class Node:
    name: str
    home: Path
    env: dict
    url: str = ""
    tokens: dict = field(default_factory=dict)
    proc: Any = None
    http: requests.Session = field(default_factory=requests.Session)

    def request(self, method: str, path: str, role: str | None = None, **kw) -> requests.Response:
        headers = dict(kw.pop("headers", None) or {})
        if role:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        return self.http.request(method, self.url.rstrip("/") + path, headers=headers,
                                 timeout=60, allow_redirects=False, **kw)


def _start(name: str, home: Path, env: dict, data: Path, keys_from: Path | None = None) -> Node:
    node = Node(name, home, env)
    _run(env, "init", "--dir", str(home), "--name", "Parity Node", "--country", "ID",
         "--node-id", NODE_ID)
    if keys_from is not None:   # the same node on another store: the same keys sign its records
        shutil.rmtree(home / "keys")
        shutil.copytree(keys_from / "keys", home / "keys")
        shutil.copy2(keys_from / "keys.json", home / "keys.json")
    _run(env, "import", "--dir", str(home), str(data))
    for role in ("viewer", "editor"):
        node.tokens[role] = _run(env, "token", "create", "--dir", str(home), "--role", role).strip()
    node.proc = subprocess.Popen([*CLI, "serve", "--dir", str(home), "--port", "0"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                 env=env)
    line = first_line(node.proc.stdout, 120)
    assert line.startswith(f"Serving {NODE_ID} on http://127.0.0.1:"), line
    node.url = line.split(" on ", 1)[1].strip()
    return node


def _stop(node: Node | None) -> None:
    if node is None or node.proc is None:
        return
    node.proc.terminate()
    try:
        node.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        node.proc.kill()
        node.proc.wait()


@pytest.fixture(scope="module")
def pair(tmp_path_factory, neo4j_server):
    empty_neo4j(neo4j_server)
    base = tmp_path_factory.mktemp("parity")
    data = base / "demo.jsonl"
    data.write_bytes(b"".join(canonical_bytes(e) + b"\n" for e in DEMO))
    env = {k: v for k, v in os.environ.items() if k not in ("JEMBATAN_STORE", "JEMBATAN_HOME")}
    env["JEMBATAN_WORKERS"] = "1"
    lite = neo = None
    try:
        lite = _start("sqlite", base / "on-sqlite", env, data)
        neo = _start("neo4j", base / "on-neo4j", dict(env, JEMBATAN_STORE=neo4j_server.url), data,
                     keys_from=lite.home)
        yield Pair(lite, neo)
    finally:
        _stop(lite)
        _stop(neo)


# -- comparing answers ----------------------------------------------------------------------

def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """Where two JSON documents differ, for a readable failure."""
    if type(a) is not type(b):
        return f"{path or '/'}: {json.dumps(a, ensure_ascii=False)[:300]} != {json.dumps(b, ensure_ascii=False)[:300]}"
    if isinstance(a, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{path}/{key}: only on {'SQLite' if key in a else 'Neo4j'}"
            found = first_difference(a[key], b[key], f"{path}/{key}")
            if found:
                return found
        return None
    if isinstance(a, list):
        ids_a = [x.get("rid") if isinstance(x, dict) else x for x in a]
        ids_b = [x.get("rid") if isinstance(x, dict) else x for x in b]
        if ids_a != ids_b and all(isinstance(x, dict) for x in a + b):
            at = next((i for i, (x, y) in enumerate(zip(ids_a, ids_b)) if x != y), min(len(a), len(b)))
            how = ("the same records in another order" if sorted(ids_a) == sorted(ids_b) else
                   f"other records ({len(set(ids_a) - set(ids_b))} only on SQLite, "
                   f"{len(set(ids_b) - set(ids_a))} only on Neo4j)")
            return (f"{path}: {how}; first at [{at}]: "
                    f"{ids_a[at] if at < len(a) else None} vs {ids_b[at] if at < len(b) else None}")
        if len(a) != len(b):
            return f"{path}: {len(a)} items on SQLite, {len(b)} on Neo4j"
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{path or '/'}: {a!r} != {b!r}"


class Pair:
    """The two nodes, asked the same things; answers compared after normalising what must
    differ: cursors, the store's name, and the rid and clock stamp of records each node
    created or changed itself."""

    def __init__(self, lite: Node, neo: Node):
        self.lite, self.neo = lite, neo
        self.rid_map: dict[str, str] = {}    # a rid the Neo4j node minted → the SQLite node's
        self.changed: set[str] = set()       # rids whose hlc comes from each node's own clock

    def _normal(self, doc: Any) -> Any:
        if isinstance(doc, dict):
            out = {k: self._normal(v) for k, v in doc.items()}
            if out.get("rid") in self.changed and "hlc" in out:
                out["hlc"] = "<hlc of this node's clock>"
                out["sigs"] = "<signed at that moment>"
            if "next_cursor" in out:
                out["next_cursor"] = out["next_cursor"] is not None
            return out
        if isinstance(doc, list):
            return [self._normal(v) for v in doc]
        if isinstance(doc, str):
            return self.rid_map.get(doc, doc)
        return doc

    def both(self, method: str, path: str, role: str | None = None, *,
             neo_path: str | None = None, **kw) -> tuple[requests.Response, requests.Response]:
        return (self.lite.request(method, path, role, **kw),
                self.neo.request(method, neo_path or path, role, **kw))

    def compare(self, a: requests.Response, b: requests.Response, where: str, *,
                etag: bool = True) -> None:
        assert a.status_code == b.status_code, (
            f"{where}: {a.status_code} on SQLite, {b.status_code} on Neo4j: {b.text[:500]}")
        assert a.headers.get("Content-Type") == b.headers.get("Content-Type"), where
        if etag:
            assert a.headers.get("ETag") == b.headers.get("ETag"), where
        if a.content or b.content:
            ja, jb = self._normal(a.json()), self._normal(b.json())
            if isinstance(ja, dict) and "store" in ja:   # /healthz names its backend
                assert (ja.pop("store"), jb.pop("store")) == ("sqlite", "neo4j")
            diff = first_difference(ja, jb)
            assert diff is None, f"{where}: {diff}"

    def same(self, method: str, path: str, role: str | None = None, *, etag: bool = True,
             neo_path: str | None = None, **kw) -> tuple[requests.Response, requests.Response]:
        a, b = self.both(method, path, role, neo_path=neo_path, **kw)
        self.compare(a, b, f"{method} {path} ({role or 'anonymous'})", etag=etag)
        return a, b

    def walk(self, path: str, role: str | None = None) -> int:
        """Follow both nodes' cursors to the end, every page the same; returns the number of items."""
        sep = "&" if "?" in path else "?"
        pa = pb = path
        where = f"GET {path} ({role or 'anonymous'})"
        count = 0
        for _ in range(200):
            a, b = self.both("GET", pa, role, neo_path=pb)
            self.compare(a, b, where)
            count += len(a.json()["items"])
            ca, cb = a.json()["next_cursor"], b.json()["next_cursor"]
            assert (ca is None) == (cb is None), f"{where}: only one node has a next page"
            if ca is None:
                return count
            pa, pb = f"{path}{sep}cursor={quote(ca)}", f"{path}{sep}cursor={quote(cb)}"
        raise AssertionError(f"{where}: more than 200 pages")


# -- the same answers -----------------------------------------------------------------------

def test_the_nodes_run_on_their_stores(pair: Pair):
    a, b = pair.lite.request("GET", "/healthz").json(), pair.neo.request("GET", "/healthz").json()
    assert (a["store"], b["store"]) == ("sqlite", "neo4j")
    assert a["node"] == b["node"] == NODE_ID
    assert sum(b["records"].values()) > 400
    # JEMBATAN_STORE was honoured by init, import and serve: no SQLite file was ever made
    assert (pair.lite.home / "node.db").exists() and not (pair.neo.home / "node.db").exists()


@pytest.mark.parametrize("path", [f"/api/v1/{plural}?limit=20" + (f"&{q}" if q else "")
                                  for plural, queries in LISTS.items() for q in queries])
@pytest.mark.parametrize("role", [None, "viewer"], ids=["anonymous", "viewer"])
def test_lists(pair: Pair, path: str, role: str | None):
    pair.walk(path, role)


def test_lists_walk_every_record(pair: Pair):
    total = sum(pair.walk(f"/api/v1/{plural}?limit=7", "viewer") for plural in LISTS)
    assert total == sum(1 for e in DEMO if e["kind"] != "endorsement")


@pytest.mark.parametrize("query", SEARCHES)
@pytest.mark.parametrize("role", [None, "viewer"], ids=["anonymous", "viewer"])
def test_search_gives_the_same_pages(pair: Pair, query: str, role: str | None):
    assert pair.walk(f"/api/v1/search?limit=10&{query}", role) > 0


@pytest.mark.parametrize("kind", list(PLURALS))
def test_gets(pair: Pair, kind: str):
    rids = [e["rid"] for e in DEMO if e["kind"] == kind][::9] + [PRIVATE["rid"]] * (PRIVATE["kind"] == kind)
    for rid in rids:
        for role in (None, "viewer"):
            a, _ = pair.same("GET", f"/api/v1/{PLURALS[kind]}/{rid}", role)
            if a.status_code == 200:
                pair.same("GET", f"/api/v1/{PLURALS[kind]}/{rid}", role,
                          headers={"If-None-Match": a.headers["ETag"]})


@pytest.mark.parametrize("role", [None, "viewer"], ids=["anonymous", "viewer"])
def test_healthz(pair: Pair, role: str | None):
    pair.same("GET", "/healthz", role)


@pytest.mark.parametrize("method, path", ERRORS)
def test_errors(pair: Pair, method: str, path: str):
    a, _ = pair.same(method, path, None, etag=False)
    assert a.status_code >= 400 and a.headers["Content-Type"] == "application/problem+json"


def test_export_is_the_same(pair: Pair):
    outs = [_run(node.env, "export", "--dir", str(node.home), "--format", "jsonl")
            for node in (pair.lite, pair.neo)]
    assert outs[0] == outs[1] and outs[0].count("\n") == len(DEMO)


# -- the same writes, then the same answers again --------------------------------------------

TECH_BODY = {"title": {"zh-Hans": "高效钙钛矿太阳能电池", "en": "Efficient perovskite solar cells"},
             "owner": OWNER, "fields": ["new_energy"], "trl": 6,
             "transfer_modes": ["licence", "joint_development"], "stage": "registered",
             "keywords": ["perovskite", "photovoltaic"]}
DEMAND_BODY = {"title": {"th": "ระบบชลประทานอัจฉริยะ", "en": "Smart irrigation system"},
               "requester": REQUESTER, "fields": ["modern_agriculture"], "trl_min": 5}


def test_writes_then_the_same_answers(pair: Pair):
    # creates: each node mints its own rid and stamp; the rest of the answer is the same
    made = {}
    for name, kind, payload in (("tech", "technologies", {"visibility": "public", "body": TECH_BODY}),
                                ("tech2", "technologies", {"visibility": "alliance",
                                                           "body": dict(TECH_BODY, trl=3)}),
                                ("demand", "demands", {"visibility": "private", "body": DEMAND_BODY})):
        a, b = pair.both("POST", f"/api/v1/{kind}", "editor", json=payload)
        assert a.status_code == b.status_code == 201, b.text
        pair.rid_map[b.json()["rid"]] = a.json()["rid"]
        pair.changed.add(a.json()["rid"])
        assert pair._normal(a.json()) == pair._normal(b.json())
        made[name] = (a.json()["rid"], b.json()["rid"], a.headers["ETag"], b.headers["ETag"])

    # an update of an imported record (the same rid and ETag on both)
    target = next(e for e in DEMO if e["kind"] == "technology" and e["visibility"] == "public")
    path = f"/api/v1/technologies/{target['rid']}"
    etag = pair.same("GET", path)[0].headers["ETag"]
    pair.same("PUT", path, "editor", json={"body": dict(target["body"], trl=9)}, etag=False)
    pair.changed.add(target["rid"])
    pair.same("PUT", path, "editor", json={"body": target["body"]}, etag=False,
              headers={"If-Match": etag})                                    # stale: 412
    pair.same("PUT", path, "editor", json={"body": target["body"]}, etag=False)   # 428
    pair.same("PUT", path, "viewer", json={"body": target["body"]}, etag=False)   # 403
    pair.same("POST", "/api/v1/technologies", "editor", etag=False,
              json={"body": dict(TECH_BODY, trl=10)})                        # 422

    # deletes: an imported demand, and one of the created technologies
    gone = next(e for e in DEMO if e["kind"] == "demand" and e["visibility"] == "public")
    pair.same("DELETE", f"/api/v1/demands/{gone['rid']}", "editor", etag=False)
    pair.changed.add(gone["rid"])
    a_rid, b_rid, _, _ = made["tech2"]
    pair.same("DELETE", f"/api/v1/technologies/{a_rid}", "editor", etag=False,
              neo_path=f"/api/v1/technologies/{b_rid}")
    pair.same("GET", f"/api/v1/demands/{gone['rid']}", "viewer", etag=False)      # 410
    pair.same("DELETE", f"/api/v1/demands/{gone['rid']}", "editor", etag=False)   # 410 again

    # the same answers again
    for role in (None, "viewer"):
        pair.same("GET", "/healthz", role)
        for plural in ("technologies", "demands"):
            for query in ("", "&include_deleted=true", "&visibility=private", "&country=CN"):
                pair.walk(f"/api/v1/{plural}?limit=25{query}", role)
        for query in ("q=钙钛矿", "q=perovskite", "q=อัจฉริยะ", "q=电池&kind=technology"):
            pair.walk(f"/api/v1/search?limit=5&{query}", role)
    for name in ("tech", "demand"):
        a_rid, b_rid, _, _ = made[name]
        plural = "technologies" if name == "tech" else "demands"
        pair.same("GET", f"/api/v1/{plural}/{a_rid}", "viewer", etag=False,
                  neo_path=f"/api/v1/{plural}/{b_rid}")
    pair.same("GET", path, "viewer", etag=False)
