"""Fixtures for the REST API: a real node directory, the real app and its real SQLite store."""
from __future__ import annotations

from pathlib import Path

import pytest
from apikit import NODE_ID, Node, make_node

from jembatan.api.node import init_node


@pytest.fixture
def node_home(tmp_path: Path) -> Path:
    """A bare node directory (no app yet)."""
    home = tmp_path / "bare-node"
    init_node(home, name="Test Node", country="ID", node_id=NODE_ID)
    return home


@pytest.fixture
def node(tmp_path: Path) -> Node:
    """A fresh node with its app, an empty store and a token per role."""
    node = make_node(tmp_path / "node")
    yield node
    node.app.extensions["jembatan"].close()


@pytest.fixture
def app(node: Node):
    return node.app
