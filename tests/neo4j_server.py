"""A real Neo4j 5.26 Community server for the tests, run from the jars in .cache/neo4j/lib.

``make neo4j`` assembles the classpath from Maven Central (tests/neo4j/pom.xml). A server
listens on 127.0.0.1 only, with authentication on and a password generated per start::

    server = Neo4jServer(tmp_dir).start()
    driver = neo4j.GraphDatabase.driver(server.uri, auth=(server.user, server.password))
    store_url = server.url          # neo4j://neo4j:<quoted password>@127.0.0.1:<port>
    server.stop()

The JVM never outlives the Python process that started it: the launcher stops the server when
its standard input closes (which the kernel does even if Python is killed), ``stop`` runs at
exit, and the JVM has its own process group so it can be killed as a whole.
"""
from __future__ import annotations

import atexit
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import weakref
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "neo4j"
LIB = CACHE / "lib"
LAUNCHER_JAR = LIB / "jembatan-neo4j-launcher.jar"
LAUNCHER_CLASS = "jembatan.neo4j.Launcher"

# Sized for a 2-core / 24 GiB machine that also runs the app and the tests; override per
# instance or with these environment variables (JVM size syntax: 512m, 2g).
DEFAULT_HEAP = os.environ.get("NEO4J_TEST_HEAP", "1g")
DEFAULT_PAGECACHE = os.environ.get("NEO4J_TEST_PAGECACHE", "1g")

# The JVM options of the Neo4j distribution's neo4j.conf that matter outside a container,
# minus -XX:+AlwaysPreTouch (it would touch the whole heap before the first query).
JVM_OPTIONS = (
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields",
    "-XX:+DisableExplicitGC",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Djdk.tls.ephemeralDHKeySize=2048",
    "-Djdk.tls.rejectClientInitiatedRenegotiation=true",
    "-Dlog4j2.disable.jmx=true",
    "-Dfile.encoding=UTF-8",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
)

_running: "weakref.WeakSet[Neo4jServer]" = weakref.WeakSet()


class Neo4jUnavailable(RuntimeError):
    """The server could not be built or started; the message says why."""


def java_executable() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if not java:
        raise Neo4jUnavailable("no `java` on PATH (Java 17 or newer is needed)")
    return java


