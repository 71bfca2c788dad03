"""The ``jembatan`` CLI through click's runner: init, token, import, export, in real node dirs."""
from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from jembatan.api.cli import cli
from jembatan.api.node import Tokens, load_node
from jembatan.graph import open_store
from jembatan.graph.store import LOCAL
from jembatan.network.envelope import make_envelope
from jembatan.network.ids import new_rid

NODE = "cli-test"
OWNER = new_rid(NODE, "institution")
TECH_HEADER = ["title.en", "title.zh-Hans", "owner", "fields", "keywords", "trl", "transfer_modes", "stage"]


def tech_row(n: int, **over) -> dict[str, str]:
    row = {"title.en": f"Solar dryer {n}", "title.zh-Hans": f"太阳能干燥机 {n}", "owner": OWNER,
           "fields": "new_energy;modern_agriculture", "keywords": "solar;drying", "trl": str(1 + n % 9),
           "transfer_modes": "licence", "stage": "registered"}
    row.update(over)
    return row


def tech_body(n: int) -> dict:
    return {"title": {"en": f"Cocoa fermenter {n}", "id": f"Fermentor kakao {n}"}, "owner": OWNER,
            "fields": ["food_processing"], "trl": 1 + n % 9, "transfer_modes": ["licence"],
            "stage": "registered"}


def write_csv(path: Path, rows: list[dict], header: list[str] | None = None) -> Path:
    header = header or list(rows[0])
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, header)
        w.writeheader()
        w.writerows(rows)
    return path


def write_jsonl(path: Path, items: list) -> Path:
    path.write_text("".join((i if isinstance(i, str) else json.dumps(i, ensure_ascii=False)) + "\n"
                            for i in items), encoding="utf-8")
    return path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def home(tmp_path: Path, runner: CliRunner) -> Path:
    home = tmp_path / "node"
    result = runner.invoke(cli, ["init", "--dir", str(home), "--name", "CLI Test", "--country", "ID",
                                 "--node-id", NODE])
    assert result.exit_code == 0, result.output
    return home


def state(home: Path) -> tuple[dict, int]:
    store = open_store(load_node(home).store_url)
    try:
        return {k: n for k, n in store.counts(LOCAL).items() if n}, store.last_seq()
    finally:
        store.close()


def records(home: Path) -> list[dict]:
    store = open_store(load_node(home).store_url)
    try:
        return [r.envelope for r in store.iter_all(LOCAL)]
    finally:
        store.close()


def run(runner: CliRunner, home: Path, *args: str, env: dict | None = None):
    return runner.invoke(cli, [*args, "--dir", str(home)], env=env)


def report_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# -- init and token -------------------------------------------------------------------------

def test_init_creates_node_and_store(home: Path):
    cfg = load_node(home)
    assert cfg.node_id == NODE and cfg.country == "ID"
    assert (home / "node.db").exists()
    assert state(home) == ({}, 0)


def test_init_prints_id_and_dir(tmp_path: Path, runner: CliRunner):
    result = runner.invoke(cli, ["init", "--dir", str(tmp_path / "n"), "--name", "Universitas Brawijaya",
                                 "--country", "id"])
    assert result.exit_code == 0, result.output
    node_id = load_node(tmp_path / "n").node_id
    assert node_id.startswith("universitas-brawijaya-")
    assert node_id in result.stdout and str((tmp_path / "n").resolve()) in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--country", "XX"], "--country"),
    (["--country", "ID", "--node-id", "Bad Id!"], "--node-id"),
    (["--country", "ID", "--store", "postgres://db/jembatan"], "--store"),
])
def test_init_bad_input_exits_2_and_makes_nothing(tmp_path: Path, runner: CliRunner, args, message):
    target = tmp_path / "n"
    result = runner.invoke(cli, ["init", "--dir", str(target), "--name", "X", *args])
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output
    assert not target.exists()


