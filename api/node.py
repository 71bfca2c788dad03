"""A node directory: its identity (node.json), its store, and its API tokens (auth.db).

    DIR/node.json   {"node_id", "name", "country", "store", "created"}
    DIR/node.db     the embedded store (default)
    DIR/auth.db     bearer tokens, stored as SHA-256 hashes, each with a role
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import sqlite3
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from jembatan.network import vocab
from jembatan.network.ids import is_node_id
from jembatan.network.text import clean_string

ROLES = ("admin", "editor", "viewer")
CONFIG_FILE = "node.json"


class NodeError(Exception):
    """A node directory that is missing, malformed or asked to be made twice."""


@dataclass(frozen=True)
class NodeConfig:
    home: Path
    node_id: str
    name: str
    country: str
    store: str

    @property
    def store_url(self) -> str:
        """The store URL with a relative sqlite path resolved against the node directory."""
        url = os.environ.get("JEMBATAN_STORE") or self.store
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            path = Path(url.removeprefix("sqlite:///"))
            if not path.is_absolute():
                return f"sqlite:///{(self.home / path).resolve()}"
        return url


def slug_node_id(name: str) -> str:
    """A node id from a name: ASCII slug plus a random suffix so two similar names differ."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:40].strip("-") or "node"
    return f"{slug}-{secrets.token_hex(3)}"


def init_node(home: Path, *, name: str, country: str, node_id: str | None = None,
              store: str = "sqlite:///node.db") -> NodeConfig:
    home = Path(home)
    if (home / CONFIG_FILE).exists():
        raise NodeError(f"{home} already holds a node ({CONFIG_FILE} exists)")
    name = clean_string(name)
    if not name or len(name) > 200:
        raise NodeError("--name must be 1 to 200 characters")
    country = country.upper()
    if country not in vocab.countries():
        raise NodeError(f"--country {country!r} is not an ISO 3166-1 alpha-2 code")
    node_id = node_id or slug_node_id(name)
    if not is_node_id(node_id):
        raise NodeError(f"--node-id {node_id!r}: lowercase letters, digits and '-', 1–63 characters")
    home.mkdir(parents=True, exist_ok=True)
    cfg = {"node_id": node_id, "name": name, "country": country, "store": store,
           "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    tmp = home / (CONFIG_FILE + ".tmp")
    tmp.write_text(json.dumps(cfg, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, home / CONFIG_FILE)
    return load_node(home)


def load_node(home: Path | str | None) -> NodeConfig:
    if home is None:
        raise NodeError("no node directory: pass --dir or set JEMBATAN_HOME")
    home = Path(home).resolve()
    try:
        cfg = json.loads((home / CONFIG_FILE).read_text(encoding="utf-8"))
        return NodeConfig(home, cfg["node_id"], cfg["name"], cfg["country"], cfg["store"])
    except FileNotFoundError:
        raise NodeError(f"{home} is not a node directory (run `jembatan init --dir {home}`)")
    except (ValueError, KeyError) as exc:
        raise NodeError(f"{home / CONFIG_FILE} is malformed: {exc}")


class Tokens:
    """Bearer tokens of a node; only their SHA-256 is kept."""

    def __init__(self, home: Path):
        self._path = Path(home) / "auth.db"

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        # Made on every connect, so a node whose auth.db was removed still answers (401s).
        db.execute("CREATE TABLE IF NOT EXISTS tokens (hash TEXT PRIMARY KEY, role TEXT NOT NULL,"
                   " label TEXT, created TEXT NOT NULL)")
        return db

    @staticmethod
    def _hash(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8")).hexdigest()

    def create(self, role: str, label: str | None = None) -> str:
        if role not in ROLES:
            raise NodeError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        token = "jbt_" + secrets.token_urlsafe(32)
        with self._connect() as db:
            db.execute("INSERT INTO tokens VALUES (?, ?, ?, ?)",
                       (self._hash(token), role, label,
                        datetime.now(timezone.utc).isoformat(timespec="seconds")))
        return token

    def role_of(self, token: str) -> str | None:
        with self._connect() as db:
            row = db.execute("SELECT role FROM tokens WHERE hash = ?", (self._hash(token),)).fetchone()
        return row[0] if row else None
