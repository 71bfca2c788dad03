"""Staff accounts of a node: who may sign in to its pages, with which role.

    DIR/auth.db  staff           (name, password hash, role, created)
                 staff_sessions  (SHA-256 of a session id, name, created, expires)

Passwords are kept as werkzeug scrypt hashes, never as given; a password is at least
``MIN_PASSWORD`` characters. Checking a name that does not exist costs the same as checking a
wrong password (a dummy hash is checked), so timing does not tell who has an account.

A signed-in browser holds a random session id in its signed cookie; the node keeps only its
hash, with an expiry. Signing out, or removing the account, ends the session on the node
itself: a copied cookie is worth nothing afterwards.

``Lockout`` counts failed sign-ins per name in the memory of one server process: after
``attempts`` failures within ``window`` seconds the name is refused for ``window`` seconds
(each gunicorn worker counts on its own, so a name gets at most attempts × workers tries).
"""
from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import threading
import time
import unicodedata
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from werkzeug.security import check_password_hash, generate_password_hash

from .node import ROLES, connect_auth_db

MIN_PASSWORD = 12
MAX_PASSWORD = 1024          # longer is refused before any hashing work
SESSION_SECONDS = 12 * 3600  # a sign-in lasts a working day at most
_NAME_RE = re.compile(r"^[\w.@+-]{1,64}$")


class StaffError(ValueError):
    """A staff account that cannot be made or found (a user error: the CLI says so)."""


@dataclass(frozen=True)
class StaffAccount:
    name: str
    role: str
    created: str


def normal_name(name: str) -> str:
    """A sign-in name as stored and compared: NFKC, trimmed, case-folded."""
    return unicodedata.normalize("NFKC", str(name)).strip().casefold()


_dummy: str | None = None
_dummy_lock = threading.Lock()


def _dummy_hash() -> str:
    """A hash of nobody's password, made with the same method as the real ones."""
    global _dummy
    with _dummy_lock:
        if _dummy is None:
            _dummy = generate_password_hash(secrets.token_urlsafe(16))
        return _dummy


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _sid_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode("utf-8")).hexdigest()