def test_init_twice_is_refused(home: Path, runner: CliRunner):
    before = (home / "node.json").read_text()
    result = runner.invoke(cli, ["init", "--dir", str(home), "--name", "Other", "--country", "TH"])
    assert result.exit_code == 2 and "already holds a node" in result.stderr
    assert (home / "node.json").read_text() == before


def test_token_create_prints_only_the_token(home: Path, runner: CliRunner):
    result = run(runner, home, "token", "create", "--role", "editor", "--label", "ops")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("jbt_")
    assert Tokens(home).role_of(lines[0]) == "editor"


def test_jembatan_home_replaces_dir(home: Path, runner: CliRunner):
    result = runner.invoke(cli, ["token", "create", "--role", "viewer"], env={"JEMBATAN_HOME": str(home)})
    assert result.exit_code == 0 and Tokens(home).role_of(result.stdout.strip()) == "viewer"


def test_missing_node_dir_is_a_usage_error(tmp_path: Path, runner: CliRunner):
    result = runner.invoke(cli, ["token", "create", "--dir", str(tmp_path / "none"), "--role", "admin"])
    assert result.exit_code == 2 and "not a node directory" in result.stderr
    assert "Traceback" not in result.output


# -- import ---------------------------------------------------------------------------------

def test_import_csv(home: Path, runner: CliRunner, tmp_path: Path):
    src = write_csv(tmp_path / "tech.csv", [tech_row(n) for n in range(5)] +
                    [tech_row(5, keywords="a\\;b;c", **{"title.th": "เครื่องอบแห้ง"})],
                    header=TECH_HEADER + ["title.th"])
    result = run(runner, home, "import", str(src), "--kind", "technology")
    assert result.exit_code == 0, result.output
    assert "6 rows read" in result.stdout and "6 created" in result.stdout
    counts, seq = state(home)
    assert counts == {"technology": 6} and seq == 6
    bodies = {e["body"]["title"]["en"]: e for e in records(home)}
    last = bodies["Solar dryer 5"]
    assert last["body"]["keywords"] == ["a;b", "c"] and last["body"]["title"]["th"] == "เครื่องอบแห้ง"
    assert last["visibility"] == "public" and last["version"] == 1 and last["origin"] == NODE
    report = report_lines(tmp_path / "tech.csv.report.jsonl")
    assert [r["row"] for r in report] == [2, 3, 4, 5, 6, 7]
    assert {r["outcome"] for r in report} == {"created"}


def test_import_xlsx(home: Path, runner: CliRunner, tmp_path: Path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["record_kind", "name.en", "name.ms", "kind", "country", "city", "identifiers.ror", "visibility"])
    ws.append(["institution", "Universiti Malaya", "Universiti Malaya", "university", "MY", "Kuala Lumpur",
               "00rzspn62", None])
    ws.append(["institution", "SIRIM", None, "research_institute", "MY", None, None, "alliance"])
    ws2 = wb.create_sheet("tech")
    ws2.append(TECH_HEADER)
    ws2.append(["Rice transplanter", None, OWNER, "modern_agriculture", None, 4, "licence;assignment",
                "matched"])
    ws2.append(["Rice mill", "碾米机", OWNER, "modern_agriculture", "rice", 6, "licence", "matched"])
    wb.save(tmp_path / "data.xlsx")

    result = run(runner, home, "import", str(tmp_path / "data.xlsx"))
    assert result.exit_code == 0, result.output
    assert state(home)[0] == {"institution": 2}
    by_name = {e["body"]["name"]["en"]: e for e in records(home)}
    assert by_name["SIRIM"]["visibility"] == "alliance"
    assert by_name["Universiti Malaya"]["body"]["identifiers"] == {"ror": "00rzspn62"}

    result = run(runner, home, "import", str(tmp_path / "data.xlsx"), "--sheet", "tech", "--kind", "technology")
    assert result.exit_code == 0, result.output
    techs = {e["body"]["title"]["en"]: e["body"] for e in records(home) if e["kind"] == "technology"}
    assert techs["Rice transplanter"]["trl"] == 4 and techs["Rice mill"]["trl"] == 6


