"""The Store contract suite: every backend passes the same tests.

A backend plugs in with one entry in ``BACKENDS``: a function that takes pytest's
``request`` and ``tmp_path`` and returns an *opener* — a callable that returns a new Store
instance on the same, initially empty, storage each time it is called (so tests can close a
store and open it again).

The Neo4j backend runs against the session's real server (``neo4j_server`` in
``tests/conftest.py``; under ``CI=true`` a server that cannot start fails the run). Community
edition has one user database, so each test starts by emptying it; constraints and indexes
stay, as they would on a server that was never wiped.
"""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Callable

import pytest

from jembatan.graph.store import Store
from jembatan.network.envelope import load_envelope, make_envelope
from jembatan.network.hlc import format_hlc
from jembatan.network.ids import new_rid

Opener = Callable[[], Store]


def sqlite_backend(request, tmp_path: Path) -> Opener:
    from jembatan.graph.sqlite import SqliteStore

    path = tmp_path / "node.db"
    return lambda: SqliteStore(str(path))


def empty_neo4j(driver) -> None:
    """Delete every node and relationship of the database (constraints and indexes stay)."""
    with driver.session(database="neo4j") as session:
        session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()


@pytest.fixture(scope="session")
def neo4j_admin(neo4j_server):
    """A driver of the test server's administrator, for emptying the database between tests."""
    import neo4j

    driver = neo4j.GraphDatabase.driver(neo4j_server.uri,
                                        auth=(neo4j_server.user, neo4j_server.password))
    yield driver
    driver.close()


@pytest.fixture
def neo4j_url(neo4j_server, neo4j_admin) -> str:
    """The store URL of the test server's database, emptied for this test."""
    empty_neo4j(neo4j_admin)
    return neo4j_server.url


def neo4j_backend(request, tmp_path: Path) -> Opener:
    from jembatan.graph.neo4j import Neo4jStore

    url = request.getfixturevalue("neo4j_url")
    return lambda: Neo4jStore.from_url(url)


BACKENDS: dict[str, Callable[..., Opener]] = {
    "sqlite": sqlite_backend,
    "neo4j": neo4j_backend,
}


@pytest.fixture(params=list(BACKENDS))
def opener(request, tmp_path) -> Opener:
    return BACKENDS[request.param](request, tmp_path)


@pytest.fixture
def store(opener):
    s = opener()
    yield s
    s.close()


class Records:
    """Valid envelopes for tests, built with make_envelope and checked by load_envelope."""

    def __init__(self, node: str = "node-a"):
        self.node = node
        self._clock = itertools.count(1)
        self._ms = itertools.count(1_700_000_000_000, 1000)

    def hlc(self) -> str:
        return format_hlc(1_700_000_000_000, next(self._clock))

    def rid(self, kind: str) -> str:
        return new_rid(self.node, kind, ms=next(self._ms))

    def envelope(self, kind: str, body: dict | None, *, rid: str | None = None, version: int = 1,
                 visibility: str = "public", deleted: bool = False, hlc: str | None = None) -> dict:
        env = make_envelope(rid=rid or self.rid(kind), body=body, version=version,
                            hlc=hlc or self.hlc(), visibility=visibility, deleted=deleted)
        return load_envelope(env)

    def institution(self, name: str = "Guangxi University", *, country: str = "CN",
                    names: dict | None = None, **kw) -> dict:
        body = {"name": names or {"en": name}, "kind": kw.pop("kind", "university"),
                "country": country}
        for key in ("city", "identifiers", "description", "website"):
            if key in kw:
                body[key] = kw.pop(key)
        return self.envelope("institution", body, **kw)

    def technology(self, title: dict | str = "Solar dryer", *, owner: str, fields=("new_energy",),
                   trl: int = 5, stage: str = "registered", **kw) -> dict:
        body = {"title": {"en": title} if isinstance(title, str) else title, "owner": owner,
                "fields": list(fields), "trl": trl, "transfer_modes": ["licence"], "stage": stage}
        for key in ("summary", "keywords", "ip"):
            if key in kw:
                body[key] = kw.pop(key)
        return self.envelope("technology", body, **kw)

    def demand(self, title: str = "Need a rice dryer", *, requester: str, fields=("modern_agriculture",),
               trl_min: int | None = None, **kw) -> dict:
        body = {"title": {"en": title}, "requester": requester, "fields": list(fields)}
        if trl_min is not None:
            body["trl_min"] = trl_min
        for key in ("countries", "summary"):
            if key in kw:
                body[key] = kw.pop(key)
        return self.envelope("demand", body, **kw)

    def agreement(self, *, provider: str, recipient: str, technology: str | None = None,
                  event: str | None = None, fields=(), **kw) -> dict:
        body = {"kind": "licence", "status": "active",
                "parties": [{"institution": provider, "role": "provider"},
                            {"institution": recipient, "role": "recipient"}]}
        if technology:
            body["technology"] = technology
        if event:
            body["event"] = event
        if fields:
            body["fields"] = list(fields)
        for key in ("title", "registration_no"):
            if key in kw:
                body[key] = kw.pop(key)
        return self.envelope("agreement", body, **kw)

    def event(self, name: str = "China-ASEAN Technology Transfer Forum", *, country: str = "CN",
              organisers=(), participants=(), technologies=(), **kw) -> dict:
        body = {"name": {"en": name}, "kind": "forum", "starts_on": "2024-09-24",
                "ends_on": "2024-09-25", "country": country, "organisers": list(organisers),
                "participants": list(participants), "technologies": list(technologies)}
        return self.envelope("event", body, **kw)

    def endorsement(self, *, agreement: dict, party: str, **kw) -> dict:
        from jembatan.network.envelope import content_hash

        body = {"agreement": agreement["rid"], "version": agreement["version"],
                "content_hash": content_hash(agreement), "party": party}
        return self.envelope("endorsement", body, **kw)

    def update(self, env: dict, *, version: int | None = None, **changes) -> dict:
        """The next version of ``env`` with body fields (or visibility) changed."""
        visibility = changes.pop("visibility", env["visibility"])
        body = dict(env["body"], **changes)
        return self.envelope(env["kind"], body, rid=env["rid"], version=version or env["version"] + 1,
                             visibility=visibility)

    def tombstone(self, env: dict, *, version: int | None = None, visibility: str | None = None) -> dict:
        return self.envelope(env["kind"], None, rid=env["rid"], deleted=True,
                             version=version or env["version"] + 1,
                             visibility=visibility or env["visibility"])


@pytest.fixture
def rec() -> Records:
    return Records()
