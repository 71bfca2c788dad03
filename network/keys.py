"""A node's ed25519 signing keys, their validity windows and their files.

    DIR/keys/<kid>.pem   a private key (PKCS#8 PEM), mode 0600, never deleted
    DIR/keys.json        [{kid, public, not_before, not_after, status}], oldest first

A key signs the records whose HLC millisecond falls in its window ``[not_before, not_after)``
(``not_after`` null: open). A rotation opens a new key's window at an instant and closes the
previous key's at the same instant, so exactly one key covers every moment and a receiver
knows which kid a record of any age must carry. The first key of a node covers everything
before it (``not_before`` = the epoch): a node's records cannot be older than its first key
in any sense that matters, and imports of historical records need a key to sign them.

Keys and signatures travel as base64url without padding: ``public`` is the 32 raw bytes,
a signature the 64 raw bytes.
"""
from __future__ import annotations

import base64
import binascii
import fcntl
import json
import os
import re
import secrets
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import nacl.exceptions
import nacl.signing
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import errors

KID_RE = re.compile(r"^k-\d{8}-[0-9a-f]{6}$")
#: kids in documents from other nodes: printable, no quotes or backslashes (they appear in
#: canonical text that is cut apart without a JSON parser)
KID_CHARS_RE = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z$")
EPOCH = "1970-01-01T00:00:00Z"
KEYS_DIR, KEYS_FILE = "keys", "keys.json"
ACTIVE, REVOKED = "active", "revoked"


class KeyFileError(errors.JembatanError):
    """A node's key files are missing or damaged, or a key change was refused."""


class NoSigningKey(KeyFileError):
    """No key of this node may sign at the moment asked for."""


# -- encodings ------------------------------------------------------------------------------

def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str, size: int) -> bytes:
    """Strict base64url without padding of exactly ``size`` bytes; ``ValueError`` otherwise.

    Only the one canonical spelling is accepted, so a signature or key has a single text.
    """
    if not isinstance(text, str) or len(text) != -(-size * 4 // 3) or "=" in text:
        raise ValueError(f"not {size} bytes of base64url without padding")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None
    if len(raw) != size or b64u(raw) != text:
        raise ValueError(f"not {size} bytes of canonical base64url")
    return raw


def parse_time(text: str) -> int:
    """RFC 3339 UTC (``2025-01-31T08:00:00Z``, optional milliseconds) → unix milliseconds."""
    if not isinstance(text, str) or not TIME_RE.match(text):
        raise ValueError("not an RFC 3339 UTC time like 2025-01-31T08:00:00Z")
    moment = datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc)
    return round(moment.timestamp() * 1000)


def format_time(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    if ms % 1000:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_user_time(text: str) -> int:
    """A time typed by a person: any ISO 8601 date or date-time; no offset means UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date-time, e.g. 2025-07-01T00:00:00Z")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return round(moment.timestamp() * 1000)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# -- keys -----------------------------------------------------------------------------------

class NodeKey:
    """A private signing key with its kid and, when known, its validity window (ms)."""

    __slots__ = ("_private", "kid", "public", "not_before_ms", "not_after_ms")

    def __init__(self, private: Ed25519PrivateKey, kid: str, *,
                 not_before_ms: int | None = None, not_after_ms: int | None = None):
        self._private = private
        self.kid = kid
        self.public = b64u(private.public_key().public_bytes_raw())
        self.not_before_ms, self.not_after_ms = not_before_ms, not_after_ms

    def sign(self, data: bytes) -> str:
        return b64u(self._private.sign(data))

    def covers(self, ms: int) -> bool:
        """Whether ``ms`` lies in the key's window (a key without a known window: always)."""
        if self.not_before_ms is not None and ms < self.not_before_ms:
            return False
        return self.not_after_ms is None or ms < self.not_after_ms

    def to_pem(self) -> bytes:
        return self._private.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption())

    @classmethod
    def from_pem(cls, pem: bytes, kid: str, **window: int | None) -> NodeKey:
        private = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError("not an ed25519 private key")
        return cls(private, kid, **window)

    def __repr__(self) -> str:
        return f"NodeKey(kid={self.kid!r}, public={self.public!r})"