def test_xlsx_float_integers(home: Path, runner: CliRunner, tmp_path: Path):
    wb = openpyxl.Workbook()
    wb.active.append(TECH_HEADER)
    wb.active.append(["Drone sprayer", None, OWNER, "modern_agriculture", None, 7.0, "licence", "registered"])
    wb.save(tmp_path / "t.xlsx")
    assert run(runner, home, "import", str(tmp_path / "t.xlsx"), "--kind", "technology").exit_code == 0
    assert records(home)[0]["body"]["trl"] == 7


def test_skip_invalid_xlsx_writes_rejects_workbook(home: Path, runner: CliRunner, tmp_path: Path):
    wb = openpyxl.Workbook()
    wb.active.append(TECH_HEADER)
    wb.active.append(["Drone sprayer", None, OWNER, "modern_agriculture", None, 7, "licence", "registered"])
    wb.active.append(["Fish feeder", None, OWNER, "fisheries_aquaculture", None, "seven", "licence", "registered"])
    wb.save(tmp_path / "t.xlsx")
    result = run(runner, home, "import", str(tmp_path / "t.xlsx"), "--kind", "technology", "--skip-invalid")
    assert result.exit_code == 0, result.output
    assert "1 created" in result.stdout and "1 rejected" in result.stdout
    rows = list(openpyxl.load_workbook(tmp_path / "t.rejects.xlsx").active.values)
    assert rows[0][-1] == "errors" and rows[1][0] == "Fish feeder" and rows[1][-1].startswith("trl:")


def test_import_jsonl_drafts_and_updates(home: Path, runner: CliRunner, tmp_path: Path):
    src = write_jsonl(tmp_path / "d.jsonl", [
        {"kind": "technology", "body": tech_body(1)},
        {"body": tech_body(2), "visibility": "private"},
    ])
    result = run(runner, home, "import", str(src), "--kind", "technology")
    assert result.exit_code == 0, result.output
    envs = records(home)
    assert [e["visibility"] for e in envs] == ["public", "private"]
    rid = envs[0]["rid"]

    changed = dict(tech_body(1), trl=9)
    src = write_jsonl(tmp_path / "u.jsonl", [{"rid": rid, "body": changed},
                                             {"rid": envs[1]["rid"], "body": tech_body(2)}])
    result = run(runner, home, "import", str(src))
    assert result.exit_code == 0, result.output
    assert "1 updated, 1 unchanged" in result.stdout
    now = {e["rid"]: e for e in records(home)}
    assert now[rid]["version"] == 2 and now[rid]["body"]["trl"] == 9
    assert now[envs[1]["rid"]]["visibility"] == "private"


def test_version_column_refuses_stale_edits(home: Path, runner: CliRunner, tmp_path: Path):
    src = write_jsonl(tmp_path / "d.jsonl", [{"kind": "technology", "body": tech_body(1)}])
    assert run(runner, home, "import", str(src)).exit_code == 0
    rid = records(home)[0]["rid"]
    edit = write_jsonl(tmp_path / "e.jsonl", [{"rid": rid, "version": 1, "body": dict(tech_body(1), trl=3)}])
    assert run(runner, home, "import", str(edit)).exit_code == 0
    before = state(home)
    result = run(runner, home, "import", str(edit))   # made from version 1, now 2 is stored
    assert result.exit_code == 1 and "version" in result.stderr and "stored version is 2" in result.stderr
    assert state(home) == before


