"""Session-wide fixtures shared by every test folder."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

# tests/ holds helper modules (neo4j_server) importable from any test folder, whatever the
# import mode.
TESTS = str(Path(__file__).resolve().parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from neo4j_server import Neo4jServer, Neo4jUnavailable  # noqa: E402


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


@pytest.fixture(scope="session")
def neo4j_server(tmp_path_factory: pytest.TempPathFactory) -> Neo4jServer:
    """One real Neo4j server for the whole session, started by the first test that asks.

    Under CI a server that cannot be built or started is an error, never a skip.
    """
    home = tmp_path_factory.mktemp("neo4j")
    try:
        server = Neo4jServer(home).start()
    except Neo4jUnavailable as exc:
        if _in_ci():
            pytest.fail(f"Neo4j is required under CI=true and could not start: {exc}", pytrace=False)
        pytest.skip(f"Neo4j server unavailable (run `make neo4j`): {exc}")
    yield server
    server.stop()
    shutil.rmtree(home / "data", ignore_errors=True)  # keep the logs, drop the store
