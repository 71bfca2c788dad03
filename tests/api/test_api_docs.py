"""OpenAPI document, interactive docs page, health endpoint."""
from __future__ import annotations

import json
import re
from pathlib import Path

from apikit import PLURALS

import jembatan.api
from jembatan.api.app import create_app


def test_openapi_document(node):
    resp = node.client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    spec = json.loads(resp.data)
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "Jembatan" and spec["info"]["version"]
    paths = spec["paths"]
    for plural in PLURALS.values():
        assert set(paths[f"/api/v1/{plural}"]) >= {"get", "post"}
        assert set(paths[f"/api/v1/{plural}/{{rid}}"]) >= {"get", "put", "delete"}
    assert "get" in paths["/api/v1/search"] and "get" in paths["/healthz"]
    params = {p["name"] for p in paths["/api/v1/technologies"]["get"]["parameters"]}
    assert {"country", "field", "trl_min", "trl_max", "owner", "party", "stage", "visibility",
            "updated_since", "include_deleted", "limit", "cursor"} <= params
    error = spec["components"]["responses"]["DEFAULT_ERROR"]["content"]
    assert "application/problem+json" in error
    assert "TechnologyBody" in spec["components"]["schemas"]


def test_docs_page_works_offline(node):
    resp = node.client.get("/api/docs")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert "/api/v1/openapi.json" in page
    # Every script and stylesheet comes from this node, none from a CDN.
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/static/") for a in assets), assets


def test_healthz(node):
    node.created("institution")
    node.created("technology", visibility="private")
    resp = node.client.get("/healthz")
    assert resp.status_code == 200
    doc = resp.get_json()
    assert doc["status"] == "ok" and doc["node"] == "test-node" and doc["store"] == "sqlite"
    assert doc["records"].get("institution") == 1
    assert doc["records"].get("technology", 0) == 0  # private: not counted for anonymous callers
    mine = node.client.get("/healthz", headers=node.headers("viewer")).get_json()
    assert mine["records"].get("technology") == 1


def test_healthz_reports_a_broken_store(node_home, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    app = create_app({"JEMBATAN_HOME": str(node_home), "TESTING": True,
                      "JEMBATAN_STORE": f"sqlite:///{blocker}/node.db"})
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 503
    assert resp.headers["Content-Type"] == "application/problem+json"
    doc = resp.get_json()
    assert doc["status"] == 503 and "not-a-dir" not in resp.get_data(as_text=True)


def test_nothing_is_created_before_first_use(node_home):
    before = sorted(p.name for p in node_home.iterdir())
    app = create_app({"JEMBATAN_HOME": str(node_home), "TESTING": True})
    assert sorted(p.name for p in node_home.iterdir()) == before
    assert app.test_client().get("/api/v1/openapi.json").status_code == 200
    assert sorted(p.name for p in node_home.iterdir()) == before


def test_docs_assets_are_served_by_the_node(node):
    vendor = Path(jembatan.api.__file__).parent / "static" / "vendor" / "swagger-ui"
    assert (vendor / "swagger-ui-bundle.js").exists(), \
        "Swagger UI assets missing: `make install` copies them from npm into api/static/vendor"
    page = node.client.get("/api/docs").get_data(as_text=True)
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page):
        resp = node.client.get(asset)
        assert resp.status_code == 200 and len(resp.data) > 1000, asset
        resp.close()
