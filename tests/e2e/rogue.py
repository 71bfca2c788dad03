"""A hostile or broken peer for the end-to-end tests: a real HTTP server on 127.0.0.1 whose
answers each test writes (tampered records, garbage, 500, 429, a stall).

    with RoguePeer() as rogue:
        rogue.feed([text, ...])                 # one feed page of these lines, then the end
        rogue.answer("/sync/v1/changes", 500)   # or any status, headers, body, delay
        node.peer(rogue.url)

    signed_text(new_envelope("node-a", body), key, "node-a")   # a record as its origin signs it
    forge(env, key, "node-a")                   # signed as asked, whatever the key's window
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from jembatan.network.envelope import canonical_bytes, load_body, make_envelope, signing_bytes
from jembatan.network.hlc import format_hlc
from jembatan.network.ids import new_rid
from jembatan.network.keys import NodeKey, now_ms
from jembatan.network.signing import sign_envelope


@dataclass
class Answer:
    status: int = 200
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0         # seconds before anything is sent (a stalled peer)


class RoguePeer:
    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        self.requests: list[tuple[str, str]] = []
        self._release = threading.Event()
        rogue = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                rogue.requests.append(("GET", self.path))
                answer = rogue.answers.get(path, Answer(404, {"Content-Type":
                                                              "application/problem+json"},
                                                        b'{"status":404}'))
                if answer.delay and rogue._release.wait(answer.delay):
                    return
                try:
                    self.send_response(answer.status)
                    for k, v in answer.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "RoguePeer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str, status: int = 200, body: bytes | str = b"",
               headers: dict | None = None, delay: float = 0.0) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.answers[path] = Answer(status, headers or {}, data, delay)

    def feed(self, lines: list[str], cursor: str = "rogue-cursor-1") -> None:
        """One page holding ``lines``, and nothing after it."""
        self.answer("/sync/v1/changes", 200, "".join(line + "\n" for line in lines),
                    {"Content-Type": "application/x-ndjson", "Sync-Next": cursor,
                     "Sync-More": "?0", "Sync-Behind": "0"})

    def registry(self, text: bytes) -> None:
        self.answer("/sync/v1/registry", 200, text, {"Content-Type": "application/json"})

    def forget(self, path: str) -> None:
        """``path`` answers 404 again."""
        self.answers.pop(path, None)

    def sinces(self, path: str = "/sync/v1/changes") -> list[str | None]:
        """The ``since`` cursor of each request for ``path`` so far (None: from the start)."""
        out = []
        for _, target in self.requests:
            parts = urlsplit(target)
            if parts.path == path:
                out.append(parse_qs(parts.query).get("since", [None])[0])
        return out

    def wait_for(self, path: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(urlsplit(p).path == path for _, p in self.requests):
            if time.monotonic() > deadline:
                raise AssertionError(f"no request for {path}")
            time.sleep(0.01)


def forge(env: dict, key: NodeKey, signer: str, kid: str | None = None) -> str:
    """The canonical text of ``env`` signed with ``key`` in the name of ``signer`` (and
    ``kid``, default the key's own) — whatever the key's window or owner: a hostile signer
    checks nothing."""
    sig = {"signer": signer, "kid": kid or key.kid, "alg": "ed25519",
           "sig": key.sign(signing_bytes(env))}
    return canonical_bytes({**{k: v for k, v in env.items() if k != "sigs"},
                            "sigs": [sig]}).decode("utf-8")


def new_envelope(origin: str, body: dict, *, kind: str = "institution", hlc: str | None = None,
                 visibility: str = "public") -> dict:
    """A new, valid, unsigned envelope in ``origin``'s namespace (version 1, HLC now)."""
    return make_envelope(rid=new_rid(origin, kind), body=load_body(kind, body), version=1,
                         hlc=hlc or format_hlc(now_ms()), visibility=visibility)


def signed_text(env: dict, key: NodeKey, signer: str) -> str:
    """``env`` signed by the product's own signer (``sign_envelope``), as canonical text."""
    return canonical_bytes(sign_envelope(env, key, signer)).decode("utf-8")