def new_kid(when_ms: int | None = None) -> str:
    day = datetime.fromtimestamp((now_ms() if when_ms is None else when_ms) / 1000, tz=timezone.utc)
    return f"k-{day:%Y%m%d}-{secrets.token_hex(3)}"


def generate_key(kid: str | None = None) -> NodeKey:
    return NodeKey(Ed25519PrivateKey.generate(), kid or new_kid())


@lru_cache(maxsize=4096)
def load_public(public: str) -> Ed25519PublicKey:
    """The key object of a base64url public key (cached: a node checks a few keys often)."""
    return Ed25519PublicKey.from_public_bytes(b64u_decode(public, 32))


def check_public(public: str) -> str:
    """``public`` if it is a well-formed ed25519 public key, else ``ValueError``."""
    load_public(public)
    return public


@lru_cache(maxsize=4096)
def _verify_key(public: str) -> nacl.signing.VerifyKey:
    return nacl.signing.VerifyKey(b64u_decode(public, 32))


def verify_signature(public: str, sig: str, data: bytes) -> bool:
    """Whether ``sig`` is ``public``'s ed25519 signature of ``data``; malformed input: False.

    Verification goes through libsodium (PyNaCl): about twice the rate of ``cryptography``'s
    on these machines, and verifying is what bounds a sync."""
    try:
        _verify_key(public).verify(data, b64u_decode(sig, 64))
        return True
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError,
            TypeError):
        return False


# -- the node's key files -------------------------------------------------------------------

@dataclass(frozen=True)
class KeyInfo:
    """One entry of keys.json (public: it is the node's identity card)."""
    kid: str
    public: str
    not_before: str
    not_after: str | None
    status: str = ACTIVE

    @property
    def not_before_ms(self) -> int:
        return parse_time(self.not_before)

    @property
    def not_after_ms(self) -> int | None:
        return None if self.not_after is None else parse_time(self.not_after)

    def covers(self, ms: int) -> bool:
        after = self.not_after_ms
        return self.not_before_ms <= ms and (after is None or ms < after)


class KeyRing:
    """A node's own keys, loaded from its directory; picks the key for a moment."""

    def __init__(self, entries: list[tuple[KeyInfo, NodeKey]]):
        self._entries = tuple(entries)
        # newest first: the most recent active key whose window holds a moment signs it
        self._by_start = sorted(((i.not_before_ms, n) for i, n in entries
                                 if i.status == ACTIVE), key=lambda x: -x[0])
        self._by_kid = {i.kid: n for i, n in entries}

    @property
    def infos(self) -> tuple[KeyInfo, ...]:
        return tuple(i for i, _ in self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, kid: str) -> NodeKey | None:
        return self._by_kid.get(kid)

    def at(self, ms: int) -> NodeKey:
        for start, key in self._by_start:
            if start <= ms and key.covers(ms):
                return key
        raise NoSigningKey(f"no active key of this node is valid at {format_time(ms)}; "
                           "see `jembatan key show` (a new node gets its first key from "
                           "`jembatan init`, an older one from `jembatan key rotate`)")

    def current(self, now: int | None = None) -> NodeKey:
        return self.at(now_ms() if now is None else now)


def _keys_file(home: Path) -> Path:
    return Path(home) / KEYS_FILE


