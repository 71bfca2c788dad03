"""A node directory: its identity (node.json), keys, store, and API tokens (auth.db).

    DIR/node.json      {"node_id", "name", "country", "store", "created",
                        "url"?, "alliance_root"?}
    DIR/keys.json      the node's public keys and their validity windows (``network.keys``)
    DIR/keys/<kid>.pem its private signing keys, mode 0600
    DIR/registry.json  the last good alliance registry (``network.registry``)
    DIR/node.db        the embedded store (default)
    DIR/auth.db        bearer tokens, stored as SHA-256 hashes, each with a role
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
from urllib.parse import urlsplit

from jembatan.network import vocab
from jembatan.network.ids import is_node_id
from jembatan.network.keys import add_key, check_public, write_atomic
from jembatan.network.registry import REGISTRY_FILE
from jembatan.network.text import clean_string

#: admin and editor write; analyst and viewer read; admin and analyst may run Cypher
ROLES = ("admin", "editor", "analyst", "viewer")
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
    url: str | None = None              # the base URL peers reach the node at, if known
    alliance_root: str | None = None    # the pinned alliance root public key

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


def _check_root(key: str) -> str:
    try:
        return check_public(key.strip())
    except ValueError:
        raise NodeError(f"--alliance-root {key!r} is not an ed25519 public key "
                        "(43 characters of base64url, as `jembatan alliance init` prints it)")


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise NodeError(f"--url {url!r}: an http(s) base URL without query or fragment")
    return url


def init_node(home: Path, *, name: str, country: str, node_id: str | None = None,
              store: str = "sqlite:///node.db", url: str | None = None,
              alliance_root: str | None = None, key_not_before_ms: int | None = None) -> NodeConfig:
    """Make a node directory: node.json and the node's first signing key.

    The first key's window starts at the epoch unless ``key_not_before_ms`` says otherwise
    (see ``network.keys``).
    """
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
    cfg = {"node_id": node_id, "name": name, "country": country, "store": store,
           "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if url:
        cfg["url"] = _check_url(url)
    if alliance_root:
        cfg["alliance_root"] = _check_root(alliance_root)
    home.mkdir(parents=True, exist_ok=True)
    # the key first: node.json is what makes a directory a node, so it comes last
    add_key(home, key_not_before_ms, first_only=True)
    _write_config(home, cfg)
    return load_node(home)


def _write_config(home: Path, cfg: dict) -> None:
    write_atomic(home / CONFIG_FILE,
                 (json.dumps(cfg, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))


def pin_alliance_root(home: Path | str, key: str, *, replace: bool = False) -> bool:
    """Pin the alliance root public key in node.json. Pinning another root than the one
    pinned needs ``replace`` and drops the registry the old root signed; True if it did."""
    home = load_node(home).home
    key = _check_root(key)
    cfg = json.loads((home / CONFIG_FILE).read_text(encoding="utf-8"))
    old = cfg.get("alliance_root")
    if old == key:
        return False
    if old and not replace:
        raise NodeError(f"this node already pins the alliance root {old}; pass --replace to "
                        "pin another (the registry signed by the old root is dropped)")
    cfg["alliance_root"] = key
    _write_config(home, cfg)
    dropped = (home / REGISTRY_FILE).exists()
    (home / REGISTRY_FILE).unlink(missing_ok=True)
    return dropped


def load_node(home: Path | str | None) -> NodeConfig:
    if home is None:
        raise NodeError("no node directory: pass --dir or set JEMBATAN_HOME")
    home = Path(home).resolve()
    try:
        cfg = json.loads((home / CONFIG_FILE).read_text(encoding="utf-8"))
        return NodeConfig(home, cfg["node_id"], cfg["name"], cfg["country"], cfg["store"],
                          cfg.get("url"), cfg.get("alliance_root"))
    except FileNotFoundError:
        raise NodeError(f"{home} is not a node directory (run `jembatan init --dir {home}`)")
    except (ValueError, KeyError) as exc:
        raise NodeError(f"{home / CONFIG_FILE} is malformed: {exc}")


def connect_auth_db(home: Path | str, *tables: str) -> sqlite3.Connection:
    """The node's auth.db (tokens, staff accounts, sessions) with ``tables`` made if missing:
    made on every connect, so a node whose auth.db was removed still answers (401s)."""
    db = sqlite3.connect(Path(home) / "auth.db", timeout=10)
    db.execute("PRAGMA journal_mode=WAL")
    for ddl in tables:
        db.execute(ddl)
    return db


class Tokens:
    """Bearer tokens of a node; only their SHA-256 is kept."""

    def __init__(self, home: Path):
        self._home = Path(home)

    def _connect(self) -> sqlite3.Connection:
        return connect_auth_db(self._home, "CREATE TABLE IF NOT EXISTS tokens (hash TEXT PRIMARY"
                               " KEY, role TEXT NOT NULL, label TEXT, created TEXT NOT NULL)")

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
        found = self.holder_of(token)
        return found[0] if found else None

    def holder_of(self, token: str) -> tuple[str, str | None] | None:
        """(role, label) of a known token; None for an unknown one."""
        with self._connect() as db:
            row = db.execute("SELECT role, label FROM tokens WHERE hash = ?",
                             (self._hash(token),)).fetchone()
        return (row[0], row[1]) if row else None
