"""Browser tests: Debian's Chromium, driven by Playwright, against a served demo node.

    site      (session) ``jembatan demo --scale 1 --port 0`` in its own process group on
              127.0.0.1, read through the JSON API (rids of each kind, search words, paths)
    browser   (session) Chromium from ``JEMBATAN_CHROMIUM`` or ``chromium`` on PATH; missing
              is a failure, never a skip
    page      a fresh context (1280×900) that records console errors, uncaught exceptions
              and failed or 4xx/5xx subresource requests; a test with any of them fails
    browse    ``open(path)`` (a 200 page, scripts run) and ``shot(locale, name)``: a full-page
              screenshot under ``<repo>/artifacts/browser/<locale>/<name>.png``
              (``JEMBATAN_ARTIFACTS`` replaces ``<repo>/artifacts``)
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import unquote

import pytest
import requests
from playwright.sync_api import Browser, ConsoleMessage, Error as PlaywrightError, Page, \
    Playwright, Request, Response, sync_playwright

REPO = Path(__file__).resolve().parents[2]
VIEWPORT = {"width": 1280, "height": 900}
CLI = [sys.executable, "-m", "jembatan.api.cli"]
STARTUP = 90        # seconds for the demo to be built and answer /healthz (it takes a few)
PLURALS = {"institution": "institutions", "technology": "technologies", "demand": "demands",
           "agreement": "agreements", "event": "events"}


# -- the served node ------------------------------------------------------------------------

@dataclass
class Site:
    """The demo node as the tests see it from outside: its URL and its JSON API."""
    url: str
    editor_token: str
    log: Path
    http: requests.Session = field(default_factory=requests.Session)

    def api(self, path: str, **params: Any) -> Any:
        reply = self.http.get(self.url + path, params=params, timeout=30)
        assert reply.status_code == 200, f"GET {path} {params}: {reply.status_code} {reply.text[:300]}"
        return reply.json()

    def records(self, kind: str) -> list[dict]:
        """Every public record of a kind (the demo at scale 1 holds a few hundred)."""
        return self.api(f"/api/v1/{PLURALS[kind]}", limit=500)["items"]

    def rid(self, kind: str) -> str:
        """A record of the kind to visit: the busiest institution; else the newest record
        titled in English too, like most of the demo's (the pages' fallbacks have their own
        test)."""
        if kind == "institution":
            return self.busiest_institution()
        items = self.api(f"/api/v1/{PLURALS[kind]}", limit=50)["items"]
        assert items, f"the demo holds no public {kind}"
        titled = [r for r in items if "en" in (r["body"].get("title") or r["body"].get("name") or {})]
        return (titled or items)[0]["rid"]

    def partnerships(self) -> dict[str, set[str]]:
        """Institution → the institutions it shares an agreement with."""
        partners: dict[str, set[str]] = {}
        for agreement in self.records("agreement"):
            parties = [p["institution"] for p in agreement["body"]["parties"]]
            for a in parties:
                partners.setdefault(a, set()).update(b for b in parties if b != a)
        return partners

    def busiest_institution(self) -> str:
        """The institution party to the most agreements: its page and graph have the most."""
        counts = Counter(p["institution"] for a in self.records("agreement")
                         for p in a["body"]["parties"])
        assert counts, "the demo holds no agreements"
        return min(counts, key=lambda rid: (-counts[rid], rid))

    def create(self, kind: str, body: dict) -> dict:
        reply = self.http.post(f"{self.url}/api/v1/{PLURALS[kind]}", timeout=30,
                               json={"visibility": "public", "body": body},
                               headers={"Authorization": f"Bearer {self.editor_token}"})
        assert reply.status_code == 201, reply.text
        return reply.json()

    def search_word(self, text: str, rid: str) -> str:
        """A word of ``text`` whose search puts ``rid`` among the catalogue's first page,
        the rarest such word (so the result list is short)."""
        best: tuple[int, str] | None = None
        for word in dict.fromkeys(w for w in re.split(r"[\s:;,.()（）「」·/-]+", text) if len(w) >= 3):
            found = self.api("/api/v1/search", q=word, limit=20)["items"]
            if any(r["rid"] == rid for r in found) and (best is None or len(found) < best[0]):
                best = (len(found), word)
        assert best, f"no word of {text!r} finds {rid} through /api/v1/search"
        return best[1]

    def tail(self, lines: int = 40) -> str:
        return "".join(deque(self.log.open(errors="replace"), lines)) if self.log.exists() else ""


def _await_line(proc: subprocess.Popen, out: Path, prefix: str, deadline: float) -> str:
    while time.monotonic() < deadline:
        for line in out.read_text(errors="replace").splitlines():
            if line.startswith(prefix):
                return line[len(prefix):].strip()
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"the demo node printed no {prefix!r} line (exit {proc.poll()}): "
                         f"{out.read_text(errors='replace')[-2000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """The whole process group: the demo command, gunicorn's arbiter and its workers."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    work = tmp_path_factory.mktemp("browser-node")
    out, log = work / "stdout.txt", work / "server.log"
    env = dict(os.environ, JEMBATAN_WORKERS="2", JEMBATAN_LOG_LEVEL="warning")
    env.pop("JEMBATAN_HOME", None)
    env.pop("JEMBATAN_STORE", None)       # the demo must be a fresh SQLite node of its own
    with out.open("wb") as stdout, log.open("wb") as stderr:
        proc = subprocess.Popen([*CLI, "demo", "--dir", str(work / "demo"), "--scale", "1",
                                 "--host", "127.0.0.1", "--port", "0"],
                                stdout=stdout, stderr=stderr, env=env, cwd=work,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + STARTUP
        token = _await_line(proc, out, "Editor token:", deadline)
        url = _await_line(proc, out, "Serving ", deadline).split(" on ", 1)[1].rstrip("/")
        site = Site(url=url, editor_token=token, log=log)
        while True:
            try:
                if site.http.get(url + "/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, \
                f"the demo node never answered /healthz: {site.tail()}"
            time.sleep(0.2)
        yield site
    finally:
        _stop(proc)


# -- the browser ----------------------------------------------------------------------------

def chromium_path() -> str:
    """Debian's Chromium (Playwright's own browser download is not used)."""
    exe = os.environ.get("JEMBATAN_CHROMIUM") or shutil.which("chromium")
    if not exe or not os.access(exe, os.X_OK):
        pytest.fail("Chromium is required for tests/browser and was not found: install "
                    "Debian's package (`make chromium`, i.e. apt-get install chromium) or set "
                    "JEMBATAN_CHROMIUM to the browser's executable"
                    + (f" ({exe!r} is not executable)" if exe else ""), pytrace=False)
    return exe


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    exe = chromium_path()
    try:
        # chromium_sandbox=False (the default) passes --no-sandbox, which root needs
        browser = playwright.chromium.launch(executable_path=exe)
    except PlaywrightError as exc:
        pytest.fail(f"Chromium at {exe} did not start under Playwright: {exc}", pytrace=False)
    yield browser
    browser.close()


def artifacts_dir() -> Path:
    return Path(os.environ.get("JEMBATAN_ARTIFACTS") or REPO / "artifacts") / "browser"


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """This run's screenshots only: the previous run's are removed first (not under xdist,
    where the workers share the folder)."""
    folder = artifacts_dir()
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# -- what a page may not do -----------------------------------------------------------------

_FAVICON = re.compile(r"^https?://[^/]+/favicon\.ico/?$")


class Problems(list):
    """What went wrong in the browser while a test ran, one line each."""

    def watch(self, page: Page) -> None:
        page.on("console", lambda message: self._console(page, message))
        page.on("pageerror", lambda exc: self.append(
            f"uncaught exception on {page.url}: {exc.message}\n{exc.stack or ''}".rstrip()))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _console(self, page: Page, message: ConsoleMessage) -> None:
        # Chromium asks every site for /favicon.ico once per browser, so its 404 would fail
        # whichever test happens to run first: test_the_site_has_an_icon checks it instead
        if message.type == "error" and not _FAVICON.match(message.location.get("url") or ""):
            where = message.location
            self.append(f"console error on {page.url}: {message.text} "
                        f"(at {where.get('url')}:{where.get('lineNumber')})")

    def _failed(self, request) -> None:
        # a download link (the flows CSV) aborts its navigation by design
        if request.is_navigation_request() and request.failure == "net::ERR_ABORTED":
            return
        self.append(f"request failed: {request.method} {request.url}: {request.failure}")

    def _response(self, response: Response) -> None:
        # a page's own status is checked by the test that opens it
        if response.status >= 400 and not response.request.is_navigation_request():
            self.append(f"HTTP {response.status} for {response.request.method} {response.url} "
                        f"({response.request.resource_type})")


@pytest.fixture
def page(browser: Browser, site: Site, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(base_url=site.url, viewport=VIEWPORT)
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems = Problems()
    problems.watch(page)
    request.node.browser_problems = problems
    yield page
    context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A test that used ``page`` fails when the browser saw an error, listing them all (and
    a test failing for another reason lists them too: they often say why)."""
    try:
        result = yield
    except BaseException as exc:
        if getattr(item, "browser_problems", None):
            exc.add_note(_listed(item.browser_problems))
        raise
    if getattr(item, "browser_problems", None):
        raise AssertionError(_listed(item.browser_problems))
    return result


def _listed(problems: list[str]) -> str:
    return f"{len(problems)} problem(s) in the browser:\n" + "\n".join(f"- {p}" for p in problems)


class Browse:
    """Opens the node's pages in one tab and keeps their screenshots."""

    def __init__(self, page: Page, folder: Path) -> None:
        self.page = page
        self.folder = folder
        self.in_flight: set[Request] = set()
        page.on("request", lambda r: self.in_flight.add(r))
        page.on("requestfinished", lambda r: self.in_flight.discard(r))
        page.on("requestfailed", lambda r: self.in_flight.discard(r))

    def open(self, path: str, status: int = 200, shot: tuple[str, str] | None = None) -> Response:
        """Open a page and wait for its scripts; ``shot`` (locale, name) keeps its screenshot,
        taken before the status is checked so that a failing page is seen too."""
        response = self.page.goto(path, wait_until="load")
        assert response is not None, f"no response for {path}"
        self.settle()
        if shot:
            self.shot(*shot)
        assert response.status == status, f"GET {path}: HTTP {response.status}, not {status}"
        return response

    def follow(self, action: Callable[[], Any], status: int = 200) -> Response:
        """Do what navigates (a click, Enter in a form) and wait for the new page."""
        with self.page.expect_navigation() as navigation:
            action()
        response = navigation.value
        assert response.status == status, f"{response.url}: HTTP {response.status}, not {status}"
        self.settle()
        return response

    def settle(self, quiet: float = 0.15, limit: float = 15) -> None:
        """Wait until the page's scripts fetched what they need (the explorer's graph): no
        request in flight for ``quiet`` seconds (Playwright's "networkidle" waits 0.5 s)."""
        deadline = time.monotonic() + limit
        idle_since = None
        while True:
            now = time.monotonic()
            if self.in_flight:
                idle_since = None
            elif idle_since is None:
                idle_since = now
            elif now - idle_since >= quiet:
                return
            assert now < deadline, \
                f"requests still running after {limit} s: {sorted(r.url for r in self.in_flight)}"
            self.page.wait_for_timeout(25)     # lets Playwright deliver the page's events

    def shot(self, locale: str, name: str) -> Path:
        path = self.folder / locale / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 0
        return path

    def links_to(self, rid: str, within: str = "body") -> list:
        """The links under ``within`` that lead to the record's page."""
        return [a for a in self.page.locator(f"{within} a[href]").all()
                if unquote(a.get_attribute("href") or "").split("?")[0].endswith("/records/" + rid)]

    def data(self, selector: str, name: str) -> str | None:
        return self.page.locator(selector).first.get_attribute(f"data-{name}")

    def chart(self, selector: str) -> dict:
        return json.loads(self.data(selector, "chart") or "{}")


@pytest.fixture
def browse(page: Page, screenshots: Path) -> Browse:
    return Browse(page, screenshots)
