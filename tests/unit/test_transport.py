"""PeerClient against a real HTTP server on 127.0.0.1; Backoff and CircuitBreaker."""
from __future__ import annotations

import gzip
import json
import random
import socket
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
import requests

from jembatan.sync.transport import (
    CLOSED, HALF_OPEN, OPEN, MAX_RETRY_AFTER, Backoff, BodyTooLarge, BreakerState,
    CircuitBreaker, PeerClient, Permanent, Transient, TransportError, new_session,
    parse_retry_after,
)

LIMIT = 64 * 1024          # the client's max_body in these tests
#: what a huge answer would send: far more than loopback socket buffers hold, so a peer
#: that still wrote all of it would prove the client read it all
HUGE = 256 * 2**20


class Peer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.release = threading.Event()       # set at teardown: stalled handlers return
        self.huge_done = threading.Event()     # a huge-body handler has stopped writing
        self.huge_written = 0
        self.requests: list[tuple[str, str, dict, bytes]] = []

    def handle_error(self, request: object, client_address: object) -> None:
        pass                                   # clients hanging up is what we test

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Peer

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, status: int, body: bytes = b"", headers: dict | None = None,
                ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.server.requests.append(("POST", self.path, dict(self.headers), body))
        if self.path == "/echo":
            self._answer(200, json.dumps({"got": json.loads(body),
                                          "ctype": self.headers["Content-Type"]}).encode())
        elif self.path == "/moved-307":
            self._answer(307, headers={"Location": "/echo"})
        elif self.path == "/moved-302":
            self._answer(302, headers={"Location": "/echo"})
        else:
            self._answer(404, b'{"title": "Not found", "detail": "no such thing"}',
                         ctype="application/problem+json")

    def do_GET(self) -> None:  # noqa: C901 - one route table
        self.server.requests.append(("GET", self.path, dict(self.headers), b""))
        path, _, query = self.path.partition("?")
        port = self.server.server_address[1]
        if path == "/ok":
            self._answer(200, json.dumps({"query": query,
                                          "accept": self.headers.get("Accept"),
                                          "ua": self.headers.get("User-Agent"),
                                          "auth": self.headers.get("X-Auth")}).encode())
        elif path == "/500":
            self._answer(500, b'{"title": "Internal error"}')
        elif path == "/503-long":
            self._answer(503, headers={"Retry-After": str(3 * 86400)})
        elif path == "/408":
            self._answer(408)
        elif path == "/404":
            self._answer(404, b'{"title": "Not found", "detail": "no such record"}',
                         ctype="application/problem+json")
        elif path == "/410":
            self._answer(410, b'{"reason": "epoch"}')
        elif path == "/429-seconds":
            self._answer(429, headers={"Retry-After": "7"})
        elif path == "/429-date":
            self._answer(429, headers={"Retry-After": parse_qs(query)["when"][0]})
        elif path == "/429-garbage":
            self._answer(429, headers={"Retry-After": "soon, maybe"})
        elif path == "/garbage":
            self._answer(200, b"\x00\xff<html>not json", ctype="application/json")
        elif path == "/huge-length":
            self._stream(b"x" * 4096, HUGE, length=True)
        elif path == "/huge-chunked":
            self._stream(b"x" * 4096, HUGE, chunked=True)
        elif path == "/huge-close":
            self._stream(b"x" * 4096, HUGE)
        elif path == "/gzip-bomb":
            body = gzip.compress(b"\0" * (LIMIT * 64))
            self._answer(200, body, headers={"Content-Encoding": "gzip"})
        elif path == "/gzip-ok":
            self._answer(200, gzip.compress(b'{"ok": true}' + b" " * 1000),
                         headers={"Content-Encoding": "gzip"})
        elif path == "/chunked-ok":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (b"line one\n", b"line two\n"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.close_connection = True
        elif path == "/stall":
            # headers never come: longer than the client's read timeout
            self.server.release.wait(10)
        elif path == "/stall-body":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            self.server.release.wait(10)
        elif path == "/trickle":
            # one byte every 0.2 s: each read is quick, the whole never ends in time
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(1000):
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:
                    return
                if self.server.release.wait(0.2):
                    return
        elif path.startswith("/hop/"):
            n = int(path.rsplit("/", 1)[1])
            target = "/ok?from=hop" if n == 0 else f"/hop/{n - 1}"
            self._answer(302, headers={"Location": target})
        elif path == "/absolute-same":
            self._answer(301, headers={"Location": f"http://127.0.0.1:{port}/ok"})
        elif path == "/to-localhost":
            self._answer(302, headers={"Location": f"http://localhost:{port}/ok"})
        elif path == "/to-other-ip":
            self._answer(308, headers={"Location": f"http://127.0.0.2:{port}/ok"})
        elif path == "/to-https":
            self._answer(302, headers={"Location": f"https://127.0.0.1:{port}/ok"})
        elif path == "/304":
            self._answer(304)
        else:
            self._answer(404)

    def _stream(self, piece: bytes, total: int, *, length: bool = False,
                chunked: bool = False) -> None:
        self.send_response(200)
        if length:
            self.send_header("Content-Length", str(total))
        elif chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        written = 0
        try:
            while written < total and not self.server.release.is_set():
                if chunked:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                else:
                    self.wfile.write(piece)
                written += len(piece)
        except OSError:
            pass
        finally:
            self.server.huge_written = written
            self.server.huge_done.set()


@pytest.fixture
def peer():
    server = Peer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def client(peer):
    with PeerClient(peer.base, connect_timeout=2, read_timeout=0.5, total_timeout=1.0,
                    max_body=LIMIT) as c:
        yield c


# -- answers -------------------------------------------------------------------------------

def test_200_returns_reply_with_params_accept_and_user_agent(client, peer):
    reply = client.get("/ok", params={"since": "abc", "limit": 5}, accept="application/x-ndjson")
    assert reply.status == 200
    assert reply.url == peer.base + "/ok?since=abc&limit=5"
    assert reply.headers["content-type"] == "application/json"    # case-insensitive
    doc = reply.json()
    assert doc["query"] == "since=abc&limit=5"
    assert doc["accept"] == "application/x-ndjson"
    assert doc["ua"].startswith("jembatan/")


def test_base_url_with_trailing_slash_and_relative_path(peer):
    with PeerClient(peer.base + "/", read_timeout=2) as c:
        assert c.get("ok").status == 200
        with pytest.raises(ValueError):
            c.get("http://elsewhere.example/ok")
    with pytest.raises(ValueError):
        PeerClient("ftp://127.0.0.1/")


def test_post_json_sends_utf8_json(client, peer):
    reply = client.post_json("/echo", {"rid": "urn:x", "名": 1})
    assert reply.json() == {"got": {"rid": "urn:x", "名": 1}, "ctype": "application/json"}


def test_5xx_is_transient(client):
    with pytest.raises(Transient) as info:
        client.get("/500")
    assert info.value.peer_status == 500
    assert info.value.retry_after is None
    assert "HTTP 500" in str(info.value)


def test_408_is_transient(client):
    with pytest.raises(Transient) as info:
        client.get("/408")
    assert info.value.peer_status == 408


def test_429_retry_after_seconds(client):
    with pytest.raises(Transient) as info:
        client.get("/429-seconds")
    assert info.value.peer_status == 429
    assert info.value.retry_after == 7.0


def test_429_retry_after_http_date(client):
    when = formatdate(time.time() + 3600, usegmt=True)
    with pytest.raises(Transient) as info:
        client.get("/429-date", params={"when": when})
    assert 3500 < info.value.retry_after <= 3600


def test_429_garbage_retry_after_is_ignored(client):
    with pytest.raises(Transient) as info:
        client.get("/429-garbage")
    assert info.value.retry_after is None


def test_retry_after_capped_at_a_day(client):
    with pytest.raises(Transient) as info:
        client.get("/503-long")
    assert info.value.retry_after == MAX_RETRY_AFTER


def test_parse_retry_after():
    now = 1_700_000_000.0
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after(" 120 ") == 120.0
    assert parse_retry_after("99999999") == MAX_RETRY_AFTER
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now=now) == 30.0
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now=now) == 0.0
    for bad in (None, "", "-5", "1.5", "soon", "Mon, 99 Foo 2020", "٣"):
        assert parse_retry_after(bad, now=now) is None


