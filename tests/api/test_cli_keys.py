"""Node keys and the node's registry through the CLI, and the signatures on everything a node
writes (REST API, import, demo), checked against a real alliance registry."""
from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from apikit import NODE_ID, body, make_node
from click.testing import CliRunner

from jembatan.api.cli import cli
from jembatan.api.node import load_node
from jembatan.graph import open_store
from jembatan.graph.store import LOCAL
from jembatan.network.keys import add_key, format_time, generate_key, now_ms, read_key_infos
from jembatan.network.registry import admit, load_registry, new_document, publish
from jembatan.network.signing import verify_text

ROOT = generate_key()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args: str):
    return runner.invoke(cli, [str(a) for a in args])


def registry_for(home: Path, node_id: str, serial: int = 1):
    """An alliance registry admitting every key of the node in ``home``."""
    doc = new_document("TTA")
    for info in read_key_infos(home):
        doc = admit(doc, node_id, url="https://node.example/", kid=info.kid, public=info.public,
                    not_before=info.not_before)
    return load_registry(publish(doc, ROOT, serial=serial), ROOT.public)


def stored_texts(home: Path) -> list[str]:
    store = open_store(load_node(home).store_url)
    try:
        return [r.text for r in store.iter_all(LOCAL)]
    finally:
        store.close()


@pytest.fixture
def home(tmp_path: Path, runner: CliRunner) -> Path:
    home = tmp_path / "node"
    result = run(runner, "init", "--dir", home, "--name", "Key Test", "--country", "ID",
                 "--node-id", "key-test", "--url", "https://key-test.example/")
    assert result.exit_code == 0, result.output
    return home


# -- keys -----------------------------------------------------------------------------------

def test_init_makes_the_first_key(home: Path, runner: CliRunner):
    result = run(runner, "key", "show", "--dir", home, "--json")
    assert result.exit_code == 0, result.output
    [card] = json.loads(result.stdout)
    assert card["node_id"] == "key-test" and card["url"] == "https://key-test.example/"
    assert card["not_before"] == "1970-01-01T00:00:00Z" and card["not_after"] is None
    assert stat.S_IMODE((home / "keys" / f"{card['kid']}.pem").stat().st_mode) == 0o600
    human = run(runner, "key", "show", "--dir", home).stdout
    assert card["kid"] in human and card["public"] in human


def test_rotate_keeps_the_old_key_and_closes_its_window(home: Path, runner: CliRunner):
    [old] = read_key_infos(home)
    result = run(runner, "key", "rotate", "--dir", home, "--not-before", "2999-01-01T00:00:00Z")
    assert result.exit_code == 0, result.output
    cards = json.loads(run(runner, "key", "show", "--dir", home, "--json").stdout)
    assert [c["kid"] for c in cards][0] == old.kid and len(cards) == 2
    assert cards[0]["not_after"] == cards[1]["not_before"] == "2999-01-01T00:00:00Z"
    assert "--not-before 2999-01-01T00:00:00Z" in result.stdout   # the admit line to pass on
    assert all((home / "keys" / f"{c['kid']}.pem").exists() for c in cards)


@pytest.mark.parametrize("when, code, message", [
    ("2001-01-01T00:00:00Z", 1, "in the past"),
    ("last tuesday", 2, "ISO 8601"),
])
def test_rotate_refuses_bad_times_and_changes_nothing(home: Path, runner: CliRunner, when, code,
                                                     message):
    before = (home / "keys.json").read_bytes()
    result = run(runner, "key", "rotate", "--dir", home, "--not-before", when)
    assert result.exit_code == code and message in result.stderr
    assert "Traceback" not in result.output
    assert (home / "keys.json").read_bytes() == before
    assert len(list((home / "keys").iterdir())) == 1


def test_init_with_a_bad_alliance_root_makes_nothing(tmp_path: Path, runner: CliRunner):
    result = run(runner, "init", "--dir", tmp_path / "n", "--name", "N", "--country", "ID",
                 "--alliance-root", "not-a-key")
    assert result.exit_code == 2 and "--alliance-root" in result.stderr
    assert not (tmp_path / "n").exists()


# -- the node's registry --------------------------------------------------------------------

