"""Technology stages through the real app, store, staff pages and CLI: who and when on every
stage change, history kept by the node, the stage endpoints and their error shapes, and the
funnel in the statistics."""
from __future__ import annotations

import getpass
import json
import re
from datetime import datetime, timezone

import pytest
from apikit import INST_A, NODE_ID, body, foreign_rid

from jembatan.api.cli import cli
from jembatan.api.node import Tokens
from jembatan.api.staff_accounts import StaffAccounts
from jembatan.graph.store import LOCAL
from jembatan.network.envelope import load_envelope, make_envelope
from jembatan.network.ids import new_rid

PROBLEM = "application/problem+json"
PASSWORD = "correct horse battery staple"


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def history(node, rid: str) -> list[dict]:
    return node.store.get(rid, LOCAL).envelope["body"].get("stage_history", [])


def stage(node, rid: str, to: str | None, role: str | None = "editor", **headers):
    payload = {} if to is None else {"stage": to}
    return node.client.post(f"/api/v1/technologies/{rid}/stage", json=payload,
                            headers=node.headers(role, **headers))


def problem(resp, status: int, field: str | None = None) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == PROBLEM
    doc = resp.get_json()
    assert doc["status"] == status and doc["type"].startswith("urn:jembatan:problem:")
    if field is not None:
        assert field in [e["field"] for e in doc["errors"]], doc
    return doc


def store_own(node, data: dict, *, version: int = 1, visibility: str = "public") -> str:
    """A technology of this node as a record written before stages were recorded (or by an
    import): stored as it is, without going through the write path."""
    rid = new_rid(NODE_ID, "technology")
    env = make_envelope(rid=rid, body=data, version=version, visibility=visibility,
                        hlc=node.app.extensions["jembatan"].clock.tick())
    assert node.store.apply([load_envelope(env)], trusted=True)[0].status == "created"
    return rid


# -- the write path: who and when ------------------------------------------------------------

