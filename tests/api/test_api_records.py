"""The five record resources: create, get, list, update, delete; ETags; filters; visibility."""
from __future__ import annotations

import pytest

from jembatan.network.envelope import load_envelope, make_envelope
from jembatan.network.ids import parse_rid

from apikit import CHANGES, INST_A, INST_B, KINDS, NODE_ID, PLURALS, body, foreign_rid


@pytest.mark.parametrize("kind", KINDS)
def test_create_get_update_delete(node, kind):
    resp = node.create(kind)
    assert resp.status_code == 201
    env = resp.get_json()
    rid = env["rid"]
    assert parse_rid(rid).origin == NODE_ID and parse_rid(rid).kind == kind
    assert (env["kind"], env["origin"], env["version"], env["deleted"]) == (kind, NODE_ID, 1, False)
    assert env["visibility"] == "public"
    assert resp.headers["Location"] == f"/api/v1/{PLURALS[kind]}/{rid}"
    etag = resp.headers["ETag"]
    assert etag.startswith('"1-')

    got = node.get(kind, rid)
    assert got.status_code == 200
    assert got.get_json() == env
    assert got.headers["ETag"] == etag
    assert got.headers["Content-Type"] == "application/json"

    name, value = CHANGES[kind]
    upd = node.put(kind, rid, body(kind, **{name: value}), **{"If-Match": etag})
    assert upd.status_code == 200, upd.get_json()
    new = upd.get_json()
    assert new["version"] == 2 and new["body"][name] == value
    assert new["hlc"] > env["hlc"]
    assert upd.headers["ETag"].startswith('"2-') and upd.headers["ETag"] != etag
    assert node.get(kind, rid).get_json() == new

    listed = node.list(kind).get_json()
    assert [item["rid"] for item in listed["items"]] == [rid]

    gone = node.delete(kind, rid, **{"If-Match": upd.headers["ETag"]})
    assert gone.status_code == 204 and gone.data == b""
    assert node.get(kind, rid).status_code == 410
    stored = node.store.get(rid)
    assert stored.envelope["deleted"] is True and stored.envelope["body"] is None
    assert stored.version == 3
    assert node.list(kind).get_json()["items"] == []
    with_deleted = node.list(kind, role="viewer", include_deleted="true").get_json()
    assert [item["rid"] for item in with_deleted["items"]] == [rid]


def test_write_normalises_body_and_keeps_visibility(node):
    data = body("technology", title={"zh-hans": "  高效钙钛矿  ", "in": "Sel surya"})
    env = node.created("technology", data, visibility="alliance")
    assert env["body"]["title"] == {"zh-Hans": "高效钙钛矿", "id": "Sel surya"}
    assert env["visibility"] == "alliance"


def test_if_none_match_gives_304(node):
    env = node.created("institution")
    etag = node.get("institution", env["rid"]).headers["ETag"]
    resp = node.get("institution", env["rid"], **{"If-None-Match": etag})
    assert resp.status_code == 304 and resp.headers["ETag"] == etag and resp.data == b""
    assert node.get("institution", env["rid"], **{"If-None-Match": "W/" + etag}).status_code == 304
    assert node.get("institution", env["rid"], **{"If-None-Match": '"0-nope"'}).status_code == 200


def test_update_needs_current_etag(node):
    env = node.created("technology")
    rid = env["rid"]
    first = node.get("technology", rid).headers["ETag"]
    assert node.put("technology", rid, body("technology", trl=7)).status_code == 428
    ok = node.put("technology", rid, body("technology", trl=7), **{"If-Match": first})
    assert ok.status_code == 200
    stale = node.put("technology", rid, body("technology", trl=8), **{"If-Match": first})
    assert stale.status_code == 412
    assert node.get("technology", rid).get_json()["body"]["trl"] == 7
    star = node.put("technology", rid, body("technology", trl=8), **{"If-Match": "*"})
    assert star.status_code == 200 and star.get_json()["version"] == 3


def test_delete_honours_if_match_when_given(node):
    env = node.created("event")
    stale = node.delete("event", env["rid"], **{"If-Match": '"1-0000000000000000"'})
    assert stale.status_code == 412
    assert node.get("event", env["rid"]).status_code == 200
    assert node.delete("event", env["rid"]).status_code == 204
    assert node.delete("event", env["rid"]).status_code == 410


