"""Helpers for the REST API tests: small valid bodies of each kind and a client wrapper.

Imported by name (``from apikit import …``): pytest puts this directory on ``sys.path``.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jembatan.network.ids import new_rid

NODE_ID = "test-node"
PLURALS = {"institution": "institutions", "technology": "technologies", "demand": "demands",
           "agreement": "agreements", "event": "events"}
KINDS = tuple(PLURALS)
MAX_BODY = 64 * 1024

# References may name records this node has not received; fixed rids keep bodies small.
INST_A = "urn:jembatan:univ-a:institution:0190a5b0-0000-7000-8000-000000000001"
INST_B = "urn:jembatan:enterprise-b:institution:0190a5b0-0000-7000-8000-000000000002"
TECH_A = "urn:jembatan:univ-a:technology:0190a5b0-0000-7000-8000-000000000003"

BODIES: dict[str, dict[str, Any]] = {
    "institution": {
        "name": {"id": "Universitas Teknologi Bandung", "en": "Bandung University of Technology"},
        "kind": "university", "country": "ID", "city": "Bandung",
        "website": "https://utb.example.ac.id",
    },
    "technology": {
        "title": {"zh-Hans": "高效钙钛矿太阳能电池", "en": "Efficient perovskite solar cells"},
        "owner": INST_A, "fields": ["new_energy"], "trl": 6,
        "transfer_modes": ["licence", "joint_development"], "stage": "registered",
        "keywords": ["perovskite", "photovoltaic"],
    },
    "demand": {
        "title": {"th": "ระบบชลประทานอัจฉริยะ", "en": "Smart irrigation system"},
        "requester": INST_B, "fields": ["modern_agriculture"], "trl_min": 5,
        "budget": {"amount": "150000.00", "currency": "USD"}, "deadline": "2026-12-31",
        "countries": ["CN", "TH"],
    },
    "agreement": {
        "kind": "licence", "title": {"en": "Licence of perovskite cells"},
        "parties": [{"institution": INST_A, "role": "provider"},
                    {"institution": INST_B, "role": "recipient"}],
        "technology": TECH_A, "fields": ["new_energy"], "signed_on": "2025-03-01",
        "value": {"amount": "2500000.00", "currency": "CNY"}, "status": "active",
    },
    "event": {
        "name": {"zh-Hans": "中国—东盟技术转移对接会", "en": "China–ASEAN technology matchmaking"},
        "kind": "matchmaking", "starts_on": "2025-09-17", "ends_on": "2025-09-18",
        "country": "CN", "city": "Nanning", "organisers": [INST_A], "participants": [INST_B],
    },
}

# One field per kind that an update changes, and its new value.
CHANGES: dict[str, tuple[str, Any]] = {
    "institution": ("city", "Jakarta"),
    "technology": ("trl", 7),
    "demand": ("deadline", "2027-06-30"),
    "agreement": ("status", "completed"),
    "event": ("city", "Kuala Lumpur"),
}


def body(kind: str, **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(BODIES[kind])
    out.update(changes)
    return out


@dataclass
class Node:
    """The app under test plus what tests need to talk to it."""

    app: Any
    client: Any
    home: Path
    tokens: dict[str, str]

    @property
    def store(self):
        return self.app.extensions["jembatan"].store

    def headers(self, role: str | None = None, **extra: str) -> dict[str, str]:
        out = dict(extra)
        if role is not None:
            out["Authorization"] = f"Bearer {self.tokens[role]}"
        return out

    def create(self, kind: str, data: dict | None = None, *, visibility: str = "public",
               role: str = "editor"):
        payload = {"visibility": visibility, "body": data if data is not None else body(kind)}
        return self.client.post(f"/api/v1/{PLURALS[kind]}", json=payload,
                                headers=self.headers(role))

    def created(self, kind: str, data: dict | None = None, **kwargs) -> dict:
        resp = self.create(kind, data, **kwargs)
        assert resp.status_code == 201, resp.get_json()
        return resp.get_json()

    def get(self, kind: str, rid: str, role: str | None = None, **headers: str):
        return self.client.get(f"/api/v1/{PLURALS[kind]}/{rid}",
                               headers=self.headers(role, **headers))

    def put(self, kind: str, rid: str, data: dict, *, visibility: str = "public",
            role: str = "editor", **headers: str):
        return self.client.put(f"/api/v1/{PLURALS[kind]}/{rid}",
                               json={"visibility": visibility, "body": data},
                               headers=self.headers(role, **headers))

    def delete(self, kind: str, rid: str, role: str = "editor", **headers: str):
        return self.client.delete(f"/api/v1/{PLURALS[kind]}/{rid}",
                                  headers=self.headers(role, **headers))

    def list(self, kind: str, role: str | None = None, **params: Any):
        return self.client.get(f"/api/v1/{PLURALS[kind]}", query_string=params,
                               headers=self.headers(role))

    def snapshot(self) -> tuple[int, dict[str, int]]:
        """What a failed request must leave untouched: the change sequence and the counts."""
        return self.store.last_seq(), dict(self.store.counts())


def make_node(home: Path, **config: Any) -> Node:
    """A node directory at ``home``, its app and a token for each role."""
    from jembatan.api.app import create_app
    from jembatan.api.node import ROLES, Tokens, init_node

    init_node(home, name="Test Node", country="ID", node_id=NODE_ID)
    app = create_app({"JEMBATAN_HOME": str(home), "JEMBATAN_MAX_BODY_BYTES": MAX_BODY,
                      "TESTING": True, **config})
    tokens = Tokens(home)
    return Node(app=app, client=app.test_client(), home=home,
                tokens={role: tokens.create(role) for role in ROLES})


def foreign_rid(kind: str) -> str:
    return new_rid("other-node", kind)


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")
