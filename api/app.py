"""The Flask application factory.

    create_app(config=None) → Flask

``config`` holds ``JEMBATAN_*`` settings (see ``api/settings.py``) overriding the environment,
and may add any Flask setting. Nothing touches the disk at import time; ``create_app`` reads
the node's ``node.json`` and the store is opened on first use in each process (gunicorn forks
its workers after importing the app, and a database connection must not cross a fork).
"""
from __future__ import annotations

import logging
import os
import threading
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from flask import Flask
from flask_smorest import Api

from jembatan.graph import open_store
from jembatan.graph.store import Store
from jembatan.network.hlc import Clock
from jembatan.network.keys import KeyRing, file_stamp, keys_stamp, load_keyring
from jembatan.network.registry import REGISTRY_FILE, Registry, load_node_registry
from jembatan.network.signing import sign_envelope
from jembatan.network.text import MultilingualText

from . import problems
from .agenda import agenda_blueprint
from .auth import TokenCache
from .cypher import cypher_blueprint
from .events import events_blueprint
from .federation import confirmation_blueprint, federation_blueprint
from .flows import flows_blueprint
from .graph import graph_blueprint
from .health import health_blueprint
from .lifecycle import lifecycle_blueprint
from .match import match_blueprint
from .node import NodeConfig, load_node
from .records import RESOURCE_KINDS, records_blueprint
from .search import search_blueprint
from .settings import from_env
from .sync_http import sync_blueprint
from .views import init_views

#: where the app serves Swagger UI's files from (``api/static/vendor/swagger-ui/``, copied
#: from the npm package ``swagger-ui-dist`` at build time: no CDN, the docs work offline)
SWAGGER_UI_URL = "/static/vendor/swagger-ui/"


def _package_version() -> str:
    try:
        return version("jembatan")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"


class NodeState:
    """What the app knows of its node: identity, settings, clock, tokens, keys and the store."""

    def __init__(self, node: NodeConfig, settings: dict[str, Any]):
        self.node = node
        self.store_url = _store_url(node, settings.get("JEMBATAN_STORE"))
        scheme = self.store_url.split(":", 1)[0]
        self.store_kind = "neo4j" if scheme.startswith(("neo4j", "bolt")) else scheme
        self.page_size = int(settings["JEMBATAN_PAGE_SIZE"])
        self.match_encoder = settings.get("JEMBATAN_MATCH_ENCODER") or "tfidf"
        self._matcher = None
        self.clock = Clock()
        self.tokens = TokenCache(node.home)
        self._store: Store | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._ring: KeyRing | None = None
        self._ring_stamp: tuple[int, int, int] | None = None
        self._registry: Registry | None = None
        self._registry_stamp: tuple[int, int, int] | None = None

    @property
    def keyring(self) -> KeyRing:
        """The node's keys, read on first use and again whenever keys.json is replaced (one
        stat per write), so a `jembatan key rotate` reaches a running server."""
        stamp = keys_stamp(self.node.home)
        ring = self._ring
        if ring is None or stamp != self._ring_stamp:
            with self._lock:
                ring = load_keyring(self.node.home)
                self._ring, self._ring_stamp = ring, stamp
        return ring

    @property
    def registry(self) -> Registry | None:
        """The node's last good alliance registry (None before the first), re-read when a
        sync or `jembatan registry import` replaces registry.json."""
        stamp = file_stamp(self.node.home / REGISTRY_FILE)
        if stamp != self._registry_stamp or (stamp is not None and self._registry is None):
            with self._lock:
                self._registry = None if stamp is None else load_node_registry(self.node.home)
                self._registry_stamp = stamp
        return self._registry

    def sign(self, env: dict) -> dict:
        """``env`` signed by this node with its key for the record's HLC moment."""
        key = self.keyring.at(int(env["hlc"][:13]))
        return sign_envelope(env, key, self.node.node_id)

    @property
    def matcher(self):
        """The match indexes of this process, made on first use (a fork makes its own)."""
        from jembatan.graph.match import Matcher

        if self._matcher is None or self._matcher[0] != os.getpid():
            with self._lock:
                self._matcher = (os.getpid(), Matcher(self.match_encoder))
        return self._matcher[1]

    @property
    def store(self) -> Store:
        """This process's store, opened on first use (and again in a forked child)."""
        store = self._store
        if store is not None and self._pid == os.getpid():
            return store
        with self._lock:
            if self._store is None or self._pid != os.getpid():
                # A store inherited through fork is dropped, not closed: closing it would
                # touch connections that belong to the parent.
                self._store = open_store(self.store_url)
                self._pid = os.getpid()
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None and self._pid == os.getpid():
                self._store.close()
            self._store = None