def test_other_4xx_is_permanent_with_the_peer_detail(client):
    with pytest.raises(Permanent) as info:
        client.get("/404")
    assert info.value.peer_status == 404
    assert "no such record" in str(info.value)
    assert b"no such record" in info.value.body


def test_expected_status_is_returned(client):
    reply = client.get("/410", ok=(200, 410))
    assert reply.status == 410 and reply.json() == {"reason": "epoch"}
    assert client.get("/404", ok=(404,)).status == 404


def test_unexpected_non_error_status_is_permanent(client):
    with pytest.raises(Permanent) as info:
        client.get("/304")
    assert info.value.peer_status == 304


def test_garbage_body_is_a_reply_whose_json_is_refused(client):
    reply = client.get("/garbage")
    assert reply.body.startswith(b"\x00\xff<html>")
    with pytest.raises(Permanent, match="not JSON"):
        reply.json()


def test_chunked_and_gzip_bodies_are_read(client):
    assert client.get("/chunked-ok").body == b"line one\nline two\n"
    assert client.get("/gzip-ok").json() == {"ok": True}


# -- sizes ---------------------------------------------------------------------------------

def test_huge_body_refused_up_front_by_content_length(client, peer):
    with pytest.raises(BodyTooLarge) as info:
        client.get("/huge-length")
    assert isinstance(info.value, Permanent)
    assert "announces" in str(info.value)
    assert peer.huge_done.wait(10)
    assert peer.huge_written < HUGE


