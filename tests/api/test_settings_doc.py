"""README's settings table names exactly the JEMBATAN_* settings the node reads."""
import re
from pathlib import Path

from jembatan.api.settings import SETTINGS, from_env

ROOT = Path(__file__).resolve().parents[2]


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(JEMBATAN_[A-Z_]+)` \|", readme, re.M))
    assert documented == set(SETTINGS)


def test_every_jembatan_name_in_the_code_is_a_setting():
    names = set()
    for folder in ("network", "graph", "sync", "api"):
        for path in (ROOT / folder).rglob("*.py"):
            names |= set(re.findall(r"\bJEMBATAN_[A-Z_]+\b", path.read_text(encoding="utf-8")))
    assert names <= set(SETTINGS), names - set(SETTINGS)


def test_integer_settings_parsed_and_checked():
    assert from_env({"JEMBATAN_MAX_BODY_BYTES": "2048"})["JEMBATAN_MAX_BODY_BYTES"] == 2048
    assert from_env({})["JEMBATAN_PAGE_SIZE"] == 50
    try:
        from_env({"JEMBATAN_PAGE_SIZE": "many"})
    except SystemExit as exc:
        assert "JEMBATAN_PAGE_SIZE" in str(exc)
    else:
        raise AssertionError("a non-integer setting must be refused")


def test_integer_settings_below_one_are_refused():
    import pytest

    with pytest.raises(SystemExit, match="JEMBATAN_CYPHER_MAX_ROWS"):
        from_env({"JEMBATAN_CYPHER_MAX_ROWS": "0"})