def test_all_or_nothing_csv(home: Path, runner: CliRunner, tmp_path: Path):
    run(runner, home, "import", str(write_csv(tmp_path / "a.csv", [tech_row(0)])), "--kind", "technology")
    before = state(home)
    rows = [tech_row(n) for n in range(1, 30)]
    rows[10]["trl"] = "seven"
    rows[20]["title.en"] = "x" * 400
    src = write_csv(tmp_path / "b.csv", rows)
    result = run(runner, home, "import", str(src), "--kind", "technology")
    assert result.exit_code == 1
    assert "row 12, trl:" in result.stderr and "row 22, title.en:" in result.stderr
    assert "nothing was imported" in result.stderr
    assert state(home) == before
    report = report_lines(tmp_path / "b.csv.report.jsonl")
    assert len(report) == 29
    bad = [r for r in report if r["outcome"] == "rejected"]
    assert [(r["row"], r["errors"][0]["field"]) for r in bad] == [(12, "trl"), (22, "title.en")]
    assert {r["outcome"] for r in report if r not in bad} == {"not_imported"}


def test_all_or_nothing_jsonl_in_parallel(home: Path, runner: CliRunner, tmp_path: Path):
    run(runner, home, "import", str(write_jsonl(tmp_path / "a.jsonl", [{"body": tech_body(0)}])),
        "--kind", "technology")
    before = state(home)
    items: list = [{"body": tech_body(n)} for n in range(1, 5000)]
    items[4000] = '{"body": {"title": {"en": "dup"}, "title": {"en": "again"}}}'
    items[4500] = "{not json"
    result = run(runner, home, "import", str(write_jsonl(tmp_path / "b.jsonl", items)),
                 "--kind", "technology", "--jobs", "2")
    assert result.exit_code == 1
    assert "row 4001, title: Duplicate key." in result.stderr
    assert "row 4501, (line): Not JSON" in result.stderr
    assert state(home) == before


def test_store_rejection_aborts_everything(home: Path, runner: CliRunner, tmp_path: Path):
    rid = new_rid(NODE, "technology")
    env = make_envelope(rid=rid, body=tech_body(1), version=1, hlc="1700000000000-0000", visibility="public")
    run(runner, home, "import", str(write_jsonl(tmp_path / "a.jsonl", [env])))
    before = state(home)
    other = dict(env, body=tech_body(2))   # same version, other content: the store refuses it
    result = run(runner, home, "import", str(write_jsonl(tmp_path / "b.jsonl", [{"body": tech_body(3)}, other])),
                 "--kind", "technology")
    assert result.exit_code == 1 and "row 2, (record): equivocation" in result.stderr
    assert state(home) == before
    assert [r["outcome"] for r in report_lines(tmp_path / "b.jsonl.report.jsonl")] == ["not_imported", "rejected"]


def test_skip_invalid_csv_writes_rejects(home: Path, runner: CliRunner, tmp_path: Path):
    rows = [tech_row(n) for n in range(6)]
    rows[2]["trl"] = "seven"
    rows[4]["fields"] = "ict;astrology"
    src = write_csv(tmp_path / "t.csv", rows)
    result = run(runner, home, "import", str(src), "--kind", "technology", "--skip-invalid")
    assert result.exit_code == 0, result.output
    assert "4 created" in result.stdout and "2 rejected" in result.stdout
    assert state(home)[0] == {"technology": 4}
    with open(tmp_path / "t.rejects.csv", encoding="utf-8-sig", newline="") as f:
        rejects = list(csv.DictReader(f))
    assert [r["title.en"] for r in rejects] == ["Solar dryer 2", "Solar dryer 4"]
    assert rejects[0]["trl"] == "seven" and rejects[0]["errors"].startswith("trl: ")
    assert rejects[1]["errors"].startswith("fields: item 2:")

    # fixed in place, the rejects file imports as it is (its errors column is ignored)
    rejects[0]["trl"], rejects[1]["fields"] = "7", "ict"
    write_csv(tmp_path / "fixed.csv", rejects)
    result = run(runner, home, "import", str(tmp_path / "fixed.csv"), "--kind", "technology")
    assert result.exit_code == 0, result.output
    assert state(home)[0] == {"technology": 6}


