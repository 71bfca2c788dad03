"""One peer's HTTP client, and the pacing of tries against a peer that fails.

A peer is another organisation's server: it may be down, slow, hostile or simply wrong, so
every request has a connect timeout, a read timeout per socket read, a total deadline (a peer
trickling a byte every few seconds is cut) and a body limit checked before and while the body
streams in. Redirects are followed only within the peer's own origin. Nothing is retried
here: whoever pulls decides when to try again, with ``Backoff`` and ``CircuitBreaker``.

Errors::

    errors.JembatanError
    └── TransportError        the peer gave no usable answer (``url``, ``status``, ``body``)
        ├── Transient         try again later: connection refused or reset, DNS, timeouts, the
        │                     total deadline, 5xx, 408, 429, a truncated body; carries
        │                     ``retry_after`` (seconds, from Retry-After, ≤ 1 day) or None
        └── Permanent         trying again will not help: other 4xx, a redirect to another
            │                 host, an unexpected status, a body that cannot be decoded
            └── BodyTooLarge  the body is over ``max_body``

Every 2xx is returned as a ``Reply``; so is any status the caller lists in ``ok`` (a puller
that knows what a 410 means passes ``ok=(200, 410)``).
"""
from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from importlib import metadata
from typing import Any, Iterable
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import DecodeError, HTTPError, ReadTimeoutError

from jembatan.network import errors

#: Retry-After and every backoff floor are capped here: a peer cannot park us for longer
MAX_RETRY_AFTER = 86400.0
REDIRECTS = (301, 302, 303, 307, 308)
#: how much of an error answer is kept for the message (problem+json detail)
ERROR_SNIPPET = 4096
_CHUNK = 64 * 1024


def _version() -> str:
    try:
        return metadata.version("jembatan")
    except metadata.PackageNotFoundError:
        return "0"


USER_AGENT = f"jembatan/{_version()}"


class TransportError(errors.JembatanError):
    status, slug, title = 502, "peer-failed", "A peer node gave no usable answer"

    def __init__(self, detail: str, *, url: str | None = None, status: int | None = None,
                 body: bytes = b""):
        super().__init__(detail)
        self.url = url
        #: the peer's HTTP status when it answered one (the class attribute is ours: 502)
        self.peer_status = status
        self.body = body


class Transient(TransportError):
    def __init__(self, detail: str, *, retry_after: float | None = None, **kw: Any):
        super().__init__(detail, **kw)
        self.retry_after = retry_after


class Permanent(TransportError):
    pass