def ensure_built() -> None:
    """Build the classpath with ``make neo4j`` unless it is already there."""
    if LAUNCHER_JAR.exists():
        return
    if not shutil.which("make"):
        raise Neo4jUnavailable(f"{LAUNCHER_JAR} is missing and `make` is not installed")
    done = subprocess.run(["make", "-s", "neo4j"], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0 or not LAUNCHER_JAR.exists():
        raise Neo4jUnavailable(f"`make neo4j` failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Neo4jServer:
    """One Neo4j server with its own home directory (created; must not hold an old database)."""

    user = "neo4j"

    def __init__(self, home: Path, *, heap: str = DEFAULT_HEAP, pagecache: str = DEFAULT_PAGECACHE,
                 extra_config: dict[str, str] | None = None, password: str | None = None) -> None:
        self.home = Path(home).resolve()
        self.heap = heap
        self.pagecache = pagecache
        self.extra_config = dict(extra_config or {})
        self.password = password or secrets.token_urlsafe(24)
        self.port = 0
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen | None = None

    # -- addresses -------------------------------------------------------------------------
    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The store URL: credentials in the userinfo, the password percent-encoded."""
        return f"neo4j://{quote(self.user, safe='')}:{quote(self.password, safe='')}@127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, timeout: float = 120.0, attempts: int = 3) -> "Neo4jServer":
        """Start the server and wait until Bolt accepts the generated password."""
        if self.running:
            return self
        ensure_built()
        java = java_executable()
        if (self.home / "data" / "databases").exists():
            raise Neo4jUnavailable(f"{self.home} already holds a database; use a fresh directory")
        began = time.monotonic()
        for attempt in range(1, attempts + 1):
            # A free port can be taken between the probe and the JVM's bind; then try another.
            self.port = free_port()
            shutil.rmtree(self.home / "data", ignore_errors=True)
            self._write_config()
            self._launch(java)
            try:
                self._wait_for_bolt(began + timeout)
            except Neo4jUnavailable as exc:
                self._kill()
                # Another process took the probed port between the probe and the JVM's bind.
                if attempt < attempts and "already in use" in str(exc).lower():
                    continue
                raise
            self.startup_seconds = time.monotonic() - began
            _running.add(self)
            return self
        raise AssertionError("unreachable")

    def stop(self, timeout: float = 30.0) -> None:
        """Stop gracefully (close the launcher's stdin, then SIGTERM), kill if it hangs."""
        proc = self._proc
        _running.discard(self)
        if proc is None:
            return
        if proc.poll() is None:
            try:
                proc.stdin.close()  # the launcher's cue for a clean shutdown
            except OSError:
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._kill()
        self._proc = None

    def __enter__(self) -> "Neo4jServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- internals -------------------------------------------------------------------------
    def config(self) -> dict[str, str]:
        listen = f"127.0.0.1:{self.port}"
        settings = {
            "server.default_listen_address": "127.0.0.1",
            "server.default_advertised_address": "127.0.0.1",
            "server.bolt.enabled": "true",
            "server.bolt.listen_address": listen,
            "server.bolt.advertised_address": listen,
            "server.bolt.tls_level": "DISABLED",
            # Only Bolt: no HTTP API, no HTTPS, no server-side routing port.
            "server.http.enabled": "false",
            "server.https.enabled": "false",
            "dbms.routing.enabled": "false",
            "dbms.security.auth_enabled": "true",
            # Tests that check refused logins share this server: a lockout after three misses
            # would refuse the right password too for a few seconds and make them flaky.
            "dbms.security.auth_max_failed_attempts": "0",
            # No usage reports or other calls home.
            "dbms.usage_report.enabled": "false",
            "initial.dbms.default_database": "neo4j",
            "server.memory.pagecache.size": self.pagecache,
            # Tests write little; do not reserve hundreds of MiB of transaction log per database.
            "db.tx_log.preallocate": "false",
            "db.tx_log.rotation.retention_policy": "1 files",
            # Stop in about a second instead of waiting out Netty's 5 s quiet period.
            "internal.dbms.bolt.netty_server_shutdown_quiet_period": "0",
        }
        settings.update(self.extra_config)
        return settings

    def _write_config(self) -> None:
        conf = self.home / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        lines = [f"{key}={value}" for key, value in self.config().items()]
        (conf / "neo4j.conf").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def _launch(self, java: str) -> None:
        logs = self.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        command = [java, f"-Xms{self.heap}", f"-Xmx{self.heap}", *JVM_OPTIONS,
                   "-cp", f"{LIB}{os.sep}*", LAUNCHER_CLASS, str(self.home), str(self.home / "conf")]
        with open(logs / "console.log", "ab") as console:
            self._proc = subprocess.Popen(
                command, cwd=self.home, stdin=subprocess.PIPE, stdout=console, stderr=subprocess.STDOUT,
                start_new_session=True)  # own process group: Ctrl-C goes to pytest, not the JVM
        # The password travels on stdin, never on the command line; the pipe then stays open
        # as the launcher's lifeline.
        self._proc.stdin.write(self.password.encode("utf-8") + b"\n")
        self._proc.stdin.flush()

    def _wait_for_bolt(self, deadline: float) -> None:
        import neo4j
        from neo4j.exceptions import AuthError

        while True:
            if self._proc.poll() is not None:
                raise Neo4jUnavailable(
                    f"Neo4j exited with code {self._proc.returncode} during startup:\n{self._log_tail()}")
            try:
                # Short timeouts: a socket that accepts but never answers (another program on a
                # port taken after the probe) must not stall the loop for the 60 s default.
                with neo4j.GraphDatabase.driver(self.uri, auth=(self.user, self.password),
                                                connection_timeout=2.0,
                                                connection_acquisition_timeout=3.0) as driver:
                    driver.verify_connectivity()
                return
            except AuthError as exc:
                raise Neo4jUnavailable(f"Neo4j refused the generated password: {exc}") from exc
            except Exception:  # not listening yet, or still starting its databases
                if time.monotonic() > deadline:
                    raise Neo4jUnavailable(f"Neo4j did not answer on {self.uri} in time:\n{self._log_tail()}")
                time.sleep(0.25)

    def _log_tail(self, lines: int = 30) -> str:
        parts = []
        for name in ("console.log", "neo4j.log"):
            path = self.home / "logs" / name
            if path.exists():
                text = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path}\n" + "\n".join(text))
        return "\n".join(parts) or "(no log output)"

    def _signal(self, sig: int) -> None:
        if self._proc is None:
            return
        try:
            os.killpg(self._proc.pid, sig)  # the JVM leads its own group (start_new_session)
        except ProcessLookupError:
            pass

    def _kill(self) -> None:
        if self._proc is None:
            return
        self._signal(signal.SIGKILL)
        self._proc.wait()
        self._proc = None


@atexit.register
def _stop_all() -> None:
    for server in list(_running):
        server.stop(timeout=20)