def test_skip_invalid_jsonl_writes_rejects(home: Path, runner: CliRunner, tmp_path: Path):
    foreign = make_envelope(rid=new_rid("other-node", "technology"), body=tech_body(9), version=1,
                            hlc="1700000000000-0000", visibility="public")
    src = write_jsonl(tmp_path / "t.jsonl", [{"body": tech_body(1)}, {"body": {"trl": 3}}, foreign,
                                             {"body": tech_body(2), "colour": "red"}])
    result = run(runner, home, "import", str(src), "--kind", "technology", "--skip-invalid",
                 "--rejects", str(tmp_path / "bad.jsonl"))
    assert result.exit_code == 0, result.output
    assert state(home)[0] == {"technology": 1}
    rejects = report_lines(tmp_path / "bad.jsonl")
    assert len(rejects) == 3
    assert {e["field"] for e in rejects[0]["_errors"]} >= {"body.title", "body.owner"}
    assert rejects[1]["rid"] == foreign["rid"] and "other-node" in rejects[1]["_errors"][0]["detail"]
    assert rejects[2]["colour"] == "red" and rejects[2]["_errors"][0]["field"] == "colour"


def test_unknown_column_rejects_the_whole_file(home: Path, runner: CliRunner, tmp_path: Path):
    src = write_csv(tmp_path / "t.csv", [dict(tech_row(1), colour="red")])
    result = run(runner, home, "import", str(src), "--kind", "technology", "--skip-invalid")
    assert result.exit_code == 1 and "colour" in result.stderr and "Traceback" not in result.output
    assert sum(state(home)[0].values()) == 0


def test_csv_needs_a_kind(home: Path, runner: CliRunner, tmp_path: Path):
    result = run(runner, home, "import", str(write_csv(tmp_path / "t.csv", [tech_row(1)])))
    assert result.exit_code == 1 and "--kind" in result.stderr


def test_non_utf8_csv(home: Path, runner: CliRunner, tmp_path: Path):
    path = tmp_path / "t.csv"
    path.write_bytes(",".join(TECH_HEADER).encode() + b"\n" + "Café".encode("latin-1") + b",,,,,,,\n")
    result = run(runner, home, "import", str(path), "--kind", "technology")
    assert result.exit_code == 1 and "UTF-8" in result.stderr
    assert sum(state(home)[0].values()) == 0


# -- export ---------------------------------------------------------------------------------

def _fill(home: Path, runner: CliRunner, tmp_path: Path) -> None:
    inst = [{"kind": "institution", "rid": OWNER, "body": {
        "name": {"en": "Universitas Indonesia", "id": "Universitas Indonesia"}, "kind": "university",
        "country": "ID", "identifiers": {"ror": "0116zj450"}}}]
    techs = [{"kind": "technology", "body": tech_body(n), "visibility": "private" if n % 3 == 0 else "public"}
             for n in range(10)]
    techs[1]["body"]["keywords"] = ["semi;colon", "pipe|d"]
    assert run(runner, home, "import", str(write_jsonl(tmp_path / "fill.jsonl", inst + techs))).exit_code == 0
    rid = records(home)[-1]["rid"]
    deleted = write_csv(tmp_path / "del.csv", [{"rid": rid, "deleted": "true"}])
    result = run(runner, home, "import", str(deleted))
    assert result.exit_code == 0, result.output


def test_export_jsonl_round_trip(home: Path, runner: CliRunner, tmp_path: Path):
    _fill(home, runner, tmp_path)
    out = tmp_path / "all.jsonl"
    result = run(runner, home, "export", "--format", "jsonl", "--output", str(out))
    assert result.exit_code == 0, result.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 11
    envs = [json.loads(line) for line in lines]
    assert any(e["visibility"] == "private" for e in envs) and any(e["deleted"] for e in envs)
    before = state(home)
    result = run(runner, home, "import", str(out))
    assert result.exit_code == 0, result.output
    assert "11 unchanged" in result.stdout
    assert {r["outcome"] for r in report_lines(tmp_path / "all.jsonl.report.jsonl")} == {"unchanged"}
    assert state(home) == before