class BodyTooLarge(Permanent):
    pass


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds from ``now``: delta-seconds or an HTTP-date; None for garbage.

    Capped at one day; a date in the past is 0.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment is None or moment.tzinfo is None:   # RFC 9110 dates are GMT; "-0000" is not
        return None
    now = time.time() if now is None else now
    return min(max(moment.timestamp() - now, 0.0), MAX_RETRY_AFTER)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: CaseInsensitiveDict
    body: bytes
    url: str

    def json(self) -> Any:
        """The body as JSON; ``Permanent`` when the peer sent something else."""
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, ValueError):
            raise Permanent("the peer's answer is not JSON", url=self.url,
                            status=self.status) from None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def new_session() -> requests.Session:
    """A session that never retries below us: the caller paces retries per peer."""
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class PeerClient:
    """HTTP to one peer at ``base_url``; paths are joined to it (``/sync/v1/changes``).

    An injected ``session`` is used as it is (its adapters decide about retries; ours never
    retry). Close the client, or use it as a context manager, to release a session it made.
    """

    def __init__(self, base_url: str, *, auth: requests.auth.AuthBase | None = None,
                 session: requests.Session | None = None, connect_timeout: float = 5.0,
                 read_timeout: float = 30.0, total_timeout: float = 120.0,
                 max_body: int = 64 * 2**20, user_agent: str = USER_AGENT,
                 max_redirects: int = 3):
        parts = urlsplit(base_url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url {base_url!r} is not an http(s) URL")
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self._own_session = session is None
        self.session = new_session() if session is None else session
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.total_timeout = total_timeout
        self.max_body = max_body
        self.user_agent = user_agent
        self.max_redirects = max_redirects

    def __enter__(self) -> PeerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._own_session:
            self.session.close()

    def url(self, path: str) -> str:
        if "://" in path.split("?", 1)[0]:
            raise ValueError(f"path {path!r} must be relative to the peer's base URL")
        return self.base_url + "/" + path.lstrip("/")

    def get(self, path: str, params: dict | None = None, accept: str | None = None, *,
            ok: Iterable[int] = ()) -> Reply:
        headers = {"Accept": accept} if accept else {}
        return self._request("GET", self.url(path), params=params, data=None,
                             headers=headers, ok=frozenset(ok))

    def post_json(self, path: str, doc: object, *, ok: Iterable[int] = ()) -> Reply:
        data = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        return self._request("POST", self.url(path), params=None, data=data,
                             headers=headers, ok=frozenset(ok))

    # -- one request, its redirects and its body -----------------------------------------

    def _request(self, method: str, url: str, *, params: dict | None, data: bytes | None,
                 headers: dict[str, str], ok: frozenset[int]) -> Reply:
        deadline = time.monotonic() + self.total_timeout
        headers = {"User-Agent": self.user_agent, **headers}
        home = _origin(url)
        for _hop in range(self.max_redirects + 1):
            resp = self._send(method, url, params, data, headers, deadline)
            try:
                status, where = resp.status_code, resp.url
                location = resp.headers.get("Location")
                if status in REDIRECTS and location and status not in ok:
                    target = urljoin(where, location.strip())
                    if _origin(target) != home:
                        raise Permanent("redirect to another host", url=target, status=status)
                    if status in (307, 308) or method == "GET":
                        pass
                    elif status == 303:
                        # "see other" names a resource to GET; the body is not resent
                        method, data = "GET", None
                        headers = {k: v for k, v in headers.items() if k != "Content-Type"}
                    else:
                        # 301/302 would turn a POST into a GET in browsers; a silent change
                        # of method is never what a protocol call meant
                        raise Permanent(f"{method} redirected with {status}; only 307/308 "
                                        "keep the method", url=where, status=status)
                    url, params = target, None   # the Location carries its own query
                    continue
                if 200 <= status < 300 or status in ok:
                    body = self._read(resp, deadline, self.max_body, strict=True)
                    return Reply(status, CaseInsensitiveDict(resp.headers), body, where)
                raise self._refusal(method, resp, deadline)
            finally:
                resp.close()
        raise Permanent(f"more than {self.max_redirects} redirects", url=url)

    def _send(self, method: str, url: str, params: dict | None, data: bytes | None,
              headers: dict[str, str], deadline: float) -> requests.Response:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Transient(f"no answer within {self.total_timeout:g} s", url=url)
        timeout = (min(self.connect_timeout, left), min(self.read_timeout, left))
        try:
            return self.session.request(method, url, params=params, data=data,
                                        headers=headers, auth=self.auth, timeout=timeout,
                                        stream=True, allow_redirects=False)
        except requests.exceptions.ConnectTimeout as exc:
            raise Transient(f"connect timeout to {url}", url=url) from exc
        except requests.exceptions.ReadTimeout as exc:
            raise Transient(f"read timeout waiting for {url}", url=url) from exc
        except requests.exceptions.ConnectionError as exc:
            # refused, reset, DNS failure, TLS failure: the peer or the path to it may heal
            raise Transient(f"cannot reach {url}: {_reason(exc)}", url=url) from exc
        except requests.exceptions.RequestException as exc:
            raise Permanent(f"bad request to {url}: {_reason(exc)}", url=url) from exc

    def _read(self, resp: requests.Response, deadline: float, limit: int, *,
              strict: bool) -> bytes:
        """The body, decoded, at most ``limit`` bytes (``strict``: more is BodyTooLarge;
        otherwise cut), each socket read bounded by the read timeout and the deadline."""
        url = resp.url
        declared = resp.headers.get("Content-Length", "")
        if strict and declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge(f"the peer announces {declared} bytes, over {limit}",
                               url=url, status=resp.status_code)
        raw, parts, size = resp.raw, [], 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Transient(f"no complete answer within {self.total_timeout:g} s",
                                url=url, status=resp.status_code)
            _set_read_timeout(raw, min(self.read_timeout, left))
            try:
                data = raw.read1(_CHUNK, decode_content=True)
            except ReadTimeoutError as exc:
                if time.monotonic() >= deadline:
                    raise Transient(f"no complete answer within {self.total_timeout:g} s",
                                    url=url, status=resp.status_code) from exc
                raise Transient(f"read timeout in the body of {url}", url=url,
                                status=resp.status_code) from exc
            except DecodeError as exc:
                raise Permanent(f"the body of {url} cannot be decoded "
                                f"({resp.headers.get('Content-Encoding')})", url=url,
                                status=resp.status_code) from exc
            except (HTTPError, OSError) as exc:
                # ProtocolError (reset, IncompleteRead), SSLError: the stream broke
                raise Transient(f"the body of {url} was cut short: {_reason(exc)}", url=url,
                                status=resp.status_code) from exc
            if not data:
                return b"".join(parts)
            size += len(data)
            if size > limit:
                if strict:
                    raise BodyTooLarge(f"the peer's body is over {limit} bytes", url=url,
                                       status=resp.status_code)
                parts.append(data[:limit - size])
                return b"".join(parts)
            parts.append(data)

    def _refusal(self, method: str, resp: requests.Response,
                 deadline: float) -> TransportError:
        status, url = resp.status_code, resp.url
        try:
            body = self._read(resp, deadline, ERROR_SNIPPET, strict=False)
        except TransportError:
            body = b""
        what = f"{method} {url}: HTTP {status}{_problem_detail(body)}"
        if status in (408, 429) or status >= 500:
            return Transient(what, url=url, status=status, body=body,
                             retry_after=parse_retry_after(resp.headers.get("Retry-After")))
        return Permanent(what, url=url, status=status, body=body)


def _set_read_timeout(raw: Any, seconds: float) -> None:
    # The socket's timeout bounds each read; shortening it near the deadline makes the
    # deadline exact instead of "deadline + one read timeout".
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is None:
        # a response that closes its connection holds the socket itself (http.client)
        fp = getattr(getattr(raw, "_fp", None), "fp", None)
        sock = getattr(getattr(fp, "raw", None), "_sock", None)
    if sock is not None:
        try:
            sock.settimeout(max(seconds, 0.001))
        except OSError:
            pass


def _reason(exc: BaseException) -> str:
    # requests wraps urllib3 wraps the socket error; the innermost one says what happened
    inner: BaseException = exc
    seen = 0
    while seen < 6:
        nxt = inner.args[0] if inner.args and isinstance(inner.args[0], BaseException) else (
            getattr(inner, "reason", None) or inner.__cause__ or inner.__context__)
        if not isinstance(nxt, BaseException):
            break
        inner, seen = nxt, seen + 1
    text = str(inner) or type(inner).__name__
    return text[:200]


def _problem_detail(body: bytes) -> str:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return ""
    if isinstance(doc, dict):
        detail = doc.get("detail") or doc.get("title")
        if isinstance(detail, str) and detail:
            reason = doc.get("reason")
            return f" ({detail[:200]}" + (f"; {reason}" if isinstance(reason, str) else "") + ")"
    return ""


# -- pacing --------------------------------------------------------------------------------

class Backoff:
    """Full-jitter exponential backoff: uniform(0, min(cap, base·2^(failures−1)))."""

    def __init__(self, base: float = 1.0, cap: float = 300.0,
                 rng: random.Random | None = None):
        self.base, self.cap = base, cap
        self.rng = rng or random.Random()

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds to wait after ``failures`` consecutive failures; never less than the
        peer's ``retry_after`` (itself capped at a day)."""
        ceiling = 0.0 if failures <= 0 else min(self.cap,
                                                self.base * 2.0 ** min(failures - 1, 1000))
        wait = self.rng.uniform(0.0, ceiling)
        if retry_after is not None and math.isfinite(retry_after) and retry_after > 0:
            wait = max(wait, min(retry_after, MAX_RETRY_AFTER))
        return wait


CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(frozen=True)
class BreakerState:
    state: str = CLOSED
    failures: int = 0                # consecutive failures
    opened_at: float | None = None   # when it opened (or when the half-open trial began)
    cooldown: float = 0.0            # how long it stays open this time


class CircuitBreaker:
    """Stops trying a peer after ``threshold`` consecutive failures, for ``cooldown``
    seconds; then allows one trial: success closes, failure opens again for twice as long
    (at most ``max_cooldown``). Pure: every call takes a state and returns a new one, so the
    state can live in a database."""

    def __init__(self, threshold: int = 5, cooldown: float = 60.0,
                 max_cooldown: float = 3600.0):
        self.threshold, self.cooldown, self.max_cooldown = threshold, cooldown, max_cooldown

    @staticmethod
    def _elapsed(state: BreakerState, now: float) -> bool:
        return state.opened_at is None or now >= state.opened_at + state.cooldown

    def allow(self, state: BreakerState, now: float) -> bool:
        """Closed: yes. Open or half-open: only once the cooldown has passed (a half-open
        trial that never reported back is presumed lost after one more cooldown)."""
        return state.state == CLOSED or self._elapsed(state, now)

    def trial(self, state: BreakerState, now: float) -> BreakerState:
        """Claim the one trial after the cooldown (open → half_open), so that another
        process reading the same state does not try at the same time."""
        if state.state != CLOSED and self._elapsed(state, now):
            return replace(state, state=HALF_OPEN, opened_at=now)
        return state

    def record_success(self, state: BreakerState, now: float) -> BreakerState:
        return BreakerState()

    def record_failure(self, state: BreakerState, now: float) -> BreakerState:
        failures = state.failures + 1
        if state.state == CLOSED:
            if failures >= self.threshold:
                return BreakerState(OPEN, failures, now, self.cooldown)
            return replace(state, failures=failures)
        if state.state == OPEN and not self._elapsed(state, now):
            # a try made while open (not allowed): counted, but it does not extend the wait
            return replace(state, failures=failures)
        # the trial failed
        cooldown = min(self.max_cooldown, max(state.cooldown, self.cooldown / 2) * 2)
        return BreakerState(OPEN, failures, now, cooldown)