class StaffAccounts:
    """The ``staff`` and ``staff_sessions`` tables of a node's auth.db."""

    def __init__(self, home: Path | str):
        self._home = Path(home)

    def _connect(self) -> sqlite3.Connection:
        return connect_auth_db(
            self._home,
            "CREATE TABLE IF NOT EXISTS staff (name TEXT PRIMARY KEY, hash TEXT NOT NULL,"
            " role TEXT NOT NULL, created TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS staff_sessions (sid TEXT PRIMARY KEY,"
            " name TEXT NOT NULL, created TEXT NOT NULL, expires REAL NOT NULL)")

    # -- accounts --------------------------------------------------------------------------

    def add(self, name: str, password: str, role: str) -> StaffAccount:
        """A new account; the name must be free and the password long enough."""
        name = normal_name(name)
        if not _NAME_RE.match(name):
            raise StaffError(f"staff name {name!r}: 1 to 64 letters, digits or . _ @ + -")
        if role not in ROLES:
            raise StaffError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD:
            raise StaffError(f"the password must be at least {MIN_PASSWORD} characters")
        if len(password) > MAX_PASSWORD:
            raise StaffError(f"the password must be at most {MAX_PASSWORD} characters")
        account = StaffAccount(name, role, _now().isoformat(timespec="seconds"))
        try:
            with self._connect() as db:
                db.execute("INSERT INTO staff VALUES (?, ?, ?, ?)",
                           (name, generate_password_hash(password), role, account.created))
        except sqlite3.IntegrityError:
            raise StaffError(f"there is already a staff account {name!r}") from None
        return account

    def remove(self, name: str) -> None:
        """Remove the account and end its sessions."""
        name = normal_name(name)
        with self._connect() as db:
            gone = db.execute("DELETE FROM staff WHERE name = ?", (name,)).rowcount
            db.execute("DELETE FROM staff_sessions WHERE name = ?", (name,))
        if not gone:
            raise StaffError(f"there is no staff account {name!r}")

    def list(self) -> list[StaffAccount]:
        with self._connect() as db:
            rows = db.execute("SELECT name, role, created FROM staff ORDER BY name").fetchall()
        return [StaffAccount(*row) for row in rows]

    def get(self, name: str) -> StaffAccount | None:
        with self._connect() as db:
            row = db.execute("SELECT name, role, created FROM staff WHERE name = ?",
                             (normal_name(name),)).fetchone()
        return StaffAccount(*row) if row else None

    def verify(self, name: str, password: str) -> StaffAccount | None:
        """The account if ``password`` is its password; None otherwise, in the same time
        whether or not the name exists."""
        if not isinstance(password, str) or len(password) > MAX_PASSWORD:
            password = ""
        with self._connect() as db:
            row = db.execute("SELECT name, role, created, hash FROM staff WHERE name = ?",
                             (normal_name(name),)).fetchone()
        if row is None:
            check_password_hash(_dummy_hash(), password)
            return None
        if not password or not check_password_hash(row[3], password):
            return None
        return StaffAccount(*row[:3])

    # -- sessions --------------------------------------------------------------------------

    def open_session(self, name: str, seconds: int = SESSION_SECONDS) -> str:
        """A new session id for the account (the node keeps only its hash)."""
        sid = secrets.token_urlsafe(32)
        now = time.time()
        with self._connect() as db:
            db.execute("DELETE FROM staff_sessions WHERE expires < ?", (now,))
            db.execute("INSERT INTO staff_sessions VALUES (?, ?, ?, ?)",
                       (_sid_hash(sid), normal_name(name),
                        _now().isoformat(timespec="seconds"), now + seconds))
        return sid

    def session_account(self, sid: str) -> StaffAccount | None:
        """The account a live session id belongs to (its role as stored now), else None."""
        with self._connect() as db:
            row = db.execute(
                "SELECT staff.name, staff.role, staff.created FROM staff_sessions JOIN staff"
                " ON staff.name = staff_sessions.name WHERE sid = ? AND expires >= ?",
                (_sid_hash(sid), time.time())).fetchone()
        return StaffAccount(*row) if row else None

    def close_session(self, sid: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM staff_sessions WHERE sid = ?", (_sid_hash(sid),))


class Lockout:
    """Failed sign-ins per name, in this process: ``attempts`` within ``window`` seconds
    lock the name for ``window`` seconds."""

    def __init__(self, attempts: int = 5, window: float = 15 * 60,
                 clock: Callable[[], float] = time.monotonic, max_names: int = 10_000):
        self.attempts, self.window, self.clock = attempts, window, clock
        self._max = max_names
        self._failures: dict[str, deque[float]] = {}
        self._locked: dict[str, float] = {}
        self._lock = threading.Lock()

    def locked(self, name: str) -> bool:
        name = normal_name(name)
        with self._lock:
            until = self._locked.get(name)
            if until is None:
                return False
            if until > self.clock():
                return True
            del self._locked[name]
            return False

    def failed(self, name: str) -> None:
        name, now = normal_name(name), self.clock()
        with self._lock:
            if len(self._failures) >= self._max:
                # names that nobody tried for a while go first: memory stays bounded
                self._failures = {n: f for n, f in self._failures.items()
                                  if f and f[-1] > now - self.window}
                if len(self._failures) >= self._max:
                    self._failures.clear()
            recent = self._failures.setdefault(name, deque())
            recent.append(now)
            while recent and recent[0] <= now - self.window:
                recent.popleft()
            if len(recent) >= self.attempts:
                if len(self._locked) >= self._max:
                    self._locked = {n: t for n, t in self._locked.items() if t > now}
                self._locked[name] = now + self.window
                del self._failures[name]

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(normal_name(name), None)