def test_export_csv_round_trip(home: Path, runner: CliRunner, tmp_path: Path):
    _fill(home, runner, tmp_path)
    out = tmp_path / "tech.csv"
    result = run(runner, home, "export", "--format", "csv", "--kind", "technology", "-o", str(out))
    assert result.exit_code == 0, result.output
    with open(out, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10
    assert list(rows[0])[:4] == ["rid", "version", "visibility", "deleted"]
    assert {"title.en", "title.id", "owner", "trl"} <= set(rows[0])
    before = state(home)
    result = run(runner, home, "import", str(out))
    assert result.exit_code == 0, result.output
    assert "10 unchanged" in result.stdout
    assert state(home) == before

    # an edit in the spreadsheet becomes the next version
    rows[1]["title.en"] = "Renamed"
    write_csv(out, rows)
    result = run(runner, home, "import", str(out))
    assert result.exit_code == 0 and "1 updated, 9 unchanged" in result.stdout
    renamed = [e for e in records(home) if e["kind"] == "technology" and e["body"] and
               e["body"]["title"]["en"] == "Renamed"]
    assert renamed[0]["version"] == 2 and renamed[0]["body"]["keywords"] == ["semi;colon", "pipe|d"]


def test_export_to_stdout(home: Path, runner: CliRunner, tmp_path: Path):
    _fill(home, runner, tmp_path)
    result = run(runner, home, "export", "--format", "csv", "--kind", "institution")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert rows[0]["name.id"] == "Universitas Indonesia" and rows[0]["identifiers.ror"] == "0116zj450"
    assert rows[0]["kind"] == "university"


def test_export_csv_needs_kind(home: Path, runner: CliRunner):
    result = run(runner, home, "export", "--format", "csv")
    assert result.exit_code == 2 and "--kind" in result.stderr


# -- demo -----------------------------------------------------------------------------------

def test_demo_builds_once_and_round_trips_every_kind(tmp_path: Path, runner: CliRunner):
    home = tmp_path / "demo"
    result = runner.invoke(cli, ["demo", "--dir", str(home), "--no-serve"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().rsplit(" ", 1)[1]
    assert Tokens(home).role_of(token) == "editor"
    counts, seq = state(home)
    # the generated alliance and the showcase: a Chinese-only technology and the next forum
    assert sum(counts.values()) == 502 and seq == 502
    assert all(e["origin"] == load_node(home).node_id for e in records(home))
    shown = json.loads((home / "demo.json").read_text())["showcase"]
    by_rid = {e["rid"]: e for e in records(home)}
    assert set(by_rid[shown["chinese_only"]]["body"]["title"]) == {"zh-Hans"}
    assert by_rid[shown["next_event"]]["body"]["starts_on"] > date.today().isoformat()

    result = runner.invoke(cli, ["demo", "--dir", str(home), "--no-serve"])
    assert result.exit_code == 0 and "Reusing" in result.stderr
    assert state(home) == (counts, seq)

    # every kind of the generated alliance survives CSV export → import unchanged
    for kind in counts:
        out = tmp_path / f"{kind}.csv"
        result = run(runner, home, "export", "--format", "csv", "--kind", kind, "-o", str(out))
        assert result.exit_code == 0, result.output
        result = run(runner, home, "import", str(out))
        assert result.exit_code == 0, result.output
        assert f"{counts[kind]} unchanged" in result.stdout, (kind, result.stdout)
    assert state(home) == (counts, seq)


def test_demo_refuses_a_node_that_is_not_a_demo(home: Path, runner: CliRunner):
    result = runner.invoke(cli, ["demo", "--dir", str(home), "--no-serve"])
    assert result.exit_code == 2 and "not a finished demo" in result.stderr
