"""``jembatan alliance``: the root key and the registry, end to end through the CLI, and a
node that pins the root and installs what the administrator publishes."""
from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from jembatan.api.cli import cli
from jembatan.network.keys import generate_key
from jembatan.network.registry import load_node_registry, load_registry


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args, code: int = 0):
    result = runner.invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def alliance(tmp_path: Path, runner: CliRunner) -> tuple[Path, str]:
    adir = tmp_path / "alliance"
    result = run(runner, "alliance", "init", "--dir", adir, "--name", "China–ASEAN TTA")
    return adir, result.stdout.strip().splitlines()[-1]


def registry(adir: Path, root: str):
    return load_registry((adir / "registry.json").read_bytes(), root)


def test_init_makes_a_private_root_key_and_a_signed_empty_registry(alliance, runner: CliRunner):
    adir, root = alliance
    assert stat.S_IMODE((adir / "root.pem").stat().st_mode) == 0o600
    reg = registry(adir, root)
    assert reg.serial == 0 and reg.nodes() == () and reg.alliance == "China–ASEAN TTA"
    result = run(runner, "alliance", "init", "--dir", adir, "--name", "Again", code=2)
    assert "already holds" in result.stderr
    assert registry(adir, root).serial == 0


def test_each_change_raises_the_serial_and_is_signed(alliance, runner: CliRunner):
    adir, root = alliance
    k1, k2 = generate_key("k-20250101-111111"), generate_key("k-20250601-222222")
    run(runner, "alliance", "admit", "--dir", adir, "node-a", "--url", "https://a.example/",
        "--kid", k1.kid, "--public-key", k1.public)
    reg = registry(adir, root)
    assert reg.serial == 1 and reg.is_member("node-a")
    assert reg.node("node-a").keys[0].not_before == "1970-01-01T00:00:00Z"   # like `init` makes it

    run(runner, "alliance", "admit", "--dir", adir, "node-a", "--kid", k2.kid, "--public-key",
        k2.public, "--not-before", "2025-06-01T00:00:00Z")
    keys = registry(adir, root).node("node-a").keys
    assert [k.not_after for k in keys] == ["2025-06-01T00:00:00Z", None]
    assert registry(adir, root).serial == 2

    run(runner, "alliance", "suspend", "--dir", adir, "node-a")
    assert not registry(adir, root).is_member("node-a")
    run(runner, "alliance", "reinstate", "--dir", adir, "node-a")
    assert registry(adir, root).is_member("node-a")
    run(runner, "alliance", "revoke-key", "--dir", adir, "node-a", k1.kid)
    assert registry(adir, root).node("node-a").keys[0].status == "revoked"
    run(runner, "alliance", "revoke", "--dir", adir, "node-a")
    reg = registry(adir, root)
    assert reg.serial == 6 and reg.node("node-a").status == "revoked"

    shown = run(runner, "alliance", "show", "--dir", adir).stdout
    assert root in shown and "serial 6" in shown and "node-a  revoked" in shown
    assert run(runner, "alliance", "show", "--dir", adir, "--json").stdout.encode() == reg.text


@pytest.mark.parametrize("args, code, message", [
    (["node-b", "--url", "https://b.example/", "--kid", "k-1", "--public-key", "short"], 2,
     "--public-key"),
    (["Node B", "--url", "https://b.example/", "--kid", "k-1", "--public-key", "@"], 2, "NODE_ID"),
    (["node-b", "--kid", "k-1", "--public-key", generate_key().public], 1, "base URL"),
    (["node-b", "--url", "ftp://b.example/", "--kid", "k-1", "--public-key",
      generate_key().public], 1, "url"),
    (["node-b", "--url", "https://b.example/", "--kid", "k 1", "--public-key",
      generate_key().public], 2, "--kid"),
    (["node-b", "--url", "https://b.example/"], 2, "--kid"),
])
def test_bad_admissions_change_nothing(alliance, runner: CliRunner, args, code, message):
    adir, root = alliance
    before = (adir / "registry.json").read_bytes()
    result = run(runner, "alliance", "admit", "--dir", adir, *args, code=code)
    assert message in result.stderr
    assert (adir / "registry.json").read_bytes() == before


@pytest.mark.parametrize("command", [["suspend", "node-x"], ["revoke-key", "node-x", "k-1"]])
def test_unknown_nodes_are_named(alliance, runner: CliRunner, command):
    adir, _ = alliance
    before = (adir / "registry.json").read_bytes()
    result = run(runner, "alliance", command[0], "--dir", adir, *command[1:], code=1)
    assert "node-x" in result.stderr and (adir / "registry.json").read_bytes() == before


def test_revocation_is_final(alliance, runner: CliRunner):
    adir, _ = alliance
    key = generate_key()
    run(runner, "alliance", "admit", "--dir", adir, "node-a", "--url", "https://a.example/",
        "--kid", key.kid, "--public-key", key.public)
    run(runner, "alliance", "revoke", "--dir", adir, "node-a")
    assert "final" in run(runner, "alliance", "reinstate", "--dir", adir, "node-a", code=1).stderr
    other = generate_key("k-29990101-aaaaaa")
    result = run(runner, "alliance", "admit", "--dir", adir, "node-a", "--kid", other.kid,
                 "--public-key", other.public, code=1)
    assert "final" in result.stderr


def test_not_an_alliance_directory(tmp_path: Path, runner: CliRunner):
    result = run(runner, "alliance", "show", "--dir", tmp_path, code=2)
    assert "alliance init" in result.stderr


def test_a_node_joins_the_alliance_end_to_end(alliance, runner: CliRunner, tmp_path: Path):
    adir, root = alliance
    home = tmp_path / "jakarta"
    run(runner, "init", "--dir", home, "--name", "BRIN Jakarta", "--country", "ID", "--node-id",
        "brin-jakarta", "--url", "https://jembatan.brin.example/", "--alliance-root", root)
    card = tmp_path / "card.json"
    card.write_text(run(runner, "key", "show", "--dir", home, "--json").stdout)
    result = run(runner, "alliance", "admit", "--dir", adir, "--card", card)
    assert "Admitted node brin-jakarta" in result.stdout
    run(runner, "registry", "import", "--dir", home, adir / "registry.json")
    reg = load_node_registry(home)
    [mine] = json.loads(card.read_text())
    assert reg.is_member("brin-jakarta")
    assert reg.node("brin-jakarta").url == "https://jembatan.brin.example/"
    assert reg.key_for("brin-jakarta", mine["kid"], 1_700_000_000_000) == mine["public"]

    # the node rotates; the administrator admits the new key from the new card
    run(runner, "key", "rotate", "--dir", home, "--not-before", "2999-01-01T00:00:00Z")
    card.write_text(run(runner, "key", "show", "--dir", home, "--json").stdout)
    run(runner, "alliance", "admit", "--dir", adir, "--card", card)
    run(runner, "registry", "import", "--dir", home, adir / "registry.json")
    keys = load_node_registry(home).node("brin-jakarta").keys
    assert [k.not_after for k in keys] == ["2999-01-01T00:00:00Z", None]
    # publishing the same serial again is refused; the node keeps its copy
    assert "not higher" in run(runner, "registry", "import", "--dir", home,
                               adir / "registry.json", code=1).stderr