def test_a_new_technology_starts_its_history_with_the_token_holder(node):
    token = Tokens(node.home).create("editor", "Siti Rahma (TTO)")
    before = now()
    resp = node.client.post("/api/v1/technologies", json={"body": body("technology")},
                            headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 201
    [entry] = resp.get_json()["body"]["stage_history"]
    assert entry["stage"] == "registered" and entry["by"] == "Siti Rahma (TTO)"
    assert before <= entry["at"] <= now()
    # a token without a label is named by its role
    env = node.created("technology", body("technology", stage="evaluated"), role="admin")
    assert [(e["stage"], e["by"]) for e in env["body"]["stage_history"]] == [
        ("evaluated", "admin token")]


@pytest.mark.parametrize("label, by", [
    ("  Siti\n\tRahma\x07 ", "Siti Rahma"),       # one line, printable
    ("x" * 150, "x" * 100),                          # the schema's bound
    ("\x00\x01", NODE_ID),                          # nothing left: the node's id
])
def test_the_writers_name_fits_the_history(node, label, by):
    token = Tokens(node.home).create("editor", label)
    resp = node.client.post("/api/v1/technologies", json={"body": body("technology")},
                            headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["body"]["stage_history"][0]["by"] == by


def test_a_stage_change_appends_and_other_edits_do_not(node):
    env = node.created("technology")
    kept = env["body"]["stage_history"]
    # the body sent back as read, with another TRL: the history is kept as it was
    resp = node.put("technology", env["rid"], dict(env["body"], trl=7), **{"If-Match": "*"})
    assert resp.status_code == 200 and resp.get_json()["body"]["stage_history"] == kept
    # a body without the history keeps it too
    resp = node.put("technology", env["rid"], body("technology", trl=8), **{"If-Match": "*"})
    assert resp.get_json()["body"]["stage_history"] == kept
    # a new stage, history left out or sent as stored: one entry more each time
    resp = node.put("technology", env["rid"], body("technology", stage="matched"),
                    role="admin", **{"If-Match": "*"})
    got = resp.get_json()["body"]
    assert got["stage_history"][:-1] == kept
    assert (got["stage_history"][-1]["stage"], got["stage_history"][-1]["by"]) == (
        "matched", "admin token")
    resp = node.put("technology", env["rid"], dict(got, stage="negotiating"), **{"If-Match": "*"})
    steps = resp.get_json()["body"]["stage_history"]
    assert [e["stage"] for e in steps] == ["registered", "matched", "negotiating"]
    assert [e["at"] for e in steps] == sorted(e["at"] for e in steps)
    assert resp.get_json()["version"] == 5


@pytest.mark.parametrize("sent", [
    [],
    [{"stage": "registered", "at": "2020-01-01T00:00:00Z", "by": "someone else"}],
    "registered",
])
def test_a_client_cannot_rewrite_the_history(node, sent):
    env = node.created("technology")
    before = node.snapshot()
    resp = node.put("technology", env["rid"], dict(env["body"], stage_history=sent),
                    **{"If-Match": "*"})
    problem(resp, 422, "body.stage_history")
    problem(node.create("technology", body("technology", stage_history=[
        {"stage": "registered", "at": "2020-01-01T00:00:00Z", "by": "x"}])), 422,
        "body.stage_history")
    assert node.snapshot() == before


def test_a_new_technology_may_send_an_empty_history(node):
    env = node.created("technology", body("technology", stage_history=[]))
    assert [e["stage"] for e in env["body"]["stage_history"]] == ["registered"]


def test_records_written_before_stages_were_recorded(node):
    rid = store_own(node, body("technology", stage="evaluated"))
    resp = node.put("technology", rid, body("technology", stage="evaluated", trl=8),
                    **{"If-Match": "*"})
    assert resp.status_code == 200 and "stage_history" not in resp.get_json()["body"]
    assert node.client.get(f"/api/v1/technologies/{rid}/stages").get_json()["history"] == []
    resp = stage(node, rid, "matched")
    assert [e["stage"] for e in resp.get_json()["body"]["stage_history"]] == ["matched"]


def test_the_oldest_steps_give_way_at_the_bound(node):
    steps = [{"stage": s, "at": f"2024-01-01T00:{i // 60:02d}:{i % 60:02d}Z", "by": f"user {i}"}
             for i, s in enumerate(["matched", "negotiating"] * 50)]
    rid = store_own(node, body("technology", stage="negotiating", stage_history=steps))
    kept = stage(node, rid, "transferred").get_json()["body"]["stage_history"]
    assert len(kept) == 100 and kept[:-1] == steps[1:] and kept[-1]["stage"] == "transferred"


def test_records_from_other_nodes_are_stored_as_their_origin_wrote_them(node):
    rid = foreign_rid("technology")
    steps = [{"stage": "registered", "at": "2024-05-01T00:00:00Z", "by": "李娜"}]
    env = load_envelope(make_envelope(rid=rid, body=body("technology", stage_history=steps),
                                      version=3, hlc="1750000000000-0000", visibility="public"))
    node.store.apply([env], trusted=True)
    assert history(node, rid) == steps
    doc = node.client.get(f"/api/v1/technologies/{rid}/stages").get_json()
    assert doc == {"rid": rid, "version": 3, "stage": "registered", "history": steps}
    problem(stage(node, rid, "evaluated"), 409)
    assert history(node, rid) == steps


# -- the endpoints ---------------------------------------------------------------------------

def test_changing_the_stage_answers_like_the_record_get(node):
    env = node.created("technology")
    resp = stage(node, env["rid"], "evaluated")
    assert resp.status_code == 200
    got = node.get("technology", env["rid"])
    assert resp.get_json() == got.get_json() and resp.headers["ETag"] == got.headers["ETag"]
    assert resp.get_json()["version"] == 2 and resp.get_json()["body"]["stage"] == "evaluated"
    # If-Match names the current version: accepted; a stale one: 412, nothing changes
    resp = stage(node, env["rid"], "matched", **{"If-Match": got.headers["ETag"]})
    assert resp.status_code == 200
    before = node.snapshot()
    problem(stage(node, env["rid"], "negotiating", **{"If-Match": got.headers["ETag"]}), 412,
            "If-Match")
    assert node.snapshot() == before
    doc = node.client.get(f"/api/v1/technologies/{env['rid']}/stages").get_json()
    assert doc["stage"] == "matched" and doc["version"] == 3
    assert [(e["stage"], e["by"]) for e in doc["history"]] == [
        ("registered", "editor token"), ("evaluated", "editor token"), ("matched", "editor token")]


def test_every_stage_may_follow_any_other(node):
    env = node.created("technology")
    for to in ("withdrawn", "evaluated", "commercialised", "matched"):
        assert stage(node, env["rid"], to).status_code == 200
    assert [e["stage"] for e in history(node, env["rid"])] == [
        "registered", "withdrawn", "evaluated", "commercialised", "matched"]


def test_stage_errors_are_problems_that_change_nothing(node):
    env = node.created("technology")
    rid = env["rid"]
    demand = node.created("demand")["rid"]
    foreign = foreign_rid("technology")
    node.store.apply([load_envelope(make_envelope(rid=foreign, body=body("technology"), version=1,
                                                  hlc="1750000000000-0000",
                                                  visibility="public"))], trusted=True)
    gone = node.created("technology")["rid"]
    assert node.delete("technology", gone).status_code == 204
    before = node.snapshot()

    doc = problem(stage(node, rid, "evaluated", role=None), 401, "Authorization")
    assert "Bearer" in stage(node, rid, "evaluated", role=None).headers["WWW-Authenticate"]
    assert doc["title"]
    problem(node.client.post(f"/api/v1/technologies/{rid}/stage", json={"stage": "matched"},
                             headers={"Authorization": "Bearer jbt_unknown"}), 401)
    problem(stage(node, rid, "evaluated", role="viewer"), 403)
    problem(stage(node, rid, "evaluated", role="analyst"), 403)
    problem(stage(node, new_rid(NODE_ID, "technology"), "evaluated"), 404)
    problem(stage(node, demand, "evaluated"), 404)
    problem(stage(node, "not-a-rid", "evaluated"), 400, "rid")
    problem(stage(node, foreign, "evaluated"), 409)
    problem(stage(node, gone, "evaluated"), 410)
    problem(stage(node, rid, "sold"), 422, "stage")
    problem(stage(node, rid, None), 422, "stage")
    problem(stage(node, rid, "registered"), 422, "stage")
    problem(node.client.post(f"/api/v1/technologies/{rid}/stage",
                             json={"stage": "evaluated", "by": "me"},
                             headers=node.headers("editor")), 422, "by")
    problem(node.client.post(f"/api/v1/technologies/{rid}/stage", data="stage=evaluated",
                             headers=node.headers("editor", **{"Content-Type": "text/plain"})),
            415)
    assert node.snapshot() == before


def test_the_history_is_read_in_the_callers_scope(node):
    public = node.created("technology")["rid"]
    private = node.created("technology", visibility="private")["rid"]
    url = "/api/v1/technologies/{}/stages"
    assert node.client.get(url.format(public)).status_code == 200
    problem(node.client.get(url.format(private)), 404)
    doc = node.client.get(url.format(private), headers=node.headers("viewer")).get_json()
    assert doc["rid"] == private and [e["stage"] for e in doc["history"]] == ["registered"]
    problem(node.client.get(url.format(node.created("demand")["rid"])), 404)
    problem(node.client.get(url.format("urn:jembatan:bad")), 400, "rid")
    problem(node.client.get(url.format(public), headers={"Authorization": "Bearer nope"}), 401)
    node.delete("technology", public)
    problem(node.client.get(url.format(public)), 410)


def test_the_endpoints_are_documented(node):
    paths = node.client.get("/api/v1/openapi.json").get_json()["paths"]
    post = paths["/api/v1/technologies/{rid}/stage"]["post"]
    assert {"200", "401", "403", "404", "409", "410", "412", "422"} <= set(post["responses"])
    assert "get" in paths["/api/v1/technologies/{rid}/stages"]


# -- staff pages and the CLI -----------------------------------------------------------------

def sign_in(node, name: str = "alice", role: str = "editor") -> None:
    StaffAccounts(node.home).add(name, PASSWORD, role)
    page = node.client.get("/en/staff/login").get_data(as_text=True)
    resp = node.client.post("/en/staff/login", data={"name": name, "password": PASSWORD,
                                                     "csrf_token": csrf(page)})
    assert resp.status_code == 302


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def tech_form(token: str, **over) -> dict:
    data = {"csrf_token": token, "title.en": "Perovskite solar cells", "owner": INST_A,
            "fields": ["new_energy"], "trl": "6", "transfer_modes": ["licence"],
            "stage": "registered", "visibility": "public"}
    data.update(over)
    return data


def test_staff_forms_record_the_signed_in_name(node):
    sign_in(node, "Budi.Santoso")
    page = node.client.get("/en/staff/new/technology").get_data(as_text=True)
    assert "stage_history" not in page          # kept by the node, not a form input
    resp = node.client.post("/en/staff/new/technology", data=tech_form(csrf(page)))
    assert resp.status_code == 302
    rid = [r.envelope["rid"] for r in node.store.iter_all(LOCAL)][0]
    assert [(e["stage"], e["by"]) for e in history(node, rid)] == [("registered", "budi.santoso")]

    page = node.client.get(f"/en/staff/edit/{rid}").get_data(as_text=True)
    assert "stage_history" not in page
    resp = node.client.post(f"/en/staff/edit/{rid}", data=tech_form(csrf(page), version="1",
                                                                     trl="7"))
    assert resp.status_code == 302 and len(history(node, rid)) == 1
    resp = node.client.post(f"/en/staff/edit/{rid}", data=tech_form(csrf(page), version="2",
                                                                     stage="matched"))
    assert resp.status_code == 302
    assert [(e["stage"], e["by"]) for e in history(node, rid)] == [
        ("registered", "budi.santoso"), ("matched", "budi.santoso")]


def test_the_demand_form_offers_transfer_modes(node):
    sign_in(node)
    page = node.client.get("/en/staff/new/demand").get_data(as_text=True)
    assert 'name="transfer_modes" value="technical_service"' in page
    resp = node.client.post("/en/staff/new/demand", data={
        "csrf_token": csrf(page), "title.en": "Smart irrigation", "requester": INST_A,
        "fields": ["modern_agriculture"], "transfer_modes": ["licence", "technical_service"],
        "visibility": "public"})
    assert resp.status_code == 302
    [need] = [r.envelope["body"] for r in node.store.iter_all(LOCAL)]
    assert need["transfer_modes"] == ["licence", "technical_service"]


def test_the_cli_changes_the_stage_through_the_same_path(node):
    rid = node.created("technology")["rid"]
    runner = node.app.test_cli_runner()
    result = runner.invoke(cli, ["stage", rid, "evaluated", "--by", "Nguyễn Văn An",
                                 "--dir", str(node.home)])
    assert result.exit_code == 0, result.output
    assert "evaluated" in result.output and "version 2" in result.output
    result = runner.invoke(cli, ["stage", "--home", str(node.home), rid, "matched"])
    assert result.exit_code == 0, result.output
    steps = history(node, rid)
    assert [(e["stage"], e["by"]) for e in steps[1:]] == [
        ("evaluated", "Nguyễn Văn An"), ("matched", getpass.getuser())]
    stored = node.store.get(rid, LOCAL)
    assert stored.version == 3 and stored.envelope["sigs"]     # signed like every write

    before = node.snapshot()
    result = runner.invoke(cli, ["stage", rid, "matched", "--dir", str(node.home)])
    assert result.exit_code == 1 and "stage" in result.output
    result = runner.invoke(cli, ["stage", rid, "sold", "--dir", str(node.home)])
    assert result.exit_code == 2
    result = runner.invoke(cli, ["stage", foreign_rid("technology"), "matched",
                                 "--dir", str(node.home)])
    assert result.exit_code == 1 and "No technology" in result.output
    assert node.snapshot() == before


# -- the funnel in the statistics ------------------------------------------------------------

def test_the_funnel_in_the_statistics(node):
    cn = node.created("institution", body("institution", country="CN"))["rid"]
    th = node.created("institution", body("institution", country="TH"))["rid"]
    for owner, to, fields, visibility in [
            (cn, "registered", ["ict"], "public"),
            (cn, "transferred", ["ict", "marine"], "public"),
            (cn, "withdrawn", ["marine"], "public"),
            (th, "matched", ["marine"], "public"),
            (th, "commercialised", ["ict"], "private")]:
        rid = node.created("technology", body("technology", owner=owner, fields=fields),
                           visibility=visibility)["rid"]
        if to != "registered":
            assert stage(node, rid, to).status_code == 200

    anonymous = node.client.get("/api/v1/stats").get_json()["funnel"]
    assert anonymous["stages"] == ["registered", "evaluated", "matched", "negotiating",
                                   "transferred", "commercialised"]
    assert anonymous["total"] == 4 and anonymous["withdrawn"] == 1
    assert list(anonymous["reached"].values()) == [3, 2, 2, 1, 1, 0]
    assert anonymous["by_country"]["TH"]["reached"]["matched"] == 1
    assert anonymous["by_field"]["marine"]["reached"] == {
        "registered": 2, "evaluated": 2, "matched": 2, "negotiating": 1, "transferred": 1,
        "commercialised": 0}

    staff = node.client.get("/api/v1/stats", headers=node.headers("viewer")).get_json()["funnel"]
    assert staff["reached"]["commercialised"] == 1 and staff["total"] == 5
    only_th = node.client.get("/api/v1/stats", headers=node.headers("viewer"),
                              query_string={"country": "TH", "from": 2030}).get_json()
    assert only_th["period"] == {"from": 2030, "to": None}
    assert list(only_th["funnel"]["by_country"]) == ["TH"]        # years do not apply
    assert list(only_th["funnel"]["reached"].values()) == [2, 2, 2, 1, 1, 1]

    result = node.app.test_cli_runner().invoke(cli, ["stats", "--dir", str(node.home),
                                                     "--country", "CN"])
    assert result.exit_code == 0, result.output
    funnel = json.loads(result.output)["funnel"]
    assert funnel["total"] == 3 and funnel["reached"]["transferred"] == 1
    assert funnel["at"]["registered"] == 1 and funnel["withdrawn"] == 1