def test_records_of_other_origins_are_read_only(node):
    rid = foreign_rid("technology")
    env = load_envelope(make_envelope(rid=rid, body=body("technology"), version=4,
                                      hlc="1750000000000-0000", visibility="public"))
    assert node.store.apply([env], trusted=True)[0].status == "created"
    got = node.get("technology", rid)
    assert got.status_code == 200 and got.get_json()["origin"] == "other-node"
    resp = node.put("technology", rid, body("technology", trl=9),
                    **{"If-Match": got.headers["ETag"]})
    assert resp.status_code == 409 and "other-node" in resp.get_json()["detail"]
    assert node.delete("technology", rid).status_code == 409
    assert node.store.get(rid).version == 4


def test_a_concurrent_writer_that_got_in_first_wins(node):
    """Our PUT read version 1, but another writer stored version 2 before our apply ran."""
    env = node.created("technology")
    rid = env["rid"]
    etag = node.get("technology", rid).headers["ETag"]
    state = node.app.extensions["jembatan"]
    real = state.store
    theirs = load_envelope(make_envelope(rid=rid, body=body("technology", trl=9), version=2,
                                         hlc=state.clock.tick(), visibility="public"))

    class FirstWriter:
        """The real store, with another writer's commit landing just before ours."""

        def __getattr__(self, name):
            return getattr(real, name)

        def apply(self, envelopes, **kwargs):
            real.apply([theirs], trusted=True)
            return real.apply(envelopes, **kwargs)

    state._store = FirstWriter()
    try:
        resp = node.put("technology", rid, body("technology", trl=3), **{"If-Match": etag})
    finally:
        state._store = real
    assert resp.status_code == 412
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert real.get(rid).envelope["body"]["trl"] == 9


def test_list_filters_and_cursor(node):
    rids = {}
    for i, (country_owner, fields, trl, stage) in enumerate([
        (INST_A, ["new_energy"], 3, "registered"),
        (INST_A, ["ict"], 6, "evaluated"),
        (INST_B, ["new_energy", "ict"], 8, "registered"),
    ]):
        env = node.created("technology", body("technology", owner=country_owner, fields=fields,
                                               trl=trl, stage=stage))
        rids[i] = env["rid"]

    def rids_of(**params):
        resp = node.list("technology", **params)
        assert resp.status_code == 200, resp.get_json()
        return [item["rid"] for item in resp.get_json()["items"]]

    assert rids_of() == [rids[2], rids[1], rids[0]]  # newest change first
    assert set(rids_of(field="new_energy")) == {rids[0], rids[2]}
    assert set(rids_of(trl_min=5)) == {rids[1], rids[2]}
    assert rids_of(trl_min=5, trl_max=7) == [rids[1]]
    assert rids_of(stage="evaluated") == [rids[1]]
    assert set(rids_of(owner=INST_A)) == {rids[0], rids[1]}
    assert rids_of(party=INST_B) == [rids[2]]
    assert rids_of(visibility="alliance") == []
    assert rids_of(updated_since="2000-01-01T00:00:00Z") == [rids[2], rids[1], rids[0]]
    assert rids_of(updated_since="2999-01-01") == []

    seen, params, pages = [], {"limit": 2}, 0
    while True:
        resp = node.list("technology", **params)
        data = resp.get_json()
        seen += [item["rid"] for item in data["items"]]
        pages += 1
        if not data["next_cursor"]:
            assert "Link" not in resp.headers
            break
        link = resp.headers["Link"]
        assert link.startswith("</api/v1/technologies?") and link.endswith('>; rel="next"')
        assert "limit=2" in link
        params = {"limit": 2, "cursor": data["next_cursor"]}
    assert seen == [rids[2], rids[1], rids[0]] and pages == 2