def _store_url(node: NodeConfig, override: str | None) -> str:
    if not override:
        return node.store_url
    if override.startswith("sqlite:///") and not override.startswith("sqlite:////"):
        path = Path(override.removeprefix("sqlite:///"))
        if not path.is_absolute():
            return f"sqlite:///{(node.home / path).resolve()}"
    return override


class JembatanApi(Api):
    """flask-smorest's Api with problem+json errors (one handler, see ``problems``)."""

    ERROR_SCHEMA = problems.ProblemSchema
    DEFAULT_ERROR_CONTENT_TYPE = problems.PROBLEM_JSON

    def _register_error_handlers(self) -> None:
        problems.init_app(self._app)

    def _register_responses(self) -> None:
        # flask-smorest documents errors as application/json; ours are problem+json.
        saved = self.DEFAULT_RESPONSE_CONTENT_TYPE
        self.DEFAULT_RESPONSE_CONTENT_TYPE = self.DEFAULT_ERROR_CONTENT_TYPE
        try:
            super()._register_responses()
        finally:
            self.DEFAULT_RESPONSE_CONTENT_TYPE = saved


def _multilingual_text_property(converter: Any, field: Any, **kwargs: Any) -> dict:
    """OpenAPI shape of a MultilingualText field: language tag → text."""
    if isinstance(field, MultilingualText):
        return {"type": "object", "additionalProperties": {"type": "string"},
                "example": {"zh-Hans": "…", "en": "…"}}
    return {}


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """A Flask app serving the node named by ``JEMBATAN_HOME``."""
    settings = from_env()
    settings.update(config or {})
    app = Flask(__name__)
    app.config.update(settings)
    app.config.update(
        MAX_CONTENT_LENGTH=int(settings["JEMBATAN_MAX_BODY_BYTES"]),
        API_TITLE="Jembatan",
        API_VERSION=_package_version(),
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="v1/openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=SWAGGER_UI_URL,
        API_SPEC_OPTIONS={"info": {"description": "The REST API of a Jembatan node: "
                                   "records of the China–ASEAN technology transfer alliance."},
                          "components": {"securitySchemes": {"bearer": {
                              "type": "http", "scheme": "bearer"}}}},
    )
    logging.getLogger("jembatan").setLevel(str(settings["JEMBATAN_LOG_LEVEL"]).upper())

    app.extensions["jembatan"] = NodeState(load_node(settings["JEMBATAN_HOME"]), settings)

    api = JembatanApi(app)
    api.ma_plugin.converter.add_attribute_function(_multilingual_text_property)
    for kind in RESOURCE_KINDS:
        api.register_blueprint(records_blueprint(kind))
    api.register_blueprint(search_blueprint())
    api.register_blueprint(health_blueprint())
    api.register_blueprint(federation_blueprint())
    api.register_blueprint(confirmation_blueprint())
    api.register_blueprint(sync_blueprint())
    api.register_blueprint(cypher_blueprint())
    api.register_blueprint(flows_blueprint())
    api.register_blueprint(events_blueprint())
    api.register_blueprint(lifecycle_blueprint())
    api.register_blueprint(graph_blueprint())
    api.register_blueprint(match_blueprint())
    api.register_blueprint(agenda_blueprint())
    init_views(app)
    return app