def file_stamp(path: Path) -> tuple[int, int, int] | None:
    """Changes whenever the file is replaced (a cheap test for "read it again"); None if absent."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


def keys_stamp(home: Path | str) -> tuple[int, int, int] | None:
    """Changes whenever keys.json is replaced (a cheap test for "reload the ring")."""
    return file_stamp(_keys_file(Path(home)))


def read_key_infos(home: Path | str) -> list[KeyInfo]:
    """keys.json, checked; [] when the node has no keys yet."""
    path = _keys_file(Path(home))
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except ValueError as exc:
        raise KeyFileError(f"{path} is not JSON: {exc}")
    try:
        infos = [KeyInfo(**item) for item in raw]
        for info in infos:
            if not KID_CHARS_RE.match(info.kid) or info.status not in (ACTIVE, REVOKED):
                raise ValueError(f"bad kid or status in {info}")
            check_public(info.public)
            info.covers(0)   # both times parse
    except (TypeError, ValueError) as exc:
        raise KeyFileError(f"{path} is malformed: {exc}")
    return infos


def load_keyring(home: Path | str) -> KeyRing:
    """Every key of the node with its private half (missing .pem: KeyFileError)."""
    home = Path(home)
    entries = []
    for info in read_key_infos(home):
        pem = home / KEYS_DIR / f"{info.kid}.pem"
        try:
            key = NodeKey.from_pem(pem.read_bytes(), info.kid, not_before_ms=info.not_before_ms,
                                   not_after_ms=info.not_after_ms)
        except (OSError, ValueError) as exc:
            raise KeyFileError(f"cannot read the private key {pem}: {exc}")
        if key.public != info.public:
            raise KeyFileError(f"{pem} does not hold the public key keys.json gives for {info.kid}")
        entries.append((info, key))
    return KeyRing(entries)


def current_key(home: Path | str, now: int | datetime | None = None) -> NodeKey:
    """The newest active key of the node whose window holds ``now`` (unix ms or an aware
    datetime; default: now)."""
    if isinstance(now, datetime):
        now = round(now.timestamp() * 1000)
    return load_keyring(home).current(now)


@contextmanager
def dir_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on a directory, for read-modify-write of the files in it (two key
    rotations must not both close the same window; two registry fetches must not install
    out of order). A lock on the directory itself leaves no lock file behind."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)   # closing releases the lock


def write_private(path: Path, data: bytes) -> None:
    """Write a secret atomically, readable by its owner only from the first byte on."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)   # whatever the umask did
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def add_key(home: Path | str, not_before_ms: int | None = None, *,
            now: int | None = None, first_only: bool = False) -> KeyInfo | None:
    """Make a new key: the node's first (window from the epoch unless ``not_before_ms``), or a
    rotation (window from ``not_before_ms``, default the next whole second; the open key's
    window closes there). A rotation may not start in the past: records already signed by
    the current key would fall outside its window. With ``first_only`` a node that has a
    key already is left alone (None).
    """
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    now = now_ms() if now is None else now
    with dir_lock(home):
        infos = read_key_infos(home)
        if infos and first_only:
            return None
        if not infos:
            start = 0 if not_before_ms is None else not_before_ms
        else:
            start = -(-now // 1000) * 1000 if not_before_ms is None else not_before_ms
            if start < now:
                raise KeyFileError(f"--not-before {format_time(start)} is in the past: records "
                                   "already signed by the current key would lose their key")
            latest = max(i.not_before_ms for i in infos)
            if start <= latest:
                raise KeyFileError(f"--not-before must be after {format_time(latest)}, where "
                                   "the newest key's window starts")
        if start < 0:
            raise KeyFileError("--not-before must not be before 1970")
        kid = new_kid(now)
        while any(i.kid == kid for i in infos):
            kid = new_kid(now)
        key = generate_key(kid)
        keydir = home / KEYS_DIR
        keydir.mkdir(mode=0o700, exist_ok=True)
        write_private(keydir / f"{kid}.pem", key.to_pem())
        stamp = format_time(start)
        closed = [KeyInfo(i.kid, i.public, i.not_before, stamp, i.status)
                  if i.not_after is None or i.not_after_ms > start else i for i in infos]
        info = KeyInfo(kid, key.public, stamp, None, ACTIVE)
        doc = [asdict(i) for i in (*closed, info)]
        write_atomic(_keys_file(home), (json.dumps(doc, indent=2) + "\n").encode("utf-8"))
        return info


def ensure_key(home: Path | str) -> KeyInfo | None:
    """Give a node that has no key its first one; the new key, or None if it had one."""
    return add_key(home, first_only=True)