@pytest.mark.parametrize("path", ["/huge-chunked", "/huge-close"])
def test_huge_body_without_length_cut_while_streaming(client, peer, path):
    with pytest.raises(BodyTooLarge, match="over"):
        client.get(path)
    # the client hung up long before the peer finished: the body was never read whole
    assert peer.huge_done.wait(10)
    assert peer.huge_written < HUGE


def test_decompressed_size_counts(client):
    with pytest.raises(BodyTooLarge):
        client.get("/gzip-bomb")


def test_truncated_body_is_transient(client):
    with pytest.raises(Transient, match="cut short"):
        client.get("/truncated")


# -- slow peers ----------------------------------------------------------------------------

def test_stalled_peer_hits_the_read_timeout(client):
    with pytest.raises(Transient, match="timeout"):
        client.get("/stall")


def test_peer_stalling_mid_body_is_transient(client):
    with pytest.raises(Transient):
        client.get("/stall-body")


def test_trickling_peer_is_cut_by_the_total_deadline(client):
    with pytest.raises(Transient, match="within 1 s"):
        client.get("/trickle")


def test_connection_refused_is_transient():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()                               # nobody listens there now
    with PeerClient(f"http://127.0.0.1:{port}", connect_timeout=1) as c:
        with pytest.raises(Transient, match="cannot reach"):
            c.get("/ok")


def test_unknown_host_is_transient():
    with PeerClient("http://no-such-host.invalid", connect_timeout=1) as c:
        with pytest.raises(Transient, match="cannot reach"):
            c.get("/ok")


# -- redirects -----------------------------------------------------------------------------

def test_same_host_redirects_followed_up_to_three(client, peer):
    reply = client.get("/hop/2")               # 3 redirects, relative Locations
    assert reply.status == 200 and reply.url == peer.base + "/ok?from=hop"
    assert client.get("/absolute-same").url == peer.base + "/ok"
    with pytest.raises(Permanent, match="more than 3 redirects"):
        client.get("/hop/3")


@pytest.mark.parametrize("path", ["/to-localhost", "/to-other-ip", "/to-https"])
def test_redirect_to_another_host_refused(client, peer, path):
    with pytest.raises(Permanent, match="redirect to another host"):
        client.get(path)
    assert all(p.startswith(path) for _m, p, _h, _b in peer.requests)


def test_post_follows_307_with_its_body_but_not_302(client, peer):
    reply = client.post_json("/moved-307", {"a": 1})
    assert reply.json()["got"] == {"a": 1}
    assert [p for m, p, _h, b in peer.requests] == ["/moved-307", "/echo"]
    assert peer.requests[1][3] == b'{"a":1}'
    with pytest.raises(Permanent, match="307/308"):
        client.post_json("/moved-302", {"a": 1})


def test_auth_applied_to_every_hop(peer):
    class Stamp(requests.auth.AuthBase):
        def __call__(self, r):
            r.headers["X-Auth"] = "signed " + r.path_url
            return r

    with PeerClient(peer.base, auth=Stamp(), read_timeout=2) as c:
        reply = c.get("/hop/0")
    assert reply.json()["auth"] == "signed /ok?from=hop"


