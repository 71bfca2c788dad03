"""Search through the API, as a new user would try it with curl."""
from __future__ import annotations

from apikit import body


def search(node, role=None, **params):
    resp = node.client.get("/api/v1/search", query_string=params, headers=node.headers(role))
    assert resp.status_code == 200, resp.get_json()
    assert resp.headers["Content-Type"] == "application/json"
    return resp.get_json()


def test_chinese_indonesian_and_thai_titles_are_found(node):
    rice = node.client.post("/api/v1/technologies", headers=node.headers("editor"), json={
        "body": body("technology", title={"zh-Hans": "智能水稻种植系统",
                                          "id": "Sistem penanaman padi pintar"},
                     fields=["modern_agriculture"], keywords=[])})
    assert rice.status_code == 201
    rice_rid = rice.get_json()["rid"]
    dryer = node.created("technology", body("technology", title={
        "th": "เครื่องอบแห้งพลังงานแสงอาทิตย์", "en": "Solar dryer"}, keywords=[]))
    node.created("institution")  # noise

    for q in ("水稻", "padi", "Padi"):
        assert [i["rid"] for i in search(node, q=q)["items"]] == [rice_rid], q
    assert [i["rid"] for i in search(node, q="พลังงาน")["items"]] == [dryer["rid"]]
    assert search(node, q="xylophone")["items"] == []


def test_search_filters_and_pages(node):
    techs = [node.created("technology", body("technology", title={"en": f"Solar panel {i}"}))
             for i in range(3)]
    node.created("demand", body("demand", title={"en": "Solar panel cleaning"}))
    everything = search(node, q="solar")
    assert len(everything["items"]) == 4
    only_tech = search(node, q="solar", kind="technology")
    assert {i["rid"] for i in only_tech["items"]} == {t["rid"] for t in techs}
    assert search(node, q="solar", kind="demand", field="modern_agriculture")["items"] != []
    assert search(node, q="solar", kind="demand", field="ict")["items"] == []

    seen, params = [], {"q": "solar", "limit": 3}
    while True:
        resp = node.client.get("/api/v1/search", query_string=params)
        page = resp.get_json()
        seen += [i["rid"] for i in page["items"]]
        if not page["next_cursor"]:
            break
        assert resp.headers["Link"].startswith("</api/v1/search?")
        params = {"q": "solar", "limit": 3, "cursor": page["next_cursor"]}
    assert len(seen) == 4 and len(set(seen)) == 4