def test_registry_pin_import_show(home: Path, runner: CliRunner, tmp_path: Path):
    one, two = (tmp_path / "r1.json", tmp_path / "r2.json")
    one.write_bytes(registry_for(home, "key-test", 1).text)
    two.write_bytes(registry_for(home, "key-test", 2).text)
    result = run(runner, "registry", "import", "--dir", home, two)
    assert result.exit_code == 1 and "registry pin" in result.stderr      # no root pinned yet
    assert run(runner, "registry", "pin", "--dir", home, ROOT.public).exit_code == 0
    assert load_node(home).alliance_root == ROOT.public
    result = run(runner, "registry", "import", "--dir", home, two)
    assert result.exit_code == 0 and "serial 2" in result.stdout
    for stale in (one, two):
        result = run(runner, "registry", "import", "--dir", home, stale)
        assert result.exit_code == 1 and "not higher" in result.stderr
    forged = tmp_path / "forged.json"
    forged.write_bytes(publish(new_document("TTA"), generate_key(), serial=9))
    result = run(runner, "registry", "import", "--dir", home, forged)
    assert result.exit_code == 1 and "root key" in result.stderr
    assert (home / "registry.json").read_bytes() == two.read_bytes()      # the last good copy
    shown = run(runner, "registry", "show", "--dir", home)
    assert "serial 2" in shown.stdout and "key-test  active" in shown.stdout
    assert run(runner, "registry", "show", "--dir", home, "--json").stdout.encode() == two.read_bytes()
    # another root needs --replace, and drops the registry the old root signed
    other = generate_key().public
    assert run(runner, "registry", "pin", "--dir", home, other).exit_code == 2
    assert run(runner, "registry", "pin", "--dir", home, other, "--replace").exit_code == 0
    assert not (home / "registry.json").exists()


# -- every record a node writes is signed ---------------------------------------------------

def test_api_writes_are_signed_with_the_current_key(tmp_path: Path):
    node = make_node(tmp_path / "api-node")
    try:
        reg = registry_for(node.home, NODE_ID)
        created = node.created("technology")
        rid = created["rid"]
        etag = node.get("technology", rid).headers["ETag"]
        assert node.put("technology", rid, body("technology", trl=8),
                        **{"If-Match": etag}).status_code == 200
        etag = node.get("technology", rid).headers["ETag"]
        assert node.delete("technology", rid, **{"If-Match": etag}).status_code == 204
        texts = stored_texts(node.home)
        assert len(texts) == 1     # the tombstone replaced the record
        for text in texts:
            env = verify_text(text, reg)
            assert env["sigs"][0]["signer"] == NODE_ID
        assert created["sigs"][0]["kid"] == read_key_infos(node.home)[0].kid

        # a rotation reaches the running app: the next write carries the new kid
        start = now_ms() - 5_000
        new = add_key(node.home, start, now=start)
        rotated = node.created("institution")
        assert rotated["sigs"][0]["kid"] == new.kid
        assert format_time(start) == read_key_infos(node.home)[0].not_after
        verify_text(stored_texts(node.home)[-1], registry_for(node.home, NODE_ID))
    finally:
        node.app.extensions["jembatan"].close()


def test_imports_are_signed(home: Path, runner: CliRunner, tmp_path: Path):
    owner = "urn:jembatan:key-test:institution:0190a5b0-0000-7000-8000-000000000001"
    draft = {"kind": "technology", "body": dict(body("technology"), owner=owner)}
    src = tmp_path / "t.jsonl"
    src.write_text("\n".join(json.dumps(draft) for _ in range(3)) + "\n")
    result = run(runner, "import", "--dir", home, src)
    assert result.exit_code == 0, result.output
    reg = registry_for(home, "key-test")
    texts = stored_texts(home)
    assert len(texts) == 3 and all(verify_text(t, reg) for t in texts)
    # a whole envelope with a forged signature is signed again by the node
    env = json.loads(texts[0])
    env["body"]["trl"] = 9
    env["version"] = 2
    src.write_text(json.dumps(env) + "\n")
    result = run(runner, "import", "--dir", home, src)
    assert result.exit_code == 0 and "1 updated" in result.stdout
    assert all(verify_text(t, reg) for t in stored_texts(home))


def test_demo_records_are_signed(tmp_path: Path, runner: CliRunner):
    home = tmp_path / "demo"
    result = run(runner, "demo", "--dir", home, "--no-serve")
    assert result.exit_code == 0, result.output
    reg = registry_for(home, load_node(home).node_id)
    texts = stored_texts(home)
    assert len(texts) == 502          # the generated alliance and the two showcase records
    assert all(verify_text(t, reg)["origin"] == load_node(home).node_id for t in texts)