def test_list_filters_by_country(node):
    cn = node.created("institution", body("institution", country="CN", city="Nanning"))
    node.created("institution")
    resp = node.list("institution", country="CN")
    assert [item["rid"] for item in resp.get_json()["items"]] == [cn["rid"]]
    ev = node.created("event")
    assert [i["rid"] for i in node.list("event", country="CN").get_json()["items"]] == [ev["rid"]]
    assert node.list("event", country="TH").get_json()["items"] == []


@pytest.mark.parametrize("visibility", ["alliance", "private"])
def test_visibility_by_role(node, visibility):
    hidden = node.created("technology", visibility=visibility)
    public = node.created("technology")
    rid = hidden["rid"]

    # Anonymous readers: the record does not exist, by every path.
    assert node.get("technology", rid).status_code == 404
    etag = node.get("technology", rid, role="viewer").headers["ETag"]
    assert node.get("technology", rid, **{"If-None-Match": etag}).status_code == 404
    anon = [i["rid"] for i in node.list("technology").get_json()["items"]]
    assert anon == [public["rid"]]
    assert node.list("technology", visibility=visibility).get_json()["items"] == []
    found = node.client.get("/api/v1/search", query_string={"q": "perovskite"}).get_json()
    assert [i["rid"] for i in found["items"]] == [public["rid"]]
    assert node.client.put(f"/api/v1/technologies/{rid}", json={"body": body("technology")}
                           ).status_code == 401
    assert node.client.delete(f"/api/v1/technologies/{rid}").status_code == 401

    # Any of the node's own users sees it.
    for role in ("viewer", "editor", "admin"):
        assert node.get("technology", rid, role=role).status_code == 200
        seen = {i["rid"] for i in node.list("technology", role=role).get_json()["items"]}
        assert seen == {rid, public["rid"]}
    found = node.client.get("/api/v1/search", query_string={"q": "perovskite"},
                            headers=node.headers("viewer")).get_json()
    assert {i["rid"] for i in found["items"]} == {rid, public["rid"]}


def test_roles_that_may_write(node):
    assert node.create("institution", role="admin").status_code == 201
    assert node.create("institution", role="editor").status_code == 201
    assert node.create("institution", role="viewer").status_code == 403
    assert node.client.post("/api/v1/institutions", json={"body": body("institution")}
                            ).status_code == 401


def test_token_lookups_are_cached(node):
    import sqlite3

    from jembatan.api.node import Tokens
    token = Tokens(node.home).create("viewer")
    auth = {"Authorization": f"Bearer {token}"}
    assert node.client.get("/api/v1/institutions", headers=auth).status_code == 200
    with sqlite3.connect(node.home / "auth.db") as db:  # revoke it
        db.execute("DELETE FROM tokens WHERE role = 'viewer'")
    # The role is remembered for the cache's lifetime…
    assert node.client.get("/api/v1/institutions", headers=auth).status_code == 200
    # …and read again once the cache is cleared.
    node.app.extensions["jembatan"].tokens.clear()
    assert node.client.get("/api/v1/institutions", headers=auth).status_code == 401


def test_agreement_party_filter(node):
    env = node.created("agreement")
    other = node.created("agreement", body("agreement", parties=[
        {"institution": INST_B, "role": "provider"},
        {"institution": foreign_rid("institution"), "role": "recipient"}]))
    got = [i["rid"] for i in node.list("agreement", party=INST_A).get_json()["items"]]
    assert got == [env["rid"]]
    got = {i["rid"] for i in node.list("agreement", party=INST_B).get_json()["items"]}
    assert got == {env["rid"], other["rid"]}


def test_update_keeps_visibility_unless_given(node):
    env = node.created("demand", visibility="private")
    etag = node.get("demand", env["rid"], role="viewer").headers["ETag"]
    resp = node.client.put(f"/api/v1/demands/{env['rid']}", json={"body": body("demand")},
                           headers=node.headers("editor", **{"If-Match": etag}))
    assert resp.status_code == 200 and resp.get_json()["visibility"] == "private"
    assert node.get("demand", env["rid"]).status_code == 404
    published = node.put("demand", env["rid"], body("demand"), visibility="public",
                         **{"If-Match": resp.headers["ETag"]})
    assert published.status_code == 200 and published.get_json()["visibility"] == "public"
    assert node.get("demand", env["rid"]).status_code == 200
