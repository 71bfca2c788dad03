"""Real ``jembatan`` processes on 127.0.0.1 for the end-to-end tests.

    run(env, "init", ...)            one CLI command, checked
    Node.start() / stop() / kill9()  ``jembatan serve --port 0``; the URL is read from its output
    Alliance                         a root key and registry driven through ``jembatan alliance``
"""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

CLI = [sys.executable, "-m", "jembatan.api.cli"]


def run(env: dict | None, *args: Any, check: bool = True, timeout: float = 300
        ) -> subprocess.CompletedProcess:
    done = subprocess.run([*CLI, *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=timeout)
    if check:
        assert done.returncode == 0, f"jembatan {' '.join(map(str, args))}: {done.stderr}"
    return done


def first_line(stream, timeout: float) -> str:
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError(f"no line within {timeout} s")


@dataclass
class Node:
    node_id: str
    home: Path
    env: dict = field(default_factory=lambda: dict(os.environ, JEMBATAN_WORKERS="2"))
    url: str = ""
    tokens: dict = field(default_factory=dict)
    proc: Any = None
    http: requests.Session = field(default_factory=requests.Session)

    def cli(self, *args: Any, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        return run(self.env, *args, "--dir", self.home, check=check, timeout=timeout)

    def init(self, country: str = "ID", root: str | None = None) -> None:
        run(self.env, "init", "--dir", self.home, "--name", f"Node {self.node_id}",
            "--country", country, "--node-id", self.node_id,
            *(["--alliance-root", root] if root else []))
        for role in ("viewer", "editor", "admin"):
            self.tokens[role] = self.cli("token", "create", "--role", role).stdout.strip()

    def start(self, port: int = 0) -> None:
        self.proc = subprocess.Popen([*CLI, "serve", "--dir", str(self.home), "--port", str(port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, env=self.env)
        line = first_line(self.proc.stdout, 120)
        assert line.startswith(f"Serving {self.node_id} on http://127.0.0.1:"), line
        self.url = line.split(" on ", 1)[1].strip().rstrip("/")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def request(self, method: str, path: str, role: str | None = None, **kw) -> requests.Response:
        headers = dict(kw.pop("headers", None) or {})
        if role:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        return self.http.request(method, self.url + path, headers=headers, timeout=60,
                                 allow_redirects=False, **kw)

    def create(self, kind: str, body: dict, visibility: str = "public") -> dict:
        reply = self.request("POST", f"/api/v1/{kind}s", "editor",
                             json={"body": body, "visibility": visibility})
        assert reply.status_code == 201, reply.text
        return reply.json()

    def update(self, record: dict, **changes: Any) -> dict:
        kind, rid = record["kind"], record["rid"]
        current = self.request("GET", f"/api/v1/{kind}s/{rid}", "viewer")
        payload = {"body": changes.pop("body", current.json()["body"]), **changes}
        reply = self.request("PUT", f"/api/v1/{kind}s/{rid}", "editor", json=payload,
                             headers={"If-Match": current.headers["ETag"]})
        assert reply.status_code == 200, reply.text
        return reply.json()

    def delete(self, record: dict) -> None:
        reply = self.request("DELETE", f"/api/v1/{record['kind']}s/{record['rid']}", "editor")
        assert reply.status_code == 204, reply.text

    def holds(self, rid: str) -> dict | None:
        """The record as this node's own users see it (tombstones included), or None."""
        kind = rid.split(":")[3]
        reply = self.request("GET", f"/api/v1/{kind}s/{rid}", "viewer")
        if reply.status_code == 410:
            return {"deleted": True}
        return reply.json() if reply.status_code == 200 else None

    def sync(self, *args: Any, check: bool = True) -> subprocess.CompletedProcess:
        return self.cli("sync", "--once", "--quiet", *args, check=check)

    def peer(self, other: "Node | str") -> None:
        self.cli("peer", "add", other if isinstance(other, str) else other.url)

    def status(self) -> dict:
        return self.request("GET", "/api/v1/federation").json()

    def kill9(self) -> None:
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.proc = None


@dataclass
class Alliance:
    home: Path
    env: dict = field(default_factory=lambda: dict(os.environ))

    def init(self) -> str:
        out = run(self.env, "alliance", "init", "--dir", self.home, "--name", "Test alliance")
        return out.stdout.strip().splitlines()[-1]   # the root public key

    def admit(self, node: Node) -> None:
        card = node.home / "card.json"
        card.write_text(node.cli("key", "show", "--json").stdout)
        run(self.env, "alliance", "admit", "--dir", self.home, "--card", card,
            "--url", node.url or "http://127.0.0.1:9")

    def do(self, *args: Any) -> None:
        run(self.env, "alliance", *args[:1], "--dir", self.home, *args[1:])

    @property
    def registry(self) -> Path:
        return self.home / "registry.json"

    def install(self, *nodes: Node) -> None:
        for node in nodes:
            node.cli("registry", "import", self.registry)