def test_injected_session_is_used_and_left_open(peer):
    session = requests.Session()
    session.headers["X-Auth"] = "from-session"
    with PeerClient(peer.base, session=session, read_timeout=2) as c:
        assert c.get("/ok").json()["auth"] == "from-session"
    assert session.get(peer.base + "/ok", timeout=2).status_code == 200   # not closed
    session.close()


def test_own_session_never_retries():
    session = new_session()
    for prefix in ("http://", "https://"):
        assert session.get_adapter(prefix + "x").max_retries.total == 0


def test_errors_form_one_tree():
    assert issubclass(Transient, TransportError) and issubclass(Permanent, TransportError)
    assert issubclass(BodyTooLarge, Permanent)


# -- backoff -------------------------------------------------------------------------------

def test_backoff_full_jitter_bounds_and_cap():
    backoff = Backoff(base=1.0, cap=300.0, rng=random.Random(7))
    for failures in range(1, 30):
        ceiling = min(300.0, 2.0 ** (failures - 1))
        delays = [backoff.delay(failures) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        # full jitter: the spread covers most of [0, ceiling]
        assert min(delays) < ceiling * 0.1 and max(delays) > ceiling * 0.9
    assert backoff.delay(0) == 0.0
    assert backoff.delay(10_000) <= 300.0


def test_backoff_is_reproducible_with_a_seed():
    a = Backoff(rng=random.Random(42))
    b = Backoff(rng=random.Random(42))
    assert [a.delay(n) for n in range(1, 10)] == [b.delay(n) for n in range(1, 10)]


def test_backoff_never_less_than_retry_after():
    backoff = Backoff(base=1.0, cap=10.0, rng=random.Random(1))
    assert all(backoff.delay(3, retry_after=120) >= 120 for _ in range(50))
    assert backoff.delay(1, retry_after=10 * 86400) == MAX_RETRY_AFTER
    assert backoff.delay(1, retry_after=float("inf")) <= 1.0       # nonsense ignored
    assert backoff.delay(2, retry_after=0.0) <= 2.0


# -- circuit breaker -----------------------------------------------------------------------

def test_breaker_opens_after_threshold():
    br = CircuitBreaker(threshold=3, cooldown=60, max_cooldown=200)
    s = BreakerState()
    for i in range(2):
        s = br.record_failure(s, 100 + i)
        assert s.state == CLOSED and br.allow(s, 100 + i)
    s = br.record_failure(s, 102)
    assert s == BreakerState(OPEN, 3, 102, 60)
    assert not br.allow(s, 102) and not br.allow(s, 161.9)
    assert br.allow(s, 162)


def test_breaker_success_resets_failures():
    br = CircuitBreaker(threshold=3)
    s = br.record_failure(br.record_failure(BreakerState(), 1), 2)
    s = br.record_success(s, 3)
    assert s == BreakerState()
    s = br.record_failure(br.record_failure(s, 4), 5)
    assert s.state == CLOSED


def test_breaker_half_open_trial_and_doubling_cooldown():
    br = CircuitBreaker(threshold=1, cooldown=60, max_cooldown=200)
    s = br.record_failure(BreakerState(), 0)
    assert s.state == OPEN and s.cooldown == 60
    # a try while still open does not extend the wait
    s2 = br.record_failure(s, 30)
    assert (s2.opened_at, s2.cooldown, s2.failures) == (0, 60, 2)
    # after the cooldown: one trial claimed, others held back until it reports
    t = br.trial(s, 60)
    assert t.state == HALF_OPEN and not br.allow(t, 61)
    assert br.trial(t, 61) == t
    s = br.record_failure(t, 62)               # the trial failed: twice as long
    assert (s.state, s.opened_at, s.cooldown) == (OPEN, 62, 120)
    s = br.record_failure(s, 62 + 120)         # failed again (no trial claimed): capped
    assert s.cooldown == 200
    t = br.trial(s, 182 + 200)
    assert br.record_success(t, 383).state == CLOSED


def test_breaker_lost_trial_is_retried_after_another_cooldown():
    br = CircuitBreaker(threshold=1, cooldown=10)
    t = br.trial(br.record_failure(BreakerState(), 0), 10)
    assert not br.allow(t, 19) and br.allow(t, 20)
